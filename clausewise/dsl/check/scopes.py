"""Scopes and modules: the top-level names of a policy and of the modules it imports, duplicate
names, definitions with no parameters typed once, parameterised ones instantiated per argument
types (no recursion)."""

from __future__ import annotations

from typing import Any

from .. import ast as A
from .. import types as T
from ..ast import span_of
from ..diagnostics import PolicyError, Span, did_you_mean
from ..functions import FUNCTIONS
from ..treefiles import TreeFileError
from ..typed import Definition, Function
from ..types import Type
from .state import AGGREGATES, CheckerBase, Env, Scope


class ScopeChecks(CheckerBase):
    """Resolving and instantiating definitions."""

    def _scope_for(self, file: A.PolicyFile, path: str) -> Scope:
        if path in self._scopes:
            return self._scopes[path]
        defs: dict[str, A.Item] = {}
        for item in file.items:
            name = getattr(item, "name", None)
            if isinstance(item, A.Let | A.Rule | A.Decision | A.Table) and name is not None:
                defs.setdefault(name, item)
        scope = Scope(path, defs, {}, f"s{len(self._scopes)}")
        self._scopes[path] = scope
        for imp in file.imports:
            if self.load_module is None:
                self.error(
                    "import-unavailable",
                    "imports need the policy to be loaded from a file",
                    imp.span,
                )
                continue
            try:
                mod_path, mod = self.load_module(path, imp.path)
            except PolicyError as e:
                self.diags.extend(e.diagnostics)
                continue
            except TreeFileError as e:
                self.error(
                    e.code,
                    f"cannot read module `{imp.path}`: {e.strerror}",
                    imp.span,
                    "a policy imports only regular files inside its policies folder, "
                    "by paths relative to the importing file",
                )
                continue
            except (OSError, UnicodeDecodeError) as e:
                why = "it is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror
                self.error(
                    "import-not-found",
                    f"cannot read module `{imp.path}`: {why or e}",
                    imp.span,
                    "the path is relative to the importing file",
                )
                continue
            if mod.header.kind != "module":
                self.error(
                    "import-not-module",
                    f"`{imp.path}` is a policy, not a module",
                    imp.span,
                    'a shared file starts with `module "name"`',
                )
                continue
            if mod_path in self._in_progress:
                self.error(
                    "import-cycle", f"`{imp.path}` imports itself through other modules", imp.span
                )
                continue
            self._in_progress.append(mod_path)
            scope.modules[imp.alias] = self._scope_for(mod, mod_path)
            self._check_duplicates(mod)
            self._in_progress.pop()
        return scope

    def _check_duplicates(self, file: A.PolicyFile) -> None:
        seen: dict[str, A.Item] = {}
        for item in file.items:
            name = getattr(item, "name", None)
            if not isinstance(item, A.Let | A.Rule | A.Decision | A.Table) or name is None:
                continue
            if name in seen:
                first = seen[name]
                self.error(
                    "duplicate-definition",
                    f"`{name}` is defined twice",
                    item.span,
                    f"the first definition is at {span_of(first).location()}",
                )
            else:
                seen[name] = item
            if name in FUNCTIONS or name in AGGREGATES:
                self.error(
                    "shadows-builtin",
                    f"`{name}` is the name of a built-in function",
                    item.span,
                    "choose another name",
                )

    def _global(self, scope: Scope, name: str, item: A.Item) -> tuple[str, Type]:
        key = f"{scope.uid}.{name}" if scope.path != self.path else name
        if key in self._global_types:
            return key, self._global_types[key]
        if key in self._in_progress:
            cycle = " -> ".join([*self._in_progress[self._in_progress.index(key) :], key])
            self.error(
                "cyclic-definition",
                f"`{name}` depends on itself ({cycle})",
                span_of(item),
                "definitions cannot refer to themselves, directly or through others",
            )
            self._global_types[key] = T.ANY
            return key, T.ANY
        self._in_progress.append(key)
        self._deps_stack.append(set())
        saved, self._params = self._params, ()
        body = self._definition_body(item, Env(scope), name)
        self._params = saved
        deps = self._deps_stack.pop()
        self._in_progress.pop()
        self.definitions[key] = Definition(key, name, body, deps, span_of(item))
        self._global_types[key] = body.type
        return key, body.type

    def _declared(self, p: A.Param) -> Type:
        return self._type_ref(p.type) if p.type is not None else T.ANY

    def _type_ref(self, ref: A.TypeRef) -> Type:
        base: Type
        if ref.name == "list" and ref.arg is not None:
            base = T.list_of(self._type_ref(ref.arg))
        elif ref.name in T.SCALARS:
            base = T.SCALARS[ref.name]
        else:
            self.error(
                "unknown-type",
                f"unknown type `{ref.name}`",
                ref.span,
                did_you_mean(ref.name, [*T.SCALARS, "list"]),
            )
            base = T.ANY
        return T.opt(base) if ref.nullable else base

    def _instantiate(
        self,
        scope: Scope,
        name: str,
        item: Any,
        argtypes: list[Type],
        span: Span,
        arg_spans: list[Span] | None = None,
    ) -> tuple[str, Type]:
        params: tuple[A.Param, ...] = item.params or ()
        types_: list[Type] = []
        for i, (p, at) in enumerate(zip(params, argtypes, strict=True)):
            if p.type is not None:
                want = self._type_ref(p.type)
                if not T.assignable(at, want):
                    self.error(
                        "argument-type",
                        f"`{p.name}` of `{name}` takes {want}, not {at}",
                        arg_spans[i] if arg_spans else span,
                    )
                types_.append(want)
            else:
                types_.append(at)
        key = f"{scope.uid}.{name}(" + ", ".join(str(t) for t in types_) + ")"
        if key in self.functions:
            return key, self.functions[key].body.type
        if key in self._in_progress or any(
            k.startswith(f"{scope.uid}.{name}(") for k in self._in_progress
        ):
            self.error(
                "recursive-definition",
                f"`{name}` calls itself",
                span,
                "recursion is not allowed: evaluation must stay bounded by the input's size",
            )
            return key, T.ANY
        self._in_progress.append(key)
        self._deps_stack.append(set())
        env = Env(scope)
        pynames = []
        for p, t in zip(params, types_, strict=True):
            py = self.fresh(f"p_{p.name}")
            pynames.append(py)
            env = env.with_local(p.name, py, t)
        saved, self._params = self._params, tuple(p.name for p in params)
        self._call_sites.append(span)
        try:
            body = self._definition_body(item, env, name)
        finally:
            self._call_sites.pop()
        self._params = saved
        deps = self._deps_stack.pop()
        self._in_progress.pop()
        self.functions[key] = Function(key, name, tuple(pynames), body, deps)
        return key, body.type
