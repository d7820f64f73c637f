"""Constant folding of typed expressions, for lints: is a rule's condition always true or false?

`constant(node, definitions)` gives the value a typed node always has, or `UNKNOWN`. It folds
literals, `not`/`and`/`or` (a `false` operand makes `and` false whatever the others are; a `true`
one makes `or` true), comparisons, `if` with a constant condition, null tests, membership in
constant lists and ranges, exact integer and decimal arithmetic, and references to definitions
whose value is itself constant. Anything that reads the input, a variable or a function call is
unknown. Folding only ever answers for conditions whose value cannot depend on the input, so a
warning built on it is never a false alarm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .typed import (
    Arith,
    BoolOp,
    Compare,
    Const,
    ConstDuration,
    ConstMoney,
    Definition,
    Global,
    If,
    IsNull,
    ListLit,
    Member,
    Neg,
    Node,
    Not,
    RangeLit,
    Rule,
    Test,
)


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

_ORDERED = (int, Decimal, str, dt.date, dt.datetime, dt.timedelta)


def constant(
    node: Node, definitions: Mapping[str, Definition], _seen: frozenset[str] = frozenset()
) -> Any:
    """The value `node` always evaluates to, or `UNKNOWN`."""
    try:
        return _fold(node, definitions, _seen)
    except (ArithmeticError, TypeError, ValueError, OverflowError):
        return UNKNOWN


def always(node: Node, definitions: Mapping[str, Definition]) -> bool | None:
    """True or False when a condition always has that value; None when it depends on the input."""
    v = constant(node, definitions)
    return v if isinstance(v, bool) else None


def _fold(n: Node, defs: Mapping[str, Definition], seen: frozenset[str]) -> Any:
    match n:
        case Const(value=value):
            return value
        case ConstMoney(amount=amount, currency=currency):
            return ("money", currency, amount)
        case ConstDuration(count=count, unit=unit):
            return dt.timedelta(**{unit: count})
        case Global(key=key):
            d = defs.get(key)
            if d is None or key in seen:
                return UNKNOWN
            return _fold(d.body, defs, seen | {key})
        case Rule(when=when):
            # a top-level rule used as a boolean: its condition
            return _fold(when, defs, seen)
        case Test(operand=x):
            # a boolean read in a condition, given a trace site: its value is the inner node's
            return _fold(x, defs, seen)
        case Not(operand=x):
            v = _fold(x, defs, seen)
            return (not v) if isinstance(v, bool) else UNKNOWN
        case BoolOp(op=op, operands=operands):
            stop = op == "or"  # `or` stops at true, `and` at false
            unknown = False
            for x in operands:
                v = _fold(x, defs, seen)
                if v is stop:
                    return stop
                if not isinstance(v, bool):
                    unknown = True
            return UNKNOWN if unknown else (not stop)
        case If(cond=cond, then=then, orelse=orelse):
            c = _fold(cond, defs, seen)
            if not isinstance(c, bool):
                return UNKNOWN
            return _fold(then if c else orelse, defs, seen)
        case IsNull(operand=x, negated=negated):
            v = _fold(x, defs, seen)
            if v is UNKNOWN:
                return UNKNOWN
            return (v is not None) if negated else (v is None)
        case Compare(op=op, left=a, right=b):
            va, vb = _fold(a, defs, seen), _fold(b, defs, seen)
            if va is UNKNOWN or vb is UNKNOWN:
                return UNKNOWN
            return _compare(op, va, vb)
        case Neg(operand=x):
            v = _fold(x, defs, seen)
            return -v if _number(v) else UNKNOWN
        case Arith(op=op, left=a, right=b, mode=mode):
            if mode not in ("int", "dec") or op not in "+-*":
                return UNKNOWN
            va, vb = _fold(a, defs, seen), _fold(b, defs, seen)
            if not (_number(va) and _number(vb)):
                return UNKNOWN
            if mode == "dec":
                va, vb = Decimal(va), Decimal(vb)
            return {"+": va + vb, "-": va - vb, "*": va * vb}[op]
        case ListLit(items=items):
            values = [_fold(x, defs, seen) for x in items]
            return UNKNOWN if any(v is UNKNOWN for v in values) else ("list", tuple(values))
        case RangeLit(low=low, high=high, half_open=half_open):
            lo, hi = _fold(low, defs, seen), _fold(high, defs, seen)
            if lo is UNKNOWN or hi is UNKNOWN:
                return UNKNOWN
            return ("range", lo, hi, bool(half_open))
        case Member(item=a, container=b, negated=negated):
            va, vb = _fold(a, defs, seen), _fold(b, defs, seen)
            if va is UNKNOWN or vb is UNKNOWN or not isinstance(vb, tuple):
                return UNKNOWN
            found: Any = UNKNOWN
            if vb[0] == "list":
                hits = [_compare("==", va, x) for x in vb[1]]
                if any(h is True for h in hits):
                    found = True
                elif all(h is False for h in hits):
                    found = False
            elif vb[0] == "range":
                _, lo, hi, half = vb
                low_ok = _compare("<=", lo, va)
                high_ok = _compare("<" if half else "<=", va, hi)
                if isinstance(low_ok, bool) and isinstance(high_ok, bool):
                    found = low_ok and high_ok
            if not isinstance(found, bool):
                return UNKNOWN
            return (not found) if negated else found
    return UNKNOWN


def _number(v: Any) -> bool:
    return isinstance(v, int | Decimal) and not isinstance(v, bool)


def _compare(op: str, a: Any, b: Any) -> Any:
    """A comparison of two constants, or UNKNOWN when they are not comparable here."""
    if isinstance(a, tuple) and isinstance(b, tuple) and a[:1] == b[:1] == ("money",):
        if a[1] != b[1]:
            return UNKNOWN
        a, b = a[2], b[2]
    if a is None or b is None:
        if op == "==":
            return a is b
        if op == "!=":
            return a is not b
        return UNKNOWN
    if isinstance(a, bool) or isinstance(b, bool):
        if not (isinstance(a, bool) and isinstance(b, bool)) or op not in ("==", "!="):
            return UNKNOWN
        return (a == b) if op == "==" else (a != b)
    same_kind = (_number(a) and _number(b)) or (type(a) is type(b) and isinstance(a, _ORDERED))
    if not same_kind:
        return UNKNOWN
    return {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]
