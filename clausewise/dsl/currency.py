"""Currencies known before any decision: where the input schema pins an amount's currency (a
`const` or a one-value `enum` on its `currency`, or an input rule `require ...: x.currency ==
"USD"`), an expression that mixes it with an amount in another currency (a constant, another
pinned field) fails on every input that reaches it. `check` reports it at the expression
(`currency-mismatch`) instead of leaving it to the decision (docs/language.md, "Money").

A self-contained analysis over the typed program: each money expression gets a known currency
or none (constants, pinned input fields, items of pinned lists, sums, `min`, `max`, `least`,
`greatest`, arithmetic, `??`, `if`, local bindings and definitions of known-currency values);
where two known currencies meet in `+`, `-`, `/`, a comparison, `least`/`greatest`, `??` or
`if`, the mix is reported once."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from . import types as T
from .diagnostics import ERROR, Diagnostic
from .typed import (
    Arith,
    Attr,
    BoolOp,
    Builtin,
    Coalesce,
    Comp,
    Compare,
    ConstMoney,
    Decision,
    Field,
    Global,
    If,
    Index,
    InputRef,
    Local,
    Node,
    Program,
    Rule,
    Test,
    With,
    children,
)

Path = tuple[str, ...]  # field names into the input, "[]" for the items of a list
_ITEM = "[]"
_SAME_CURRENCY_AGGS = ("sum", "min", "max", "first", "last", "running_sum")


def currency_mismatches(prog: Program) -> list[Diagnostic]:
    """A `currency-mismatch` error at each expression that mixes two known currencies."""
    return _Analysis(prog).run()


class _Analysis:
    def __init__(self, prog: Program):
        self.p = prog
        self.root = prog.input_schema if isinstance(prog.input_schema, dict) else {}
        self.pins: dict[Path, str] = {}
        self.diags: list[Diagnostic] = []
        self.reported: set[tuple[int, int]] = set()
        self.globals: dict[str, tuple[Path | None, str | None]] = {}

    def run(self) -> list[Diagnostic]:
        p = self.p
        for req in p.requirements:
            env = self._for_env(req.fors)
            for cond in _conjuncts(req.cond):
                self._pin(cond, env)
        for req in p.requirements:
            env = self._for_env(req.fors)
            for _var, src, where, _path in req.fors:
                self.visit(src, env)
                if where is not None:
                    self.visit(where, env)
            self.visit(req.cond, env)
        for d in p.definitions.values():
            self.visit(d.body, {})
        for f in p.functions.values():
            self.visit(f.body, {})
        if p.output is not None:
            self.visit(p.output, {})
        for inv in p.invariants:
            self.visit(inv.body, {})
        return self.diags

    # ---- the input's pinned currencies ----
    def _for_env(self, fors: Any) -> dict[str, tuple[Path | None, str | None]]:
        env: dict[str, tuple[Path | None, str | None]] = {}
        for var, src, _where, _path in fors:
            path = self.path(src, env)
            env[var] = ((*path, _ITEM) if path is not None else None, None)
        return env

    def _pin(self, cond: Node, env: dict[str, tuple[Path | None, str | None]]) -> None:
        """`x.currency == "USD"` (either way round) in an input rule pins `x`'s currency."""
        if not isinstance(cond, Compare) or cond.op != "==":
            return
        for a, b in ((cond.left, cond.right), (cond.right, cond.left)):
            value = getattr(b, "value", None)
            if isinstance(a, Attr) and a.name == "currency" and isinstance(value, str):
                path = self.path(a.obj, env)
                if path is not None:
                    self.pins[path] = value

    def schema_at(self, path: Path) -> dict[str, Any] | None:
        s: Any = self.root
        try:
            s, _ = T.split_nullable(s, self.root, "")
            for part in path:
                s = s.get("items") if part == _ITEM else s.get("properties", {}).get(part)
                if not isinstance(s, dict):
                    return None
                s, _ = T.split_nullable(s, self.root, "")
        except T.SchemaError:
            return None
        return s

    def pinned(self, path: Path) -> str | None:
        if path in self.pins:
            return self.pins[path]
        s = self.schema_at(path)
        cur = s.get("properties", {}).get("currency") if s is not None else None
        if not isinstance(cur, dict):
            return None
        try:
            cur, _ = T.split_nullable(cur, self.root, "")
        except T.SchemaError:
            return None
        if isinstance(cur.get("const"), str):
            return str(cur["const"])
        enum = [v for v in cur.get("enum") or [] if v is not None]
        if len(enum) == 1 and isinstance(enum[0], str):
            return str(enum[0])
        return None

    # ---- paths and currencies of expressions ----
    def path(self, n: Node, env: dict[str, tuple[Path | None, str | None]]) -> Path | None:
        """Where in the input `n`'s value comes from, when it is a field or a list of it."""
        match n:
            case InputRef():
                return ()
            case Field(obj=obj, name=name):
                base = self.path(obj, env)
                return None if base is None else (*base, name)
            case Index(obj=obj):
                base = self.path(obj, env)
                return None if base is None else (*base, _ITEM)
            case Local(name=name):
                return env[name][0] if name in env else None
            case Global(key=key):
                return self.global_(key)[0]
            case Comp(agg="list", var=var, source=src, elem=Local(name=elem)) if elem == var:
                return self.path(src, env)  # a filtered or ordered list of the same items
            case Builtin(name="flatten"):
                return None
            case Arith(op="+", mode="list_concat", left=a, right=b):
                pa, pb = self.path(a, env), self.path(b, env)
                return pa if pa is not None and pa == pb else None
        return None

    def global_(self, key: str) -> tuple[Path | None, str | None]:
        if key not in self.globals:
            self.globals[key] = (None, None)  # a cycle knows nothing
            d = self.p.definitions.get(key)
            if d is not None and not isinstance(d.body, Rule | Decision):
                self.globals[key] = (self.path(d.body, {}), self.currency(d.body, {}))
            elif d is not None and isinstance(d.body, Decision):
                cases = [t for _r, _w, t in d.body.cases]
                self.globals[key] = (None, self._join(d.body, cases, {}, fails=False))
        return self.globals[key]

    def currency(self, n: Node, env: dict[str, tuple[Path | None, str | None]]) -> str | None:
        """The currency every value of the money expression `n` has, when it is known."""
        if T.strip(n.type) != T.MONEY and not isinstance(T.strip(n.type), T.ListT):
            return None
        match n:
            case ConstMoney(currency=c):
                return c
            case Local(name=name) if name in env and env[name][1] is not None:
                return env[name][1]
            case Global(key=key) if self.global_(key)[1] is not None:
                return self.global_(key)[1]
            case Arith(op=op, left=a, right=b):
                if op in ("+", "-"):
                    return self._join(n, [a, b], env)
                return self.currency(a, env) or self.currency(b, env)
            case Coalesce(left=a, right=b):
                return self._join(n, [a, b], env, fails=False)
            case If(then=t, orelse=e):
                return self._join(n, [t, e], env, fails=False)
            case Builtin(name=name, args=args) if name in ("least", "greatest"):
                return self._join(n, list(args), env)
            case Builtin(name=name, args=args) if name in ("abs", "round") and args:
                return self.currency(args[0], env)
            case Comp(agg=agg, var=var, source=src, elem=elem) if agg in _SAME_CURRENCY_AGGS:
                return self.currency(elem, self._bind(env, var, src))
            case With(name=name, value=value, body=body):
                return self.currency(body, self._with(env, name, value))
        path = self.path(n, env)
        if path is None:
            return None
        if T.strip(n.type) != T.MONEY:
            path = (*path, _ITEM)  # a list of amounts
        return self.pinned(path)

    def _bind(
        self, env: dict[str, tuple[Path | None, str | None]], var: str, src: Node
    ) -> dict[str, tuple[Path | None, str | None]]:
        path = self.path(src, env)
        item = (*path, _ITEM) if path is not None else None
        cur = self.pinned(item) if item is not None else None
        if cur is None and isinstance(src, Arith) and src.mode == "list_concat":
            cur = self._join(src, [src.left, src.right], env, fails=False)
        return {**env, var: (item, cur)}

    def _with(
        self, env: dict[str, tuple[Path | None, str | None]], name: str, value: Node
    ) -> dict[str, tuple[Path | None, str | None]]:
        return {**env, name: (self.path(value, env), self.currency(value, env))}

    def _join(
        self,
        at: Node,
        parts: list[Node],
        env: dict[str, tuple[Path | None, str | None]],
        fails: bool = True,
    ) -> str | None:
        """The one currency of `parts` that are known. Two different ones are reported at `at`
        where the operation `fails` on them (not where it only picks one: `if`, `??`)."""
        known = [c for p in parts if (c := self.currency(p, env)) is not None]
        if not fails and len(known) < len(parts):
            return None  # `if` or `??` may give the part whose currency is not known
        for c, d in pairwise(known):
            if c != d:
                if fails:
                    self.report(at, c, d)
                return None
        return known[0] if known else None

    def report(self, at: Node, c: str, d: str) -> None:
        key = (at.span.line, at.span.col)
        if key in self.reported:
            return
        self.reported.add(key)
        self.diags.append(
            Diagnostic(
                "currency-mismatch",
                ERROR,
                f"`{at.span.text()}` mixes amounts in {c} and in {d}: it fails on every input "
                "that reaches it",
                at.span,
                "the input schema or an input rule pins these currencies; convert one side, or "
                "compare with an amount in the same currency",
            )
        )

    # ---- every expression ----
    def visit(self, n: Node, env: dict[str, tuple[Path | None, str | None]]) -> None:
        match n:
            case Compare(left=a, right=b):
                self._join(n, [a, b], env)
            case Arith() | Coalesce() | If() | Builtin():
                self.currency(n, env)
            case Comp(var=var, source=src, where=where, elem=elem, order=order, by=by):
                self.visit(src, env)
                inner = self._bind(env, var, src)
                for x in (where, elem, order, by):
                    if x is not None:
                        self.visit(x, inner)
                self.currency(n, env)
                return
            case With(name=name, value=value, body=body):
                self.visit(value, env)
                self.visit(body, self._with(env, name, value))
                return
            case Rule(when=when, then=then):
                self.visit(when, env)
                if then is not None:
                    self.visit(then, env)
                return
            case Decision(cases=cases, default=default):
                for _rid, when, then in cases:
                    self.visit(when, env)
                    self.visit(then, env)
                if default is not None:
                    self.visit(default, env)
                return
            case BoolOp():
                pass
        for child in children(n):
            self.visit(child, env)


def _conjuncts(n: Node) -> list[Node]:
    if isinstance(n, Test):
        return _conjuncts(n.operand)
    if isinstance(n, BoolOp) and n.op == "and":
        return [x for o in n.operands for x in _conjuncts(o)]
    return [n]
