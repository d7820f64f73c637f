"""Name resolution and type checking: AST + schemas -> typed program, or diagnostics.

The checker is its own pass. It resolves every name, derives input types from the input JSON
Schema, checks every operation's types (money currencies and units kept apart), instantiates
parameterised definitions per argument types (no recursion: evaluation time stays bounded by the
input's size), turns tables into first-match decisions after checking them for gaps and overlaps,
and checks the output against the output schema.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import ast as A
from . import reasons
from . import types as T
from .ast import span_of
from .cost import CostClass, acknowledged_degree, cost_class
from .diagnostics import (
    ERROR,
    WARNING,
    Diagnostic,
    PolicyError,
    PolicySyntaxError,
    Span,
    did_you_mean,
)
from .fold import UNKNOWN, always
from .limits import CALENDAR_DAYS, CALENDAR_MONTHS, MAX_ROUND_PLACES, UNIT_SECONDS
from .parser import parse_expression_at
from .tables import check_table
from .treefiles import TreeFileError
from .typed import (
    Arith,
    Attr,
    BoolOp,
    Builtin,
    Call,
    Coalesce,
    Comp,
    Compare,
    Const,
    ConstDuration,
    ConstMoney,
    ConstMonths,
    Decision,
    Definition,
    Field,
    Function,
    Global,
    If,
    Index,
    InputRef,
    IsNull,
    ListLit,
    Local,
    Member,
    Neg,
    Node,
    Not,
    OutputRef,
    Pair,
    Program,
    RangeLit,
    Reasons,
    RecordLit,
    Requirement,
    Rule,
    RuleMeta,
    SiteMeta,
    Test,
    TInvariant,
    With,
)
from .types import Type

AGGREGATES = {
    "count",
    "sum",
    "min",
    "max",
    "any",
    "all",
    "first",
    "last",
    "distinct",
    "group",
    "running_sum",
    "unique",
    "pairs",
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# (importing file, path as written) -> (a key naming the module's file, however the path was
# spelled, so that a cycle is seen as one; its tree)
ModuleLoader = Callable[[str, str], tuple[str, A.PolicyFile]]


@dataclass
class Scope:
    """The top-level names of one file (a policy or a module)."""

    path: str
    defs: dict[str, A.Item]
    modules: dict[str, Scope]
    uid: str


@dataclass
class Env:
    """What is visible inside an expression: local variables, facts about nulls, the rule."""

    scope: Scope
    locals: dict[str, tuple[str, Type]] = field(default_factory=dict)  # name -> (py name, type)
    nonnull: frozenset[str] = frozenset()
    rid: int | None = None
    allow_output: bool = False

    def with_local(self, name: str, pyname: str, t: Type) -> Env:
        return Env(
            self.scope,
            {**self.locals, name: (pyname, t)},
            self.nonnull,
            self.rid,
            self.allow_output,
        )

    def with_facts(self, facts: frozenset[str]) -> Env:
        if not facts:
            return self
        return Env(self.scope, self.locals, self.nonnull | facts, self.rid, self.allow_output)

    def in_rule(self, rid: int) -> Env:
        return Env(self.scope, self.locals, self.nonnull, rid, self.allow_output)


# the units a duration literal takes (`3 hours`), and the words an author may try instead
_DURATION_UNITS = ("seconds", "minutes", "hours", "days", "weeks", "months", "years")
_DURATION_WORDS = {"second", "minute", "hour", "day", "week", "month", "year"}


def _duration_hint(unit: str, arg: A.Expr) -> str:
    """What to write instead of `hours(3)`: a duration literal, its unit after the number."""
    count = _text(arg) if isinstance(arg, A.Literal) and _text(arg).isdigit() else None
    units = "; units: " + ", ".join(_DURATION_UNITS)
    return f"write `{count or 3} {unit}s`, or `n * 1 {unit}` for a count `n`" + units


class Checker:
    """Checks one policy file (and the modules it imports)."""

    def __init__(
        self,
        file: A.PolicyFile,
        path: str,
        input_schema: dict[str, Any] | None,
        output_schema: dict[str, Any] | None,
        load_module: ModuleLoader | None = None,
    ):
        self.file = file
        self.path = path
        self.diags: list[Diagnostic] = []
        self.load_module = load_module
        self.input_schema = input_schema or {}
        self.output_schema = output_schema or {}
        self.input_type: Type = T.ANY
        self.output_type: Type = T.ANY
        self.definitions: dict[str, Definition] = {}
        self.functions: dict[str, Function] = {}
        self.rules: list[RuleMeta] = []
        self.sites: list[SiteMeta] = []
        self._global_types: dict[str, Type] = {}
        self._in_progress: list[str] = []
        # the calls being instantiated, innermost last: a problem that a call's argument types
        # cause in a module is reported at the call
        self._call_sites: list[Span] = []
        self._deps_stack: list[set[str]] = []
        self._counter = 0
        self._used: set[tuple[str, str]] = set()
        self._scopes: dict[str, Scope] = {}
        self._params: tuple[str, ...] = ()
        self._context = ""  # 'require' or 'invariant' while checking one

    # ---- diagnostics ----
    def error(self, code: str, msg: str, span: Span, help: str | None = None) -> None:
        self.diags.append(Diagnostic(code, ERROR, msg, span, help))

    def warn(self, code: str, msg: str, span: Span, help: str | None = None) -> None:
        self.diags.append(Diagnostic(code, WARNING, msg, span, help))

    def fresh(self, base: str) -> str:
        self._counter += 1
        return f"{base}_{self._counter}"

    # ---- entry ----
    def check(self) -> Program:
        hdr = self.file.header
        if hdr.kind != "policy":
            self.error(
                "not-a-policy",
                "a module cannot be evaluated on its own",
                hdr.span,
                'import it from a policy with `import "file.cw" as name`',
            )
        self._check_header(hdr)
        self.input_type = self._schema_type(self.input_schema, "input", hdr.span)
        self.output_type = self._schema_type(self.output_schema, "output", hdr.span)
        scope = self._scope_for(self.file, self.path)
        self._check_duplicates(self.file)

        requirements: list[Requirement] = []
        invariants: list[TInvariant] = []
        output: Node | None = None
        output_deps: set[str] = set()
        field_deps: dict[str, set[str]] = {}
        outputs = [i for i in self.file.items if isinstance(i, A.Output)]
        if hdr.kind == "policy" and not outputs:
            self.error(
                "missing-output",
                "the policy has no `output`",
                hdr.span,
                "add `output { field: expression, ... }` matching the output schema",
            )
        for extra in outputs[1:]:
            self.error("duplicate-output", "a policy has one `output`", extra.span)

        for item in self.file.items:
            if isinstance(item, A.Require):
                self._context = "require"
                requirements.append(self._check_require(item, scope))
                self._context = ""
            elif isinstance(item, A.Output) and item is outputs[0]:
                self._deps_stack.append(set())
                output = self.expr(item.body, Env(scope))
                self._check_output_shape(item.body, output, self.output_type, "output")
                output_deps = self._deps_stack.pop()
                field_deps = self._field_deps(item.body, scope)
        # definitions are checked even when nothing uses them, so their errors show
        for name, item in scope.defs.items():
            if isinstance(item, A.Let | A.Rule | A.Decision | A.Table):
                params = item.params
                if params:
                    if not any(k[0] == scope.uid and k[1] == name for k in self._used):
                        self.warn("unused-definition", f"`{name}` is never used", item.span)
                        self._instantiate(
                            scope, name, item, [self._declared(p) for p in params], item.span
                        )
                else:
                    self._global(scope, name, item)
                    if (scope.uid, name) not in self._used:
                        self.warn(
                            "unused-definition",
                            f"`{name}` is never used",
                            item.span,
                            "remove it, or use it in a rule or the output",
                        )
        for item in self.file.items:
            if isinstance(item, A.Invariant):
                self._context = "invariant"
                self._deps_stack.append(set())
                env = Env(scope, allow_output=True)
                body = self.expr(item.body, env)
                self._expect(body, T.BOOL, span_of(item.body), "an invariant")
                invariants.append(
                    TInvariant(
                        item.name,
                        item.description,
                        item.cites,
                        body,
                        item.span,
                        self._deps_stack.pop(),
                    )
                )
                self._context = ""
        if self.diags and any(d.severity == ERROR for d in self.diags):
            raise PolicyError(self.diags)
        program = Program(
            file=self.file,
            path=self.path,
            input_type=self.input_type,
            output_type=self.output_type,
            input_schema=self.input_schema,
            output_schema=self.output_schema,
            definitions=self.definitions,
            functions=self.functions,
            requirements=requirements,
            output=output,
            output_deps=output_deps,
            invariants=invariants,
            rules=self.rules,
            sites=self.sites,
            field_deps=field_deps,
        )
        if hdr.kind == "policy":
            program.cost = cost_class(program)
            self._check_cost(hdr, program.cost)
        return program

    def _check_cost(self, hdr: A.Header, cost: CostClass) -> None:
        """Warn about a cost above linear, unless the header acknowledges it (`cost "O(n^2)"
        "why"`); check the acknowledgement itself."""
        note = hdr.cost
        sizes = ", ".join(f"{k} = {v}" for k, v in cost.sizes.items())
        if note is not None:
            acknowledged = acknowledged_degree(note.cost_class)
            if acknowledged is None:
                self.warn(
                    "invalid-cost",
                    f"`{note.cost_class}` is not a cost class",
                    note.span,
                    'write it as `O(1)`, `O(n)`, `O(n*m)`, `O(n^2)`...: `cost "O(n^2)" "why"`',
                )
                return
            if not note.reason.strip():
                self.warn(
                    "invalid-cost",
                    "the cost acknowledgement gives no reason",
                    note.span,
                    "say why the policy needs this cost",
                )
            if cost.degree <= acknowledged:
                return
            self.warn(
                "superlinear-cost",
                f"the policy's cost is {cost.text} ({sizes}), more than the "
                f"{note.cost_class} its header acknowledges",
                cost.where or note.span,
                f'make it cheaper, or acknowledge it: `cost "{cost.text}" "why"`',
            )
            return
        if cost.degree >= 2:
            self.warn(
                "superlinear-cost",
                f"evaluation may take {cost.text} steps ({sizes}): more than linear in the "
                "input's size",
                cost.where or hdr.span,
                "avoid a pass over a list inside a pass over a list (count or group once, "
                f'then look up), or acknowledge it in the header: `cost "{cost.text}" "why"`',
            )

    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diags if d.severity == WARNING]

    def _check_header(self, hdr: A.Header) -> None:
        if hdr.kind != "policy":
            return
        if not hdr.version:
            self.error(
                "missing-version",
                "the policy header has no `version`",
                hdr.span,
                'add `version "1.0.0"` (a semantic version)',
            )
        elif not _is_semver(hdr.version):
            self.error(
                "invalid-version",
                f"`{hdr.version}` is not a semantic version",
                hdr.span,
                'write it as MAJOR.MINOR.PATCH, e.g. "1.2.0"',
            )
        for what, value in (("input", hdr.input_schema), ("output", hdr.output_schema)):
            if not value:
                self.error(
                    "missing-schema",
                    f"the policy header names no {what} schema",
                    hdr.span,
                    f'add `{what} schema "{what}.schema.json"`',
                )
        eff = hdr.effective
        if eff is not None:
            if eff.zone is not None:
                try:
                    from zoneinfo import ZoneInfo

                    ZoneInfo(eff.zone)
                except Exception:
                    self.error(
                        "unknown-time-zone",
                        f"unknown time zone `{eff.zone}`",
                        eff.span,
                        'use an IANA name such as "America/Los_Angeles"',
                    )
            for v in (eff.start, eff.until):
                if v is not None and not _on_calendar_in_utc(v, eff.zone):
                    self.error(
                        "literal-out-of-range",
                        f"the effective instant {v.isoformat()} falls outside years 1-9999 in UTC",
                        eff.span,
                    )
                else:
                    self._check_wall_clock(v, eff.zone, eff.span)
                if isinstance(v, dt.datetime) and v.tzinfo is None and eff.zone is None:
                    self.error(
                        "missing-time-zone",
                        "an effective instant without an offset needs a zone",
                        eff.span,
                        'add `in "Area/City"` or write the offset (`Z`, `-07:00`)',
                    )

    def _check_wall_clock(self, v: object, zone_name: str | None, span: Span) -> None:
        """A local time (an effective start or end, a constant `in_zone`) that a change of
        clocks makes non-existent or twofold is read by a documented rule, and said so, not
        shifted silently."""
        from ..engine.runtime import wall_clock_problem

        if zone_name is None or not isinstance(v, dt.date):
            return
        local = v if isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)
        if local.tzinfo is not None:
            return
        try:
            problem = wall_clock_problem(local, zone_name)
        except Exception:
            return  # an unknown zone is reported on its own
        if problem is None:
            return
        stamp = local.isoformat(timespec="minutes")
        if problem == "gap":
            message = f"{stamp} does not exist in {zone_name}: the clocks skip it"
            rule = (
                "it is read with the offset before the gap, i.e. as much later as the gap is long"
            )
        else:
            message = f"{stamp} occurs twice in {zone_name}: the clocks go back over it"
            rule = "it is read as the earlier of the two"
        self.warn(
            "ambiguous-local-time",
            message,
            span,
            f"{rule}; write the instant with its offset (`Z`, `-07:00`) to say which one",
        )

    def _schema_type(self, schema: dict[str, Any], what: str, span: Span) -> Type:
        if not schema:
            return T.ANY
        try:
            return T.schema_type(schema, absent_is_null=what == "input")
        except T.SchemaError as e:
            self.error("invalid-schema", f"the {what} schema cannot be used: {e}", span)
            return T.ANY

    # ---- scopes and modules ----
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
            if name in BUILTINS or name in AGGREGATES:
                self.error(
                    "shadows-builtin",
                    f"`{name}` is the name of a built-in function",
                    item.span,
                    "choose another name",
                )

    # ---- definitions ----
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

    def _definition_body(self, item: Any, env: Env, name: str) -> Node:
        if isinstance(item, A.Let):
            return self.expr(item.body, env)
        if isinstance(item, A.Rule):
            return self._rule_body(item, env, owner="")
        if isinstance(item, A.Decision):
            return self._decision_body(item, env)
        if isinstance(item, A.Table):
            return self._table_body(item, env)
        raise AssertionError(item)

    def _new_rule(
        self,
        name: str,
        reason: str,
        cites: tuple[str, ...],
        span: Span,
        owner: str,
        kind: str = "rule",
    ) -> int:
        rid = len(self.rules)
        self.rules.append(RuleMeta(rid, name, reason, cites, span, owner, kind, self._params))
        return rid

    def _rule_body(self, rule: A.Rule, env: Env, owner: str) -> Rule:
        rid = self._new_rule(rule.name, rule.reason, rule.cites, rule.span, owner)
        if not rule.cites:
            self.warn(
                "missing-citation",
                f"rule `{rule.name}` cites no clause",
                rule.span,
                "add `cites A7` naming the clause of the terms it implements",
            )
        renv = env.in_rule(rid)
        when = self._test_site(self.expr(rule.when, renv), rule.when, renv, True)
        self._expect(when, T.BOOL, span_of(rule.when), "a rule's condition")
        if always(when, self.definitions) is False:
            self.warn(
                "rule-never-fires",
                f"rule `{rule.name}` can never fire: its condition is always false",
                span_of(rule.when),
                None
                if _is_const_false(when)
                else "whatever the input, the constants in it make it `false`",
            )
        then = None
        if rule.then is not None and not owner:
            self.warn(
                "then-not-here",
                f"`then` only gives a value inside a decision; rule `{rule.name}` is a condition",
                span_of(rule.then),
                "a rule on its own is a condition: drop `then`, or put the rule in a decision",
            )
        if rule.then is not None:
            then = self.expr(rule.then, renv.with_facts(self.facts(rule.when, True, env)))
        if reasons.has_placeholders(rule.reason):
            # a reason is shown when its rule applies: its placeholders see what `when` proved
            penv = renv.with_facts(self.facts(rule.when, True, env))
            self.rules[rid].placeholders = self._placeholders(rule, penv)
        return Rule(rid, when, then, type=T.BOOL, span=rule.span)

    def _placeholders(self, rule: A.Rule, env: Env) -> tuple[Node, ...]:
        """The checked expressions of the `{...}` placeholders of a rule's reason."""
        place = reasons.raw_reason(rule.span)
        source = rule.span.source
        if place is None or source is None:
            return ()
        start, end = place
        try:
            _, places = reasons.split(source.text[start:end])
        except reasons.TemplateError as e:
            self.error(
                "bad-placeholder",
                str(e),
                _span_at(source, start + e.offset, start + e.offset + 1),
                "a placeholder is an expression between braces: `{count(orders)}`; "
                "`{{` and `}}` are literal braces",
            )
            return ()
        out: list[Node] = []
        for a, b in places:
            try:
                expr = parse_expression_at(source, start + a, start + b)
            except PolicySyntaxError as err:
                whole = _span_at(source, start + a - 1, start + b + 1)
                for d in err.diagnostics:
                    # an error past the placeholder's end (an unclosed `(`) is the placeholder's
                    inside = (d.span.line, d.span.col) <= (whole.end_line, whole.end_col)
                    self.error(
                        d.code,
                        f"in the placeholder `{whole.text()}`: "
                        + (d.message if inside else d.message.replace("of file", "of it")),
                        d.span if inside else whole,
                        d.help,
                    )
                continue
            out.append(self.expr(expr, env))
        return tuple(out)

    def _decision_body(self, d: A.Decision, env: Env) -> Node:
        cases: list[tuple[int, Node, Node]] = []
        result: Type | None = T.NEVER
        for r in d.rules:
            body = self._rule_body(r, env, owner=d.name)
            rid, when, then = body.rid, body.when, body.then
            if then is None:
                then = Const(r.name, type=T.enum((r.name,), closed=False), span=r.span)
            if r.priority is not None and d.strategy != "priority":
                self.error(
                    "priority-needs-strategy",
                    "`priority` only applies in a `priority` decision",
                    r.span,
                    f"declare the decision as `decision {d.name} priority`",
                )
            u = T.unify(result, then.type) if result is not None else None
            if u is None:
                self.error(
                    "type-mismatch",
                    f"rule `{r.name}` gives {then.type}, but earlier rules give {result}",
                    span_of(r.then) if r.then else span_of(r),
                )
                u = T.ANY
            result = u
            cases.append((rid, when, then))
        if d.strategy == "priority":
            order = sorted(range(len(d.rules)), key=lambda i: -(d.rules[i].priority or 0))
            cases = [cases[i] for i in order]
        default = None
        if d.default is not None:
            default = self.expr(d.default, env)
            u = T.unify(result or T.NEVER, default.type)
            if u is None:
                self.error(
                    "type-mismatch",
                    f"`else` gives {default.type}, but the rules give {result}",
                    span_of(d.default),
                )
                u = T.ANY
            result = u
        assert result is not None
        if d.strategy == "collect":
            rtype: Type = T.list_of(result)
        elif default is None:
            rtype = T.opt(result) if result != T.NEVER else T.NULL
        else:
            rtype = result
        strategy = "first" if d.strategy == "priority" else d.strategy
        self._check_shadowed(
            d, {self.rules[rid].name for rid, w, _ in cases if always(w, self.definitions)}
        )
        return Decision(strategy, tuple(cases), default, d.name, type=rtype, span=d.span)

    def _check_shadowed(self, d: A.Decision, always_true: set[str] | None = None) -> None:
        if d.strategy == "collect":
            return
        # the order the rules are tried in: by priority (ties as written) in a priority decision
        rules = list(d.rules)
        if d.strategy == "priority":
            rules.sort(key=lambda r: -(r.priority or 0))
        for i, r in enumerate(rules):
            for earlier in rules[:i]:
                if earlier.when == r.when:
                    self.warn(
                        "rule-shadowed",
                        f"rule `{r.name}` can never fire: `{earlier.name}` has the same condition and comes first",
                        r.span,
                    )
                    break
                if always_true and earlier.name in always_true:
                    self.warn(
                        "rule-shadowed",
                        f"rule `{r.name}` can never fire: `{earlier.name}` comes first and its condition is always true",
                        r.span,
                        f"remove `{r.name}`, or give `{earlier.name}` a condition that can be false",
                    )
                    break

    def _table_body(self, t: A.Table, env: Env) -> Node:
        params = t.params
        ptypes = [env.locals[p.name][1] if p.name in env.locals else T.ANY for p in params]
        problems = check_table(t, ptypes)
        call = self._call_sites[-1] if self._call_sites else None
        for code, sev, msg, span, hlp in problems:
            if (
                code == "table-gap"
                and call is not None
                and call.path != span.path
                and any(p.type is None for p in params)
            ):
                # the gap comes from the types this call gives the table's columns
                types = ", ".join(f"{p.name}: {pt}" for p, pt in zip(params, ptypes, strict=True))
                msg = f"{msg} when called with {types} (the table is at {span.location()})"
                span = call
            (self.error if sev == ERROR else self.warn)(code, msg, span, hlp)
        cases: list[tuple[int, Node, Node]] = []
        result: Type = T.NEVER
        default = None
        for n, row in enumerate(t.rows, 1):
            if row.cells is None:
                default = self.expr(row.result, env)
                result = T.unify(result, default.type) or T.ANY
                continue
            rid = self._new_rule(
                f"{t.name} row {n}",
                f"row {n} of table `{t.name}`",
                t.cites,
                row.span,
                t.name,
                "row",
            )
            renv = env.in_rule(rid)
            if len(row.cells) != len(params):
                self.error(
                    "table-arity",
                    f"row {n} has {len(row.cells)} cells for {len(params)} columns",
                    row.span,
                )
                continue
            tests = []
            for p, cell in zip(params, row.cells, strict=True):
                test = self._cell_test(p, cell, renv)
                if test is not None:
                    tests.append(test)
            cond = (
                BoolOp("and", tuple(tests), type=T.BOOL, span=row.span)
                if len(tests) > 1
                else tests[0]
                if tests
                else Const(True, type=T.BOOL, span=row.span)
            )
            value = self.expr(row.result, renv)
            u = T.unify(result, value.type)
            if u is None:
                self.error(
                    "type-mismatch",
                    f"row {n} gives {value.type}, earlier rows give {result}",
                    span_of(row.result),
                )
                u = T.ANY
            result = u
            cases.append((rid, cond, value))
        # a table that may have gaps gives null when no row matches
        covered = not any(c in ("table-gap", "table-not-analysable") for c, *_ in problems)
        rtype = result if (default is not None or covered) else T.opt(result)
        return Decision("first", tuple(cases), default, t.name, type=rtype, span=t.span)

    def _cell_test(self, p: A.Param, cell: A.Cell, env: Env) -> Node | None:
        col = A.Name(p.name, cell.span)
        if cell.kind == "any":
            return None
        expr: A.Expr
        if cell.kind == "cmp":
            expr = A.Binary(cell.op or "==", col, cell.values[0], cell.span)
        elif cell.kind == "range":
            expr = A.Binary(
                "in",
                col,
                A.RangeExpr(cell.values[0], cell.values[1], cell.half_open, cell.span),
                cell.span,
            )
        elif len(cell.values) == 1:
            expr = A.Binary("==", col, cell.values[0], cell.span)
        else:
            expr = A.Binary("in", col, A.ListLit(cell.values, cell.span), cell.span)
        return self.expr(expr, env)

    # ---- requires ----
    def _check_require(self, req: A.Require, scope: Scope) -> Requirement:
        self._deps_stack.append(set())
        env = Env(scope)
        fors = []
        paths: dict[str, tuple[Any, ...]] = {}
        for i, fc in enumerate(req.fors):
            src = self.expr(fc.source, env)
            base = self._input_path(fc.source, paths)
            # `for m in [c.from, c.to]`: fields of the input, each reported at its own path
            fields = (
                tuple(self._input_path(x, paths) for x in fc.source.items)
                if isinstance(fc.source, A.ListLit) and fc.source.items
                else ()
            )
            if None in fields:
                fields = ()
            if fields:
                base = ()
            if base is None:
                self.error(
                    "require-path",
                    "`for` in a `require` must walk a list of the input",
                    span_of(fc.source),
                    "write `for x in input.items`",
                )
                base = ()
            elem = T.strip(src.type)
            if not isinstance(elem, T.ListT):
                if src.type != T.ANY:
                    self.error(
                        "not-a-list",
                        f"`{_text(fc.source)}` is {src.type}, not a list",
                        span_of(fc.source),
                    )
                elem_t: Type = T.ANY
            else:
                elem_t = elem.elem
            py = self.fresh(f"r_{fc.var}")
            env = env.with_local(fc.var, py, elem_t)
            paths[fc.var] = (("alt", i, fields),) if fields else (*base, ("idx", i))
            where = None
            if fc.where is not None:
                where = self.expr(fc.where, env)
                self._expect(where, T.BOOL, span_of(fc.where), "a `where` filter")
                env = env.with_facts(self.facts(fc.where, True, env))
            fors.append((py, src, where, paths[fc.var]))
        cond = self.expr(req.cond, env)
        self._expect(cond, T.BOOL, span_of(req.cond), "a requirement")
        at = self._input_path(req.at, paths)
        if at is None:
            self.error(
                "require-path",
                "`at` must name a field of the input",
                span_of(req.at),
                "e.g. `at input.code_entered_at` or `at c.amount.currency`",
            )
            at = ()
        else:
            self.expr(req.at, env.with_facts(self.facts(req.cond, False, env)))
        deps = self._deps_stack.pop()
        return Requirement(req.code, tuple(fors), cond, at, req.message, req.span, deps)

    def _input_path(self, e: A.Expr, paths: dict[str, tuple[Any, ...]]) -> tuple[Any, ...] | None:
        if isinstance(e, A.InputRef):
            return ()
        if isinstance(e, A.Name) and e.id in paths:
            return paths[e.id]
        if isinstance(e, A.Field):
            base = self._input_path(e.obj, paths)
            return None if base is None else (*base, e.name)
        return None

    # ---- output ----
    def _check_output_shape(self, e: A.Expr, node: Node, want: Type, where: str) -> None:
        """Compare the output expression with the output schema, pointing at the right field."""
        if want == T.ANY:
            return
        inner = T.strip(want)
        if isinstance(e, A.RecordLit) and isinstance(inner, T.RecordT):
            have = dict(e.fields)
            names = [k for k, _ in inner.fields]
            for k, expr in e.fields:
                if k not in names:
                    self.error(
                        "unknown-output-field",
                        f"`{where}.{k}` is not in the output schema",
                        span_of(expr),
                        did_you_mean(k, names) or f"the schema has: {', '.join(names)}",
                    )
            for k, t in inner.fields:
                if k not in have:
                    self.error(
                        "missing-output-field",
                        f"`{where}.{k}` is required by the output schema",
                        e.span,
                        f"add `{k}: ...` ({t})",
                    )
            if isinstance(node, RecordLit):
                sub = dict(node.fields)
                for k, t in inner.fields:
                    if k in have and k in sub:
                        self._check_output_shape(have[k], sub[k], t, f"{where}.{k}")
            return
        if isinstance(e, A.ListComp) and isinstance(inner, T.ListT) and isinstance(node, Comp):
            self._check_output_shape(e.comp.elem, node.elem, inner.elem, f"{where}[]")
            return
        if isinstance(e, A.ListLit) and isinstance(inner, T.ListT) and isinstance(node, ListLit):
            for sub_e, sub_n in zip(e.items, node.items, strict=False):
                self._check_output_shape(sub_e, sub_n, inner.elem, f"{where}[]")
            return
        if isinstance(e, A.If) and isinstance(node, If):
            self._check_output_shape(e.then, node.then, want, where)
            self._check_output_shape(e.orelse, node.orelse, want, where)
            return
        node = self._as(node, want)
        if not T.assignable(node.type, want):
            self.error(
                "output-type",
                f"`{where}` is {node.type}, but the output schema wants {want}",
                span_of(e),
                "check for a missing `?? default` or a wrong field"
                if T.is_nullable(node.type)
                else None,
            )

    def _field_deps(self, body: A.Expr, scope: Scope) -> dict[str, set[str]]:
        """For `why not`: which definitions each top-level output field depends on."""
        out: dict[str, set[str]] = {}
        if isinstance(body, A.RecordLit):
            for k, e in body.fields:
                names = {n.id for n in A.walk(e) if isinstance(n, A.Name)}
                out[k] = {n for n in names if n in scope.defs}
        return out

    # ---- expressions ----
    def zone_literal(self, node: Node) -> bool:
        """Whether `node` is a string literal, which stands for a time zone wherever one is
        expected (a built-in's argument, a `zone` parameter, a `time-zone` output field); an
        unknown zone name is reported here."""
        if not isinstance(node, Const) or not isinstance(node.value, str):
            return False
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(node.value)
        except Exception:
            self.error(
                "unknown-time-zone",
                f'unknown time zone "{node.value}"',
                node.span,
                'use an IANA name such as "America/Los_Angeles"',
            )
        return True

    def _as(self, node: Node, want: Type) -> Node:
        """`node` where a value of `want` is expected: a zone name literal becomes a zone."""
        if T.strip(want) == T.ZONE and node.type != T.ZONE and self.zone_literal(node):
            assert isinstance(node, Const)  # zone_literal holds only for a string constant
            return Const(node.value, type=T.ZONE, span=node.span)
        return node

    def _expect(self, node: Node, want: Type, span: Span, what: str) -> None:
        if not T.assignable(node.type, want):
            hint = None
            if T.is_nullable(node.type):
                hint = (
                    "it may be null: test it with `is not null` first, or give a default with `??`"
                )
            self.error("type-mismatch", f"{what} must be {want}, not {node.type}", span, hint)

    def expr(self, e: A.Expr, env: Env) -> Node:
        method = getattr(self, "e_" + type(e).__name__)
        node: Node = method(e, env)
        return node

    def bad(self, e: A.Expr) -> Node:
        # a value nothing is known of: no warning is drawn from an expression already in error
        # (`input.typo == 3` is not "always false")
        return Const(UNKNOWN, type=T.ANY, span=span_of(e))

    def e_Literal(self, e: A.Literal, env: Env) -> Node:
        t = {
            "bool": T.BOOL,
            "int": T.INT,
            "decimal": T.DECIMAL,
            "percent": T.DECIMAL,
            "string": T.enum((str(e.value),), closed=False) if e.kind == "string" else T.STRING,
            "date": T.DATE,
            "datetime": T.DATETIME,
            "local_datetime": T.LOCAL_DATETIME,
            "null": T.NULL,
        }[e.kind]
        return Const(e.value, type=t, span=e.span)

    def e_MoneyLit(self, e: A.MoneyLit, env: Env) -> Node:
        return ConstMoney(e.amount, e.currency, type=T.MONEY, span=e.span)

    def e_DurationLit(self, e: A.DurationLit, env: Env) -> Node:
        if e.unit == "months":
            if e.count > CALENDAR_MONTHS:
                self.error(
                    "literal-out-of-range",
                    f"{e.count} months is longer than the calendar (years 1-9999) spans",
                    e.span,
                    f"a month count is at most {CALENDAR_MONTHS}",
                )
            return ConstMonths(e.count, type=T.MONTHS, span=e.span)
        if e.unit == "years":
            if 12 * e.count > CALENDAR_MONTHS:
                self.error(
                    "literal-out-of-range",
                    f"{e.count} years is longer than the calendar (years 1-9999) spans",
                    e.span,
                    f"a month count is at most {CALENDAR_MONTHS} ({CALENDAR_MONTHS // 12} years)",
                )
            return ConstMonths(12 * e.count, type=T.MONTHS, span=e.span)
        if e.count * UNIT_SECONDS[e.unit] > CALENDAR_DAYS * UNIT_SECONDS["days"]:
            self.error(
                "literal-out-of-range",
                f"{e.count} {e.unit} is longer than the calendar (years 1-9999) spans",
                e.span,
                f"a duration is at most {CALENDAR_DAYS} days",
            )
        return ConstDuration(e.count, e.unit, type=T.DURATION, span=e.span)

    def e_InputRef(self, e: A.InputRef, env: Env) -> Node:
        return InputRef(type=self.input_type, span=e.span)

    def e_OutputRef(self, e: A.OutputRef, env: Env) -> Node:
        if not env.allow_output:
            self.error("output-not-here", "`output` can only be read in an invariant", e.span)
            return self.bad(e)
        return OutputRef(type=self.output_type, span=e.span)

    def _narrow(self, t: Type, e: A.Expr, env: Env) -> Type:
        key = _path_key(e)
        if key is not None and key in env.nonnull:
            return T.strip(t)
        return t

    def e_Name(self, e: A.Name, env: Env) -> Node:
        if e.id in env.locals:
            py, t = env.locals[e.id]
            return Local(py, type=self._narrow(t, e, env), span=e.span)
        item = env.scope.defs.get(e.id)
        if item is not None:
            node = self._ref_def(env.scope, e.id, item, e)
            node.type = self._narrow(node.type, e, env)  # `d is not null and d.x` narrows d
            return node
        if e.id in env.scope.modules:
            self.error(
                "module-as-value",
                f"`{e.id}` is a module: name one of its definitions",
                e.span,
                f"e.g. `{e.id}.name`",
            )
            return self.bad(e)
        if e.id in BUILTINS or e.id in AGGREGATES:
            self.error("function-as-value", f"`{e.id}` is a function: call it", e.span)
            return self.bad(e)
        names = [*env.locals, *env.scope.defs]
        self.error(
            "unknown-name",
            f"unknown name `{e.id}`",
            e.span,
            did_you_mean(e.id, names)
            or (
                "the input is `input`: write `input." + e.id + "`"
                if isinstance(self.input_type, T.RecordT) and self.input_type.field(e.id)
                else None
            ),
        )
        return self.bad(e)

    def _ref_def(self, scope: Scope, name: str, item: A.Item, e: A.Expr) -> Node:
        self._used.add((scope.uid, name))
        params = getattr(item, "params", None)
        if params:
            self.error(
                "missing-arguments",
                f"`{name}` takes {len(params)} argument(s)",
                span_of(e),
                f"call it: `{name}(" + ", ".join(p.name for p in params) + ")`",
            )
            return self.bad(e)
        key, t = self._global(scope, name, item)
        if self._deps_stack:
            self._deps_stack[-1].add(key)
        return Global(key, type=t, span=span_of(e))

    def e_Field(self, e: A.Field, env: Env) -> Node:
        if (
            isinstance(e.obj, A.Name)
            and e.obj.id not in env.locals
            and e.obj.id in env.scope.modules
        ):
            mod = env.scope.modules[e.obj.id]
            item = mod.defs.get(e.name)
            if item is None:
                self.error(
                    "unknown-name",
                    f"module `{e.obj.id}` has no `{e.name}`",
                    e.span,
                    did_you_mean(e.name, mod.defs),
                )
                return self.bad(e)
            return self._ref_def(mod, e.name, item, e)
        obj = self.expr(e.obj, env)
        t = obj.type
        if t == T.ANY:
            return Field(obj, e.name, type=T.ANY, span=e.span)
        if T.is_nullable(t):
            self.error(
                "nullable-access",
                f"`{_text(e.obj)}` may be null, so `.{e.name}` needs a check first",
                e.span,
                f"guard it: `{_text(e.obj)} is not null and ...`, or use `??`",
            )
            return self.bad(e)
        if isinstance(t, T.RecordT):
            ft = t.field(e.name)
            if ft is None:
                names = [k for k, _ in t.fields]
                where = "the input schema" if _roots_at_input(e.obj, env) else "this record"
                self.error(
                    "unknown-field",
                    f"`{_text(e.obj)}` has no field `{e.name}` in {where}",
                    e.span,
                    did_you_mean(e.name, names) or f"its fields are: {', '.join(names)}",
                )
                return self.bad(e)
            return Field(obj, e.name, type=self._narrow(ft, e, env), span=e.span)
        if t == T.MONEY and e.name in ("amount", "currency"):
            return Attr(
                obj, e.name, type=T.DECIMAL if e.name == "amount" else T.STRING, span=e.span
            )
        if isinstance(t, T.RangeT) and e.name in ("start", "end"):
            return Attr(obj, e.name, type=t.elem, span=e.span)
        self.error(
            "no-such-field",
            f"{t} has no field `{e.name}`",
            e.span,
            "money has `.amount` and `.currency`; ranges have `.start` and `.end`",
        )
        return self.bad(e)

    def e_Index(self, e: A.Index, env: Env) -> Node:
        obj = self.expr(e.obj, env)
        idx = self.expr(e.index, env)
        t = T.strip(obj.type)
        if isinstance(t, T.ListT):
            self._expect(idx, T.INT, span_of(e.index), "a list index")
            return Index(obj, idx, type=T.opt(t.elem), span=e.span)
        if isinstance(t, T.MapT):
            self._expect(idx, T.STRING, span_of(e.index), "a map key")
            return Index(obj, idx, type=T.opt(t.value), span=e.span)
        if t != T.ANY:
            self.error("not-indexable", f"{obj.type} cannot be indexed", e.span)
        return self.bad(e)

    def e_ListLit(self, e: A.ListLit, env: Env) -> Node:
        items = tuple(self.expr(i, env) for i in e.items)
        t: Type = T.NEVER
        for i, n in zip(e.items, items, strict=True):
            u = T.unify(t, n.type)
            if u is None:
                self.error("type-mismatch", f"list items mix {t} and {n.type}", span_of(i))
                u = T.ANY
            t = u
        if all(isinstance(i, A.Literal) and i.kind == "string" for i in e.items) and e.items:
            t = T.enum(
                tuple(dict.fromkeys(str(getattr(i, "value", "")) for i in e.items)), closed=False
            )
        return ListLit(items, type=T.list_of(t), span=e.span)

    def e_RecordLit(self, e: A.RecordLit, env: Env) -> Node:
        seen = set()
        fields = []
        for k, v in e.fields:
            if k in seen:
                self.error("duplicate-field", f"field `{k}` is given twice", span_of(v))
            seen.add(k)
            fields.append((k, self.expr(v, env)))
        return RecordLit(
            tuple(fields), type=T.record([(k, n.type) for k, n in fields]), span=e.span
        )

    def e_Unary(self, e: A.Unary, env: Env) -> Node:
        x = self.expr(e.operand, env)
        if e.op == "not":
            self._expect(x, T.BOOL, span_of(e.operand), "the operand of `not`")
            return Not(self._test_site(x, e.operand, env, False), type=T.BOOL, span=e.span)
        if x.type in (T.INT, T.DECIMAL, T.MONEY, T.DURATION, T.ANY):
            if x.type == T.MONEY:
                self.error(
                    "negative-money",
                    "money cannot be negative",
                    e.span,
                    "subtract from another amount, and floor it with `max(..., money(0, cur))`",
                )
            return Neg(x, type=x.type, span=e.span)
        self.error("type-mismatch", f"`-` needs a number, not {x.type}", e.span)
        return self.bad(e)

    def e_If(self, e: A.If, env: Env) -> Node:
        c = self.expr(e.cond, env)
        self._expect(c, T.BOOL, span_of(e.cond), "the condition of `if`")
        t = self.expr(e.then, env.with_facts(self.facts(e.cond, True, env)))
        o = self.expr(e.orelse, env.with_facts(self.facts(e.cond, False, env)))
        u = T.unify(t.type, o.type)
        if u is None:
            self.error(
                "type-mismatch",
                f"`then` gives {t.type} but `else` gives {o.type}",
                e.span,
                "both branches must give the same type",
            )
            u = T.ANY
        if isinstance(c, Const) and isinstance(c.value, bool):
            # the branch taken, with the type of the whole `if` (`1` in `if ... else 0.5` is
            # a decimal)
            taken = t if c.value else o
            return taken if taken.type == u else dataclasses.replace(taken, type=u)
        return If(c, t, o, type=u, span=e.span)

    def e_IsNull(self, e: A.IsNull, env: Env) -> Node:
        x = self.expr(e.operand, env)
        if not T.is_nullable(x.type) and x.type != T.ANY:
            self.warn(
                "null-check-never-null", f"`{_text(e.operand)}` is never null ({x.type})", e.span
            )
        return IsNull(x, e.negated, type=T.BOOL, span=e.span)

    def e_With(self, e: A.With, env: Env) -> Node:
        bound: list[tuple[str, Node]] = []
        cur = env
        for name, value in e.bindings:
            node = self.expr(value, cur)
            py = self.fresh(f"w_{name}")
            bound.append((py, node))
            # a name bound again starts with nothing known about it
            stale = frozenset(k for k in cur.nonnull if k == name or k.startswith(name + "."))
            cur = Env(
                cur.scope,
                {**cur.locals, name: (py, node.type)},
                cur.nonnull - stale,
                cur.rid,
                cur.allow_output,
            )
        out = self.expr(e.body, cur)
        for py, node in reversed(bound):
            out = With(py, node, out, type=out.type, span=e.span)
        return out

    def e_BoolOp(self, e: A.BoolOp, env: Env) -> Node:
        if e.op == "implies":
            # `a implies b` is `not a or b`, narrowed alike (`x is not null implies x > 3`)
            a, b = e.operands
            left = self.expr(a, env)
            self._expect(left, T.BOOL, span_of(a), "each side of `implies`")
            then_env = env.with_facts(self.facts(a, True, env))
            right = self.expr(b, then_env)
            self._expect(right, T.BOOL, span_of(b), "each side of `implies`")
            not_left = Not(self._test_site(left, a, env, False), type=T.BOOL, span=span_of(a))
            return BoolOp(
                "or",
                (not_left, self._test_site(right, b, then_env, True)),
                type=T.BOOL,
                span=e.span,
            )
        ops = []
        cur = env
        for o in e.operands:
            n = self.expr(o, cur)
            self._expect(n, T.BOOL, span_of(o), f"each side of `{e.op}`")
            ops.append(self._test_site(n, o, cur, True))
            cur = cur.with_facts(self.facts(o, e.op == "and", cur))
        return BoolOp("and" if e.op == "and" else "or", tuple(ops), type=T.BOOL, span=e.span)

    def _test_site(self, node: Node, e: A.Expr, env: Env, wanted: bool) -> Node:
        """A boolean value read inside a rule's condition (`l.first_time`, a definition, a call)
        gets a site of its own, so the full trace shows it like a comparison."""
        if (
            env.rid is None
            or node.type != T.BOOL
            or not isinstance(node, Field | Local | Global | Call | Index)
        ):
            return node
        sid = self._site("cmp", e, env, "is", _text(e), "true" if wanted else "false")
        return Test(node, sid, wanted, type=T.BOOL, span=node.span)

    def facts(self, cond: A.Expr, truth: bool, env: Env) -> frozenset[str]:
        """Paths known non-null when `cond` evaluates to `truth`."""
        match cond:
            case A.IsNull(operand=x, negated=neg):
                key = _path_key(x)
                if key is not None and neg == truth:
                    return frozenset({key})
            case A.Unary(op="not", operand=x):
                return self.facts(x, not truth, env)
            case A.BoolOp(op="and", operands=ops) if truth:
                return frozenset().union(*(self.facts(o, True, env) for o in ops))
            case A.BoolOp(op="or", operands=ops) if not truth:
                return frozenset().union(*(self.facts(o, False, env) for o in ops))
            case A.BoolOp(op="implies", operands=(a, b)) if not truth:
                return self.facts(a, True, env) | self.facts(b, False, env)
            case A.Binary(op="==" | "!=" as op, left=left, right=right):
                # `x == null` is `x is null`, `x != null` is `x is not null`
                for side, other in ((left, right), (right, left)):
                    if _is_null_literal(other):
                        return self.facts(A.IsNull(side, op == "!="), truth, env)
                # `x == 3` holds only for a value; `x == y` also holds when both are null, and
                # `x != 3` when x is null
                if op == "==" and truth:
                    return frozenset(
                        key
                        for side, other in ((left, right), (right, left))
                        if (key := _path_key(side)) is not None and _is_value_literal(other)
                    )
            case A.Binary(op="<" | "<=" | ">" | ">=" | "in", left=left, right=right) if truth:
                # an ordering or a membership that holds had values on both sides
                return frozenset(k for k in (_path_key(left), _path_key(right)) if k is not None)
        return frozenset()

    def _site(
        self, kind: str, e: A.Expr, env: Env, op: str = "", left: str = "", right: str = ""
    ) -> int:
        sid = len(self.sites)
        self.sites.append(
            SiteMeta(sid, kind, _text(e), span_of(e), env.rid, op, left, right, self._context)
        )
        return sid

    def e_Binary(self, e: A.Binary, env: Env) -> Node:
        if e.op == "??":
            a = self.expr(e.left, env)
            b = self.expr(e.right, env)
            if not T.is_nullable(a.type) and a.type != T.ANY:
                self.warn(
                    "null-check-never-null",
                    f"`{_text(e.left)}` is never null, so `??` never applies",
                    e.span,
                )
            # `null ?? b` is b: the left side contributes no type (strip(null) is still null)
            u = T.unify(T.NEVER if a.type == T.NULL else T.strip(a.type), b.type)
            if u is None:
                self.error("type-mismatch", f"`??` mixes {a.type} and {b.type}", e.span)
                u = T.ANY
            return Coalesce(a, b, type=u, span=e.span)
        if e.op in ("in", "not in"):
            return self._membership(e, env)
        a = self.expr(e.left, env)
        b = self.expr(e.right, env)
        if a.type == T.ANY or b.type == T.ANY:
            if e.op in ("==", "!=", "<", "<=", ">", ">="):
                return Compare(
                    e.op,
                    a,
                    b,
                    self._site("cmp", e, env, e.op, _text(e.left), _text(e.right)),
                    type=T.BOOL,
                    span=e.span,
                )
            return Arith(e.op, a, b, "any", type=T.ANY, span=e.span)
        for side, node in ((e.left, a), (e.right, b)):
            if T.is_nullable(node.type) and e.op not in ("==", "!="):
                self.error(
                    "nullable-operand",
                    f"`{_text(side)}` may be null ({node.type})",
                    span_of(side),
                    "test it with `is not null` first, or give a default with `??`",
                )
                return self.bad(e)
        if e.op in ("==", "!=", "<", "<=", ">", ">="):
            return self._compare(e, a, b, env)
        return self._arith(e, a, b)

    def _compare(self, e: A.Binary, a: Node, b: Node, env: Env) -> Node:
        ta, tb = T.strip(a.type), T.strip(b.type)
        ok = T.unify(ta, tb) is not None or T.NULL in (ta, tb)
        if ta in (T.DURATION, T.MONTHS) or tb in (T.DURATION, T.MONTHS):
            ok = ta == tb
        if not ok:
            hint = None
            if {ta, tb} == {T.DATE, T.DATETIME}:
                hint = 'turn the datetime into a date in a zone with `local_date(x, "Area/City")`'
            elif T.MONEY in (ta, tb):
                hint = "compare money with money (`400 USD`), or use `.amount`"
            self.error("type-mismatch", f"cannot compare {a.type} with {b.type}", e.span, hint)
            return self.bad(e)
        if e.op not in ("==", "!=") and not T.is_orderable(ta):
            self.error("type-mismatch", f"`{e.op}` does not order {a.type}", e.span)
            return self.bad(e)
        for lit, other in ((e.right, ta), (e.left, tb)):
            if (
                isinstance(lit, A.Literal)
                and lit.kind == "string"
                and isinstance(other, T.EnumT)
                and other.closed
            ) and lit.value not in other.values:
                self.error(
                    "unknown-enum-value",
                    f'"{lit.value}" is not one of {", ".join(other.values)}',
                    lit.span,
                    did_you_mean(str(lit.value), other.values),
                )
        if isinstance(a, ConstMoney) and isinstance(b, ConstMoney) and a.currency != b.currency:
            self.error(
                "currency-mismatch",
                f"cannot mix {a.currency} and {b.currency}",
                e.span,
                "amounts in different currencies cannot be compared: convert explicitly",
            )
        sid = self._site("cmp", e, env, e.op, _text(e.left), _text(e.right))
        return Compare(e.op, a, b, sid, type=T.BOOL, span=e.span)

    def _membership(self, e: A.Binary, env: Env) -> Node:
        a = self.expr(e.left, env)
        b = self.expr(e.right, env)
        negated = e.op == "not in"
        tb = b.type
        if T.is_nullable(a.type) and a.type != T.ANY:
            self.error(
                "nullable-operand",
                f"`{_text(e.left)}` may be null ({a.type})",
                span_of(e.left),
                "test it with `is not null` first",
            )
            return self.bad(e)
        sid = self._site("cmp", e, env, e.op, _text(e.left), _text(e.right))
        if isinstance(tb, T.ListT):
            if T.unify(a.type, tb.elem) is None and tb.elem != T.NEVER:
                self.error("type-mismatch", f"cannot look for {a.type} in {tb}", e.span)
                return self.bad(e)
            if isinstance(a.type, T.EnumT) and a.type.closed and isinstance(e.right, A.ListLit):
                for item in e.right.items:
                    if (
                        isinstance(item, A.Literal)
                        and item.kind == "string"
                        and item.value not in a.type.values
                    ):
                        self.error(
                            "unknown-enum-value",
                            f'"{item.value}" is not one of {", ".join(a.type.values)}',
                            item.span,
                            did_you_mean(str(item.value), a.type.values),
                        )
            return Member(a, b, negated, "list", sid, type=T.BOOL, span=e.span)
        if isinstance(tb, T.RangeT):
            if T.unify(a.type, tb.elem) is None and a.type != T.ANY:
                hint = None
                if {a.type, tb.elem} == {T.DATE, T.DATETIME}:
                    hint = "convert one side: `local_date(x, zone)` or `start_of_day(d, zone)`"
                self.error("type-mismatch", f"cannot look for {a.type} in {tb}", e.span, hint)
                return self.bad(e)
            return Member(a, b, negated, "range", sid, type=T.BOOL, span=e.span)
        if isinstance(tb, T.MapT):
            return Member(a, b, negated, "list", sid, type=T.BOOL, span=e.span)
        if tb != T.ANY:
            self.error(
                "type-mismatch",
                f"`in` needs a list or a range on its right, not {tb}",
                span_of(e.right),
            )
            return self.bad(e)
        return Member(a, b, negated, "list", sid, type=T.BOOL, span=e.span)

    def _arith(self, e: A.Binary, a: Node, b: Node) -> Node:
        ta, tb, op = a.type, b.type, e.op
        rt: Type | None = None
        mode = "num"
        if T.is_numeric(ta) and T.is_numeric(tb):
            rt = T.INT if (ta == tb == T.INT and op != "/") else T.DECIMAL
            mode = "int" if rt == T.INT else "dec"
            if op == "/":
                mode = "div"
        elif ta == tb == T.MONEY and op in "+-":
            rt, mode = T.MONEY, "money"
        elif ta == tb == T.MONEY and op == "/":
            rt, mode = T.DECIMAL, "money_ratio"
        elif (ta == T.MONEY and T.is_numeric(tb) and op in "*/") or (
            tb == T.MONEY and T.is_numeric(ta) and op == "*"
        ):
            rt, mode = T.MONEY, "money_scale"
        elif ta in (T.DATE, T.DATETIME) and tb == T.DURATION and op in "+-":
            rt, mode = ta, "time"
            if ta == T.DATE and not _whole_days(b):
                self.error(
                    "unit-mismatch",
                    "only whole days can be added to a date",
                    span_of(e.right),
                    "use days, or convert the date to a datetime with `start_of_day(d, zone)`",
                )
        elif ta == tb == T.DATETIME and op == "-":
            # the time from one instant to another
            rt, mode = T.DURATION, "elapsed"
        elif ta == T.DATE and tb == T.MONTHS and op in "+-":
            rt, mode = T.DATE, "months"
        elif ta == T.DATETIME and tb == T.MONTHS:
            self.error(
                "unit-mismatch",
                "months can only be added to dates",
                e.span,
                "take the local date first: `local_date(x, zone) + 1 month`",
            )
            return self.bad(e)
        elif ta == tb == T.DURATION and op in "+-":
            rt, mode = T.DURATION, "time"
        elif ta == T.INT and tb in (T.DURATION, T.MONTHS) and op == "*":
            rt, mode = tb, "time"
        elif tb == T.INT and ta in (T.DURATION, T.MONTHS) and op == "*":
            rt, mode = ta, "time"
        elif T.is_string(ta) and T.is_string(tb) and op == "+":
            rt, mode = T.STRING, "concat"
        elif isinstance(ta, T.ListT) and isinstance(tb, T.ListT) and op == "+":
            # one list after the other
            rt, mode = T.unify(ta, tb), "list_concat"
            if rt is None:
                self.error(
                    "type-mismatch",
                    f"cannot join {ta} and {tb}: the items must be of one type",
                    e.span,
                )
                return self.bad(e)
        if rt is None:
            hint = None
            if T.MONEY in (ta, tb) and T.is_numeric(ta if tb == T.MONEY else tb):
                hint = (
                    "money adds only to money: write the amount with its currency, e.g. `400 USD`"
                )
            elif ta == tb == T.DATE and op == "-":
                hint = "use `days_between(a, b)`"
            self.error("type-mismatch", f"cannot apply `{op}` to {ta} and {tb}", e.span, hint)
            return self.bad(e)
        if (
            mode == "money"
            and isinstance(a, ConstMoney)
            and isinstance(b, ConstMoney)
            and a.currency != b.currency
        ):
            self.error(
                "currency-mismatch",
                f"cannot mix {a.currency} and {b.currency}",
                e.span,
                "amounts in different currencies never add up: convert explicitly",
            )
        return Arith(op, a, b, mode, type=rt, span=e.span)

    def e_RangeExpr(self, e: A.RangeExpr, env: Env) -> Node:
        a = self.expr(e.start, env)
        b = self.expr(e.end, env)
        u = T.unify(a.type, b.type)
        if u is None or T.is_nullable(u) or (u != T.ANY and not T.is_orderable(u)):
            self.error(
                "type-mismatch",
                f"a range needs two ends of one ordered type, not {a.type} and {b.type}",
                e.span,
            )
            return self.bad(e)
        return RangeLit(a, b, e.half_open, type=T.range_of(u), span=e.span)

    def e_Call(self, e: A.Call, env: Env) -> Node:
        if (
            isinstance(e.func, A.Field)
            and isinstance(e.func.obj, A.Name)
            and e.func.obj.id in env.scope.modules
        ):
            mod = env.scope.modules[e.func.obj.id]
            item = mod.defs.get(e.func.name)
            if item is None:
                self.error(
                    "unknown-name",
                    f"module `{e.func.obj.id}` has no `{e.func.name}`",
                    e.func.span,
                    did_you_mean(e.func.name, mod.defs),
                )
                return self.bad(e)
            return self._call_def(mod, e.func.name, item, e, env)
        if not isinstance(e.func, A.Name):
            self.error("not-callable", f"`{_text(e.func)}` is not a function", span_of(e.func))
            return self.bad(e)
        name = e.func.id
        if name in env.locals:
            self.error("not-callable", f"`{name}` is a value, not a function", e.func.span)
            return self.bad(e)
        item = env.scope.defs.get(name)
        if item is not None:
            return self._call_def(env.scope, name, item, e, env)
        if name == "reasons":
            return self._reasons(e, env)
        if name in AGGREGATES and len(e.args) == 1:
            # `count(xs)` is `count(x for x in xs)`
            var = self.fresh("it")
            comp = A.Comprehension(A.Name(var, e.span), var, e.args[0], span=e.span)
            return self.e_AggCall(A.AggCall(name, comp, e.span), env)
        if name in BUILTINS:
            args = [self.expr(a, env) for a in e.args]
            return BUILTINS[name](self, e, args)
        hint = did_you_mean(name, [*BUILTINS, *AGGREGATES, *env.scope.defs])
        unit = name.removesuffix("s")
        if unit in _DURATION_WORDS and len(e.args) == 1:
            hint = _duration_hint(unit, e.args[0])
        elif name in ("int", "integer", "trunc", "truncate", "to_int"):
            hint = "to an integer: `floor(x)` (down), `ceil(x)` (up) or `round(x)` (nearest)"
        self.error("unknown-function", f"unknown function `{name}`", e.func.span, hint)
        return self.bad(e)

    def _reasons(self, e: A.Call, env: Env) -> Node:
        """`reasons(level)`: the code and the reason, placeholders filled in, of each rule of
        the decision (or of the rule) `level` that applied, as a list of
        `{code: string, reason: string}` records."""
        candidates = [
            n
            for n, it in env.scope.defs.items()
            if isinstance(it, A.Decision | A.Rule) and not getattr(it, "params", None)
        ]
        arg = e.args[0] if len(e.args) == 1 else None
        item = env.scope.defs.get(arg.id) if isinstance(arg, A.Name) else None
        if (
            not isinstance(arg, A.Name)
            or arg.id in env.locals
            or not isinstance(item, A.Decision | A.Rule)
            or getattr(item, "params", None)
        ):
            what = f"`{_text(arg)}`" if arg is not None else f"{len(e.args)} arguments"
            hint = did_you_mean(arg.id, candidates) if isinstance(arg, A.Name) else None
            self.error(
                "reasons-needs-decision",
                f"`reasons` takes the name of a decision or rule without parameters, not {what}",
                span_of(arg) if arg is not None else e.span,
                hint or f"e.g. `reasons({candidates[0] if candidates else 'level'})`",
            )
            return self.bad(e)
        target = self.expr(arg, env)
        d = self.definitions.get(target.key) if isinstance(target, Global) else None
        if d is None:
            return self.bad(e)
        body = d.body
        if isinstance(body, Decision):
            strategy = body.strategy
            rules: tuple[tuple[int, Node], ...] = tuple(
                (rid, when) for rid, when, _then in body.cases
            )
        else:
            assert isinstance(body, Rule)
            strategy, rules = "collect", ((body.rid, body.when),)
        row = T.record([("code", T.STRING), ("reason", T.STRING)])
        return Reasons(strategy, rules, type=T.list_of(row), span=e.span)

    def _call_def(self, scope: Scope, name: str, item: A.Item, e: A.Call, env: Env) -> Node:
        self._used.add((scope.uid, name))
        params = getattr(item, "params", None)
        if not params:
            self.error(
                "not-callable", f"`{name}` takes no arguments: write `{name}` without `()`", e.span
            )
            return self.bad(e)
        if len(params) != len(e.args):
            self.error(
                "wrong-arguments",
                f"`{name}` takes {len(params)} argument(s), not {len(e.args)}",
                e.span,
                f"`{name}(" + ", ".join(p.name for p in params) + ")`",
            )
            return self.bad(e)
        args = [self.expr(a, env) for a in e.args]
        # a zone name literal passed to a `zone` parameter is a zone
        args = [
            self._as(a, T.ZONE) if p.type is not None and p.type.name == "zone" else a
            for a, p in zip(args, params, strict=True)
        ]
        key, rtype = self._instantiate(
            scope, name, item, [a.type for a in args], e.span, [a.span for a in args]
        )
        if self._deps_stack:
            self._deps_stack[-1].add(key)
            fn = self.functions.get(key)
            if fn is not None:
                self._deps_stack[-1].update(fn.deps)
        return Call(key, tuple(args), type=rtype, span=e.span)

    # ---- comprehensions ----
    def _comp_env(self, c: A.Comprehension, env: Env) -> tuple[Node, Type, str, Env]:
        src = self.expr(c.source, env)
        st = src.type
        if T.is_nullable(st) and st != T.ANY:
            self.error(
                "nullable-operand",
                f"`{_text(c.source)}` may be null",
                span_of(c.source),
                "give it a default: `(xs ?? [])`",
            )
            st = T.strip(st)
        if isinstance(st, T.ListT):
            elem = st.elem
        elif st == T.ANY:
            elem = T.ANY
        else:
            self.error("not-a-list", f"`{_text(c.source)}` is {st}, not a list", span_of(c.source))
            elem = T.ANY
        py = self.fresh(f"v_{c.var}")
        return src, elem, py, env.with_local(c.var, py, elem)

    def e_ListComp(self, e: A.ListComp, env: Env) -> Node:
        return self._comprehension("list", e.comp, env, e)

    def e_AggCall(self, e: A.AggCall, env: Env) -> Node:
        if e.func not in AGGREGATES:
            self.error(
                "unknown-aggregate",
                f"`{e.func or _text(e)}` does not take `for ... in ...`",
                e.span,
                did_you_mean(e.func, AGGREGATES)
                or f"aggregates are: {', '.join(sorted(AGGREGATES))}",
            )
            return self.bad(e)
        return self._comprehension(e.func, e.comp, env, e)

    def e_MapComp(self, e: A.MapComp, env: Env) -> Node:
        return self._comprehension("map", e.comp, env, e, key=e.key)

    def _comprehension(
        self, agg: str, c: A.Comprehension, env: Env, e: A.Expr, key: A.Expr | None = None
    ) -> Node:
        src, _elem_t, py, cenv = self._comp_env(c, env)
        where = None
        if c.where is not None:
            where = self.expr(c.where, cenv)
            self._expect(where, T.BOOL, span_of(c.where), "a `where` filter")
            cenv = cenv.with_facts(self.facts(c.where, True, cenv))
        elem = self.expr(c.elem, cenv)
        order = None
        if c.order is not None:
            order = self.expr(c.order, cenv)
            if not T.is_orderable(order.type) and order.type != T.ANY:
                self.error("type-mismatch", f"cannot order by {order.type}", span_of(c.order))
        by = None
        if c.by is not None:
            if agg not in ("distinct", "group"):
                self.error(
                    "by-not-here",
                    "`by` groups or de-duplicates: use it with `distinct` or `group`",
                    span_of(c.by),
                )
            by = self.expr(c.by, cenv)
            if T.is_nullable(by.type):
                self.error("nullable-operand", "a grouping key may not be null", span_of(c.by))
        if agg == "group" and by is None:
            self.error("missing-by", "`group` needs `by key`", span_of(e))
        et = elem.type
        is_pred = et == T.BOOL
        rt: Type
        mode = ""
        if agg in ("list",):
            rt = T.list_of(et)
        elif agg == "map":
            assert key is not None
            knode = self.expr(key, cenv)
            if not T.is_string(knode.type) and knode.type != T.ANY:
                self.error(
                    "type-mismatch", f"map keys must be strings, not {knode.type}", span_of(key)
                )
            elem = Pair(knode, elem, type=et, span=elem.span)
            rt = T.map_of(et)
        elif agg in ("count", "any", "all"):
            rt = T.INT if agg == "count" else T.BOOL
            mode = "pred" if is_pred else "exists"
            if agg == "all" and not is_pred:
                self.error(
                    "type-mismatch",
                    "`all` needs a condition: `all(x.ok for x in xs)`",
                    span_of(c.elem),
                )
        elif agg == "sum":
            if et == T.MONEY:
                rt, mode = T.opt(T.MONEY), "money"
            elif et in (T.INT, T.DECIMAL):
                rt, mode = et, "num"
            elif et == T.ANY:
                rt, mode = T.ANY, "num"
            else:
                self.error("type-mismatch", f"cannot sum {et}", span_of(c.elem))
                rt = T.ANY
        elif agg in ("min", "max"):
            if not T.is_orderable(T.strip(et)) and et != T.ANY:
                self.error(
                    "type-mismatch", f"`{agg}` needs ordered values, not {et}", span_of(c.elem)
                )
            if T.is_nullable(et):
                self.error(
                    "nullable-operand",
                    f"`{agg}` values may not be null: filter them with `where`",
                    span_of(c.elem),
                )
            rt = T.opt(et)
        elif agg in ("first", "last"):
            rt = T.opt(et)
        elif agg == "distinct":
            rt = T.list_of(et)
        elif agg == "group":
            kt = by.type if by is not None else T.ANY
            rt = T.list_of(T.record([("key", kt), ("items", T.list_of(et))]))
        elif agg == "running_sum":
            # `[{item, total}]`: each item (in the comprehension's order) with the sum so far
            if et not in (T.MONEY, T.INT, T.DECIMAL, T.ANY):
                self.error("type-mismatch", f"cannot sum {et}", span_of(c.elem))
            rt = T.list_of(T.record([("item", _elem_t), ("total", et)]))
        elif agg == "unique":
            # whether no value occurs twice: one pass with a hash set
            rt = T.BOOL
        elif agg == "pairs":
            # `[{item, next}]`: each value (in the comprehension's order) with the one after it
            rt = T.list_of(T.record([("item", et), ("next", et)]))
        else:
            rt = T.ANY
        sid = self._site("agg", e, env)
        return Comp(
            agg=agg,
            var=py,
            source=src,
            where=where,
            elem=elem,
            order=order,
            desc=c.descending,
            by=by,
            mode=mode,
            sid=sid,
            type=rt,
            span=span_of(e),
        )


