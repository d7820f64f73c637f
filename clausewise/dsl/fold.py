"""Constant folding of typed expressions: the one place that says what a constant expression is.

`fold(node)` gives the value an expression always has, computed with the operations decisions
use (so it is the value the decision would compute), `UNKNOWN` when it depends on the input, a
variable or a call, or a `ConstantFailure` when computing it always fails (`1 / 0`,
`9999-12-31 + 1 day`, `1 USD + 1 EUR`), with the span of the part that fails.

Given the program's definitions, it also looks through references to definitions whose value is
constant, and answers for `and`/`or` as soon as one operand decides (a `false` operand makes `and`
false whatever the others are): the checker's lints ask that of rules' conditions (`always`), and
a warning built on it is never a false alarm. The compiler folds the subtrees that read nothing
(no definitions), into constants of the generated code.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import runtime as R
from . import types as T
from .diagnostics import Span
from .typed import (
    Arith,
    Attr,
    BoolOp,
    Builtin,
    Cast,
    Coalesce,
    Compare,
    Const,
    ConstDuration,
    ConstMoney,
    ConstMonths,
    Definition,
    Field,
    Global,
    If,
    Index,
    IsNull,
    ListLit,
    Local,
    Member,
    Neg,
    Node,
    Not,
    Pair,
    RangeLit,
    RecordLit,
    Rule,
    Test,
    Widen,
    With,
)


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True, slots=True)
class ConstantFailure:
    """A constant expression whose computation always fails: the error a decision would raise
    (`code` is one of the evaluation error codes, or `internal_error`) and the part that fails."""

    code: str
    message: str
    span: Span


_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_CTX_OPS = {"+": R.CTX.add, "-": R.CTX.subtract, "*": R.CTX.multiply}


def fold(node: Node, definitions: Mapping[str, Definition] | None = None) -> Any:
    """The value `node` always has, `UNKNOWN`, or a `ConstantFailure` (see the module's
    docstring). Without `definitions`, a reference to a definition is unknown."""
    return _Folder(definitions).fold(node)


def always(node: Node, definitions: Mapping[str, Definition]) -> bool | None:
    """True or False when a condition always has that value; None when it depends on the input
    (or always fails)."""
    v = fold(node, definitions)
    return v if isinstance(v, bool) else None


def _settled(v: Any) -> bool:
    """Whether a folded value stops the folding of what contains it (unknown, or a failure)."""
    return v is UNKNOWN or isinstance(v, ConstantFailure)


class _Folder:
    def __init__(self, definitions: Mapping[str, Definition] | None):
        self.definitions = definitions
        self.seen: set[str] = set()
        self.locals: dict[str, Any] = {}  # the values `with` binds

    def fold(self, n: Node) -> Any:
        try:
            return self._fold(n)
        except R.EvaluationError as e:
            return ConstantFailure(e.code, e.message, n.span)
        except R.DecisionError as e:  # two currencies mixed
            return ConstantFailure(getattr(e, "code", "internal_error"), str(e), n.span)
        except Exception as e:  # what the checker's types rule out, should it happen here
            return ConstantFailure("internal_error", f"{type(e).__name__}: {e}", n.span)

    def _all(self, nodes: tuple[Node, ...]) -> list[Any] | Any:
        """The values of `nodes`, or the first of them that is unknown or fails."""
        values = []
        for x in nodes:
            v = self.fold(x)
            if _settled(v):
                return v
            values.append(v)
        return values

    def _fold(self, n: Node) -> Any:
        match n:
            case Const(value=value):
                return value
            case ConstMoney(amount=amount, currency=currency):
                return R.Money(amount, currency)
            case ConstDuration(count=count, unit=unit):
                return dt.timedelta(**{unit: count})
            case ConstMonths(count=count):
                return R.Months(count)
            case Global(key=key):
                d = None if self.definitions is None else self.definitions.get(key)
                if d is None or key in self.seen:
                    return UNKNOWN
                self.seen.add(key)
                try:
                    return self.fold(d.body)
                finally:
                    self.seen.discard(key)
            case Rule(when=when):
                # a top-level rule used as a boolean: its condition
                return self.fold(when)
            case Test(operand=x):
                # a boolean read in a condition, given a trace site: its value is the inner node's
                return self.fold(x)
            case Cast(operand=x, type=t):
                v = self.fold(x)
                return v if _settled(v) else R.cast(v, t, n.span.location())
            case Widen(operand=x):
                v = self.fold(x)
                return v if _settled(v) else R.widened(v, x.type)
            case BoolOp(op=op, operands=operands):
                return self._bool_op(op == "or", operands)
            case If(cond=cond, then=then, orelse=orelse):
                c = self.fold(cond)
                if _settled(c):
                    return c
                return self.fold(then if c else orelse)
            case Coalesce(left=a, right=b):
                v = self.fold(a)
                return self.fold(b) if v is None else v
            case Local(name=name):
                return self.locals.get(name, UNKNOWN)
            case With(name=name, value=value, body=body):
                v = self.fold(value)
                if _settled(v):
                    return v
                self.locals[name] = v
                try:
                    return self.fold(body)
                finally:
                    del self.locals[name]
        values = self._all(_operands(n))
        if _settled(values):
            return values
        return self._apply(n, values)

    def _bool_op(self, stop: bool, operands: tuple[Node, ...]) -> Any:
        """`or` (stops at true) or `and` (stops at false), left to right: decided by the first
        operand that stops it, even after unknown ones; an operand that fails before that fails
        the whole, when nothing unknown comes before it."""
        unknown = False
        last: Any = not stop
        for x in operands:
            v = self.fold(x)
            if isinstance(v, ConstantFailure):
                return UNKNOWN if unknown else v
            if v is UNKNOWN:
                unknown = True
            elif bool(v) is stop:
                return v
            else:
                last = v
        return UNKNOWN if unknown else last

    def _apply(self, n: Node, values: list[Any]) -> Any:
        """The value of `n` from its operands' values."""
        match n:
            case Field(name=name):
                return values[0][name]
            case Attr(name=name):
                return getattr(values[0], name)
            case Index():
                return R.index_or_none(values[0], values[1])
            case ListLit():
                return values
            case RecordLit(fields=fields):
                return {k: v for (k, _), v in zip(fields, values, strict=True)}
            case Pair():
                return (values[0], values[1])
            case Not():
                return not values[0]
            case Neg():
                if n.type == T.INT:
                    return -values[0]
                if n.type == T.DURATION:
                    return R.negate_duration(values[0])
                return R.negate(values[0])  # exact for decimals
            case IsNull(negated=negated):
                return (values[0] is not None) if negated else (values[0] is None)
            case Compare(op=op):
                return _PY_OPS[op](values[0], values[1])
            case Member(negated=negated):
                found = values[0] in values[1]
                return (not found) if negated else found
            case RangeLit(half_open=half_open):
                return R.Range(values[0], values[1], half_open)
            case Arith():
                return _arith(n, values[0], values[1])
            case Builtin(name=name):
                return _builtin(name, n.args, values)
            case _:
                return UNKNOWN


