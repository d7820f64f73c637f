"""Expression typing: every operation's types checked (money currencies and units kept apart),
nulls tracked through conditions, calls of definitions and built-ins, comprehensions and
aggregates."""

from __future__ import annotations

import dataclasses

from .. import ast as A
from .. import types as T
from ..ast import span_of
from ..diagnostics import Span, did_you_mean
from ..fold import UNKNOWN
from ..functions import FUNCTIONS
from ..limits import CALENDAR_DAYS, CALENDAR_MONTHS, UNIT_SECONDS
from ..typed import (
    Attr,
    BoolOp,
    Call,
    Const,
    ConstDuration,
    ConstMoney,
    ConstMonths,
    Decision,
    Field,
    Global,
    If,
    Index,
    InputRef,
    IsNull,
    ListLit,
    Local,
    Neg,
    Node,
    Not,
    OutputRef,
    Reasons,
    RecordLit,
    Rule,
    SiteMeta,
    Test,
    With,
)
from ..types import Type
from .builtins import check_builtin
from .common import cast, text_of, widen
from .scopes import ScopeChecks
from .state import AGGREGATES, CheckedNullTest, Env, Scope

# the units a duration literal takes (`3 hours`), and the words an author may try instead
_DURATION_UNITS = ("seconds", "minutes", "hours", "days", "weeks", "months", "years")

_DURATION_WORDS = {"second", "minute", "hour", "day", "week", "month", "year"}


def _duration_hint(unit: str, arg: A.Expr) -> str:
    """What to write instead of `hours(3)`: a duration literal, its unit after the number."""
    count = text_of(arg) if isinstance(arg, A.Literal) and text_of(arg).isdigit() else None
    units = "; units: " + ", ".join(_DURATION_UNITS)
    return f"write `{count or 3} {unit}s`, or `n * 1 {unit}` for a count `n`" + units


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


class ExpressionChecks(ScopeChecks):
    """Typing expressions: one method per kind of expression (`e_<Kind>`)."""

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

    def _expect(self, node: Node, want: Type, span: Span, what: str) -> Node:
        """`node` where a value of `want` is expected (checked at run time when untyped)."""
        if not T.assignable(node.type, want):
            hint = None
            if T.is_nullable(node.type):
                hint = (
                    "it may be null: test it with `is not null` first, or give a default with `??`"
                )
            self.error("type-mismatch", f"{what} must be {want}, not {node.type}", span, hint)
        return cast(node, want)

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
        if e.id in FUNCTIONS or e.id in AGGREGATES:
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
        self.used_names.add((scope.uid, name))
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
                f"`{text_of(e.obj)}` may be null, so `.{e.name}` needs a check first",
                e.span,
                f"guard it: `{text_of(e.obj)} is not null and ...`, or use `??`",
            )
            return self.bad(e)
        if isinstance(t, T.RecordT):
            ft = t.field(e.name)
            if ft is None:
                names = [k for k, _ in t.fields]
                where = "the input schema" if _roots_at_input(e.obj, env) else "this record"
                self.error(
                    "unknown-field",
                    f"`{text_of(e.obj)}` has no field `{e.name}` in {where}",
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
            idx = self._expect(idx, T.INT, span_of(e.index), "a list index")
            return Index(obj, idx, type=T.opt(t.elem), span=e.span)
        if isinstance(t, T.MapT):
            idx = self._expect(idx, T.STRING, span_of(e.index), "a map key")
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
        items = tuple(widen(n, t) for n in items)
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
            x = self._expect(x, T.BOOL, span_of(e.operand), "the operand of `not`")
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
        c = self._expect(c, T.BOOL, span_of(e.cond), "the condition of `if`")
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
            if T.erases_decimal(taken.type, u):
                return widen(taken, u)
            return taken if taken.type == u else dataclasses.replace(taken, type=u)
        return If(c, widen(t, u), widen(o, u), type=u, span=e.span)

    def e_IsNull(self, e: A.IsNull, env: Env) -> Node:
        x = self.expr(e.operand, env)
        self.null_tests.append(CheckedNullTest(e.operand, x, e.span, coalesce=False))
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
            left = self._expect(left, T.BOOL, span_of(a), "each side of `implies`")
            then_env = env.with_facts(self.facts(a, True, env))
            right = self.expr(b, then_env)
            right = self._expect(right, T.BOOL, span_of(b), "each side of `implies`")
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
            n = self._expect(n, T.BOOL, span_of(o), f"each side of `{e.op}`")
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
        sid = self._site("cmp", e, env, "is", text_of(e), "true" if wanted else "false")
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
            SiteMeta(sid, kind, text_of(e), span_of(e), env.rid, op, left, right, self._context)
        )
        return sid

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
            self.error("not-callable", f"`{text_of(e.func)}` is not a function", span_of(e.func))
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
            return self.expr(A.AggCall(name, comp, e.span), env)
        if name in FUNCTIONS:
            args = [self.expr(a, env) for a in e.args]
            return check_builtin(self, name, e, args)
        hint = did_you_mean(name, [*FUNCTIONS, *AGGREGATES, *env.scope.defs])
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
            what = f"`{text_of(arg)}`" if arg is not None else f"{len(e.args)} arguments"
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
        self.used_names.add((scope.uid, name))
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
        # an untyped argument of a parameter declared with a type is checked to be one at
        # run time (the body is typed for that type)
        args = [
            cast(a, self._type_ref(p.type))
            if p.type is not None and p.type.name in (*T.SCALARS, "list") and a.type == T.ANY
            else a
            for a, p in zip(args, params, strict=True)
        ]
        if self._deps_stack:
            self._deps_stack[-1].add(key)
            fn = self.functions.get(key)
            if fn is not None:
                self._deps_stack[-1].update(fn.deps)
        return Call(key, tuple(args), type=rtype, span=e.span)