# ---- built-in functions ----------------------------------------------------------------


def _b_local_date(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 2)
    _want(ck, e, args, 0, T.DATETIME)
    _want_zone(ck, e, args, 1)
    return Builtin("local_date", tuple(args), type=T.DATE, span=e.span)


def _b_in_zone(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 2)
    _want(ck, e, args, 0, T.LOCAL_DATETIME)
    _want_zone(ck, e, args, 1)
    if len(args) == 2 and isinstance(args[0], Const) and isinstance(args[1], Const):
        local, zone_name = args[0].value, args[1].value
        if isinstance(local, dt.datetime) and isinstance(zone_name, str):
            ck._check_wall_clock(local, zone_name, e.span)
    return Builtin("in_zone", tuple(args), type=T.DATETIME, span=e.span)


def _b_start_of_day(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 2)
    _want(ck, e, args, 0, T.DATE)
    _want_zone(ck, e, args, 1)
    return Builtin("start_of_day", tuple(args), type=T.DATETIME, span=e.span)


def _date_fn(name: str, result: Type = T.DATE) -> Callable[[Checker, A.Call, list[Node]], Node]:
    def check(ck: Checker, e: A.Call, args: list[Node]) -> Node:
        _arity(ck, e, args, 1)
        _want(ck, e, args, 0, T.DATE)
        return Builtin(name, tuple(args), type=result, span=e.span)

    return check