def _operands(n: Node) -> tuple[Node, ...]:
    """The operands whose values `_apply` computes `n` from; none for what reads the input, a
    variable or a call (`n` is unknown)."""
    match n:
        case Field(obj=obj) | Attr(obj=obj):
            return (obj,)
        case Index(obj=obj, index=index):
            return (obj, index)
        case ListLit(items=items) | Builtin(args=items):
            return items
        case RecordLit(fields=fields):
            return tuple(v for _k, v in fields)
        case Pair(key=a, value=b) | Compare(left=a, right=b) | Arith(left=a, right=b):
            return (a, b)
        case Member(item=a, container=b) | RangeLit(low=a, high=b):
            return (a, b)
        case Not(operand=x) | Neg(operand=x) | IsNull(operand=x):
            return (x,)
    return ()


def _arith(n: Arith, a: Any, b: Any) -> Any:
    """`a op b` as the decision computes it, by the dispatch the checker chose."""
    op, mode = n.op, n.mode
    if mode == "dec":
        return _CTX_OPS[op](a, b)
    if mode == "div":
        return R.divide(a, b)
    if mode == "any":
        return R.dynamic_arith(op, a, b)
    if mode == "elapsed":
        return R.elapsed(a, b)
    if mode == "list_concat":
        return R.concat(a, b)
    if mode == "time" and n.left.type in (T.DATE, T.DATETIME):
        return R.shift(a, op, b)  # saturates off the calendar
    if mode == "time" and n.type == T.DURATION:
        return R.scale_duration(a, b) if op == "*" else R.add_durations(a, op, b)
    return _PY_OPS[op](a, b)


def _builtin(name: str, args: tuple[Node, ...], values: list[Any]) -> Any:
    if name == "least":
        return min(values)
    if name == "greatest":
        return max(values)
    if name == "round" and len(args) == 2 and isinstance(places := args[1], Const):
        return R.round_to(values[0], Decimal(1).scaleb(-int(places.value)))
    return R.STDLIB[name](*values)