def _b_first_weekday(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 2)
    _want(ck, e, args, 0, T.DATE)
    if len(args) == 2:
        a = args[1]
        if not isinstance(a, Const) or a.value not in WEEKDAYS:
            ck.error(
                "invalid-argument",
                'the weekday must be a literal like "thursday"',
                a.span,
                did_you_mean(str(a.value), WEEKDAYS) if isinstance(a, Const) else None,
            )
    return Builtin("first_weekday", tuple(args), type=T.DATE, span=e.span)


def _b_window(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 2)
    _want(ck, e, args, 0, T.DATE)
    _want(ck, e, args, 1, T.DURATION)
    if len(args) == 2 and not _whole_days(args[1]):
        ck.error("unit-mismatch", "a window of dates is measured in days", args[1].span)
    return Builtin("window", tuple(args), type=T.range_of(T.DATE), span=e.span)


def _b_days_between(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 2)
    _want(ck, e, args, 0, T.DATE)
    _want(ck, e, args, 1, T.DATE)
    return Builtin("days_between", tuple(args), type=T.INT, span=e.span)


def _b_days(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 1)
    if isinstance(args[0].type, T.RangeT) and args[0].type.elem in (T.DATE, T.ANY):
        # `days(a .. b)`: the dates of a range, to iterate over
        return Builtin("days_in", tuple(args), type=T.list_of(T.DATE), span=e.span)
    if isinstance(args[0].type, T.RangeT):
        ck.error(
            "type-mismatch",
            f"`days` lists the dates of a range of dates, not of {args[0].type}",
            args[0].span,
            "take the dates first, e.g. `days(local_date(a, zone) .. local_date(b, zone))`",
        )
        return ck.bad(e)
    _want(ck, e, args, 0, T.INT)
    return Builtin("days", tuple(args), type=T.DURATION, span=e.span)


def _duration_of(unit: str) -> Callable[[Checker, A.Call, list[Node]], Node]:
    def check(ck: Checker, e: A.Call, args: list[Node]) -> Node:
        _arity(ck, e, args, 1)
        _want(ck, e, args, 0, T.INT)
        return Builtin(unit, tuple(args), type=T.DURATION, span=e.span)

    return check


def _b_between(unit: str) -> Callable[[Checker, A.Call, list[Node]], Node]:
    def check(ck: Checker, e: A.Call, args: list[Node]) -> Node:
        _arity(ck, e, args, 2)
        _want(ck, e, args, 0, T.DATETIME)
        _want(ck, e, args, 1, T.DATETIME)
        return Builtin(f"{unit}_between", tuple(args), type=T.DECIMAL, span=e.span)

    return check


def _numeric_fn(
    name: str, arity: int, result: Type, shown: str | None = None
) -> Callable[[Checker, A.Call, list[Node]], Node]:
    def check(ck: Checker, e: A.Call, args: list[Node]) -> Node:
        _arity(ck, e, args, arity)
        for a in args:
            if not T.is_numeric(a.type) and a.type != T.ANY:
                hint = "it may be null: check it first" if T.is_nullable(a.type) else None
                if a.type == T.MONEY:
                    hint = "take the amount first: `x.amount`"
                    if name == "round_int":
                        hint = "round money to places: `round(x, 2)`"
                what = f"`{shown or name}`"
                ck.error("type-mismatch", f"{what} needs a number, not {a.type}", a.span, hint)
        return Builtin(name, tuple(args), type=result, span=e.span)

    return check


def _b_money(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 2)
    _want(ck, e, args, 0, T.DECIMAL)
    _want(ck, e, args, 1, T.STRING)
    return Builtin("money", tuple(args), type=T.MONEY, span=e.span)


def _b_round(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    if len(args) == 1:
        # `round(x)`: half-even to an integer
        return _numeric_fn("round_int", 1, T.INT, "round(x)")(ck, e, args)
    _arity(ck, e, args, 2)
    if args and args[0].type not in (T.DECIMAL, T.INT, T.MONEY, T.ANY):
        ck.error("type-mismatch", f"`round` needs a number or money, not {args[0].type}", e.span)
    places = args[1] if len(args) == 2 else None
    if places is not None and (not isinstance(places, Const) or not isinstance(places.value, int)):
        ck.error(
            "invalid-argument", "the number of places must be a whole-number literal", args[1].span
        )
    elif isinstance(places, Const) and not 0 <= places.value <= MAX_ROUND_PLACES:
        ck.error(
            "literal-out-of-range",
            f"cannot round to {places.value} places",
            args[1].span,
            f"the number of places is from 0 to {MAX_ROUND_PLACES}",
        )
    rt = args[0].type if args and args[0].type == T.MONEY else T.DECIMAL
    return Builtin("round", tuple(args), type=rt, span=e.span)


def _pairwise(name: str) -> Callable[[Checker, A.Call, list[Node]], Node]:
    def check(ck: Checker, e: A.Call, args: list[Node]) -> Node:
        if len(args) < 2:
            ck.error(
                "wrong-arguments",
                f"`{name}(a, b, ...)` takes two or more values; over a list write `{name}(x for x in xs)`",
                e.span,
            )
            return ck.bad(e)
        t: Type | None = args[0].type
        for a in args[1:]:
            t = T.unify(t, a.type) if t is not None else None
        if t is None or (not T.is_orderable(t) and t != T.ANY) or T.is_nullable(t):
            ck.error("type-mismatch", f"`{name}` needs values of one ordered type", e.span)
            return ck.bad(e)
        return Builtin(name, tuple(args), type=t, span=e.span)

    return check


def _b_weekday(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 1)
    _want(ck, e, args, 0, T.DATE)
    return Builtin("weekday", tuple(args), type=T.enum(WEEKDAYS), span=e.span)


def _b_utc_date(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 1)
    _want(ck, e, args, 0, T.DATETIME)
    return Builtin("utc_date", tuple(args), type=T.DATE, span=e.span)


def _b_indexed(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 1)
    t = args[0].type if args else T.ANY
    if not isinstance(t, T.ListT) and t != T.ANY:
        ck.error("not-a-list", f"`indexed` needs a list, not {t}", e.span)
    elem = t.elem if isinstance(t, T.ListT) else T.ANY
    rt = T.list_of(T.record([("index", T.INT), ("item", elem)]))
    return Builtin("indexed", tuple(args), type=rt, span=e.span)


def _b_flatten(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 1)
    t = args[0].type if args else T.ANY
    if isinstance(t, T.ListT) and isinstance(t.elem, T.ListT):
        return Builtin("flatten", tuple(args), type=t.elem, span=e.span)
    if isinstance(t, T.ListT) and t.elem == T.NEVER:
        return Builtin("flatten", tuple(args), type=t, span=e.span)
    # a list of unknown items (an untyped parameter's) may be a list of lists
    if t != T.ANY and not (isinstance(t, T.ListT) and t.elem == T.ANY):
        ck.error("type-mismatch", f"`flatten` needs a list of lists, not {t}", e.span)
    return Builtin("flatten", tuple(args), type=T.ANY, span=e.span)


def _b_values(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 1)
    t = args[0].type if args else T.ANY
    if isinstance(t, T.MapT):
        return Builtin("values", tuple(args), type=T.list_of(t.value), span=e.span)
    if t != T.ANY:
        ck.error("type-mismatch", f"`values` needs a map, not {t}", e.span)
    return Builtin("values", tuple(args), type=T.ANY, span=e.span)


def _b_abs(ck: Checker, e: A.Call, args: list[Node]) -> Node:
    _arity(ck, e, args, 1)
    if args and args[0].type not in (T.INT, T.DECIMAL, T.ANY):
        ck.error("type-mismatch", f"`abs` needs a number, not {args[0].type}", e.span)
    return Builtin("abs", tuple(args), type=args[0].type if args else T.ANY, span=e.span)


BUILTINS: dict[str, Callable[[Checker, A.Call, list[Node]], Node]] = {
    "local_date": _b_local_date,
    "in_zone": _b_in_zone,
    "start_of_day": _b_start_of_day,
    "utc_date": _b_utc_date,
    "start_of_month": _date_fn("start_of_month"),
    "end_of_month": _date_fn("end_of_month"),
    "weekday": _b_weekday,
    "first_weekday": _b_first_weekday,
    "window": _b_window,
    "days_between": _b_days_between,
    "days": _b_days,
    "money": _b_money,
    "round": _b_round,
    "least": _pairwise("least"),
    "greatest": _pairwise("greatest"),
    "abs": _b_abs,
    "indexed": _b_indexed,
    "flatten": _b_flatten,
    "values": _b_values,
    "floor": _numeric_fn("floor", 1, T.INT),
    "ceil": _numeric_fn("ceil", 1, T.INT),
    "sqrt": _numeric_fn("sqrt", 1, T.DECIMAL),
    "sin": _numeric_fn("sin", 1, T.DECIMAL),
    "cos": _numeric_fn("cos", 1, T.DECIMAL),
    "asin": _numeric_fn("asin", 1, T.DECIMAL),
    "atan2": _numeric_fn("atan2", 2, T.DECIMAL),
    "radians": _numeric_fn("radians", 1, T.DECIMAL),
    "pi": _numeric_fn("pi", 0, T.DECIMAL),
    "hours": _duration_of("hours"),
    "minutes": _duration_of("minutes"),
    "hours_between": _b_between("hours"),
    "minutes_between": _b_between("minutes"),
}


def _arity(ck: Checker, e: A.Call, args: list[Node], n: int) -> None:
    if len(args) != n:
        name = _text(e.func)
        ck.error("wrong-arguments", f"`{name}` takes {n} argument(s), not {len(args)}", e.span)
        args.extend(Const(None, type=T.ANY, span=e.span) for _ in range(n - len(args)))


def _want(ck: Checker, e: A.Call, args: list[Node], i: int, t: Type) -> None:
    if i < len(args) and not T.assignable(args[i].type, t):
        hint = "it may be null: check it first" if T.is_nullable(args[i].type) else None
        ck.error(
            "type-mismatch",
            f"argument {i + 1} of `{_text(e.func)}` must be {t}, not {args[i].type}",
            args[i].span,
            hint,
        )


def _want_zone(ck: Checker, e: A.Call, args: list[Node], i: int) -> None:
    if i >= len(args):
        return
    a = args[i]
    if a.type == T.ZONE or a.type == T.ANY or ck.zone_literal(a):
        return
    ck.error(
        "type-mismatch",
        f"argument {i + 1} of `{_text(e.func)}` must be a time zone, not {a.type}",
        a.span,
        'write a zone name literal ("Asia/Bangkok") or a field with `format: time-zone`',
    )


# ---- helpers ---------------------------------------------------------------------------


def _text(e: Any) -> str:
    if isinstance(e, A.Name):
        return e.id
    span = getattr(e, "span", None)
    return span.text() if span is not None and span.source is not None else type(e).__name__


def _path_key(e: A.Expr) -> str | None:
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.InputRef):
        return "input"
    if isinstance(e, A.OutputRef):
        return "output"
    if isinstance(e, A.Field):
        base = _path_key(e.obj)
        return None if base is None else f"{base}.{e.name}"
    return None


def _is_null_literal(e: A.Expr) -> bool:
    return isinstance(e, A.Literal) and e.kind == "null"


def _is_value_literal(e: A.Expr) -> bool:
    """A literal that is not null (`3`, `"FR"`, `400 USD`, `-1`...)."""
    if isinstance(e, A.Unary) and e.op == "-":
        return _is_value_literal(e.operand)
    return isinstance(e, A.MoneyLit | A.DurationLit) or (
        isinstance(e, A.Literal) and e.kind != "null"
    )


def _roots_at_input(e: A.Expr, env: Env) -> bool:
    while isinstance(e, A.Field):
        e = e.obj
    return isinstance(e, A.InputRef) or (isinstance(e, A.Name) and e.id in env.locals)


def _whole_days(n: Node) -> bool:
    if isinstance(n, ConstDuration):
        return n.unit in ("days", "weeks")
    if isinstance(n, Builtin) and n.name == "days":
        return True
    if isinstance(n, Arith):
        return all(_whole_days(x) for x in (n.left, n.right) if x.type == T.DURATION)
    return n.type == T.ANY


def _on_calendar_in_utc(v: dt.date | dt.datetime, zone_name: str | None) -> bool:
    """Whether an effective instant (a date is its start of day) in `zone_name` is an instant
    of years 1-9999 in UTC, as the loader reads it."""
    try:
        from zoneinfo import ZoneInfo

        z: dt.tzinfo = ZoneInfo(zone_name) if zone_name else dt.UTC
    except Exception:
        return True  # an unknown zone is reported on its own
    if not isinstance(v, dt.datetime):
        v = dt.datetime(v.year, v.month, v.day)
    try:
        (v if v.tzinfo else v.replace(tzinfo=z)).astimezone(dt.UTC)
    except OverflowError:
        return False
    return True


def _is_const_false(n: Node) -> bool:
    return isinstance(n, Const) and n.value is False


def _is_semver(v: str) -> bool:
    import re

    return re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", v) is not None


def literal_value(e: A.Expr) -> Any:
    """The constant value of a literal expression (for table analysis), or raise ValueError."""
    if isinstance(e, A.Literal):
        return e.value
    if isinstance(e, A.MoneyLit):
        return (e.currency, e.amount)
    if isinstance(e, A.Unary) and e.op == "-":
        v = literal_value(e.operand)
        if isinstance(v, int | Decimal):
            return -v
    raise ValueError("not a literal")


def _span_at(source: Any, start: int, end: int) -> Span:
    """The span of `source.text[start:end]` (on one line)."""
    line = source.text.count("\n", 0, start) + 1
    col = start - (source.text.rfind("\n", 0, start) + 1) + 1
    return Span(source, line, col, line, col + end - start, start, end)
