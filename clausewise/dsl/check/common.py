"""What the parts of the checker share: the text of an expression, duration units, the run-time
check of an untyped value where a typed one is expected."""

from __future__ import annotations

from typing import Any

from .. import ast as A
from .. import types as T
from ..typed import Arith, Builtin, Cast, ConstDuration, Node, Widen


def text_of(e: Any) -> str:
    """The policy text of an expression (a name as written)."""
    if isinstance(e, A.Name):
        return e.id
    span = getattr(e, "span", None)
    return span.text() if span is not None and span.source is not None else type(e).__name__


def whole_days(n: Node) -> bool:
    """Whether a duration is a whole number of days (or unknown)."""
    if isinstance(n, ConstDuration):
        return n.unit in ("days", "weeks")
    if isinstance(n, Builtin) and n.name == "days":
        return True
    if isinstance(n, Arith):
        return all(whole_days(x) for x in (n.left, n.right) if x.type == T.DURATION)
    return n.type == T.ANY


def cast(n: Node, want: T.Type) -> Node:
    """`n` where a value of type `want` is expected (a condition, a typed parameter): a value of
    unknown type (`any`, an input field the schema leaves untyped) is checked at run time to be
    one (`Cast`), else the error `type_mismatch` there; a typed value is left as it is."""
    if n.type != T.ANY or T.strip(want) in (T.ANY, T.NEVER, T.ZONE):
        return n
    return Cast(n, type=want, span=n.span)


def widen(n: Node, used_as: T.Type) -> Node:
    """`n` where a value of type `used_as` is given (the type `unify` found for the branches of an
    `if`, the items of a list, the rows of a table, ...): where that type has `any` and `n`'s has a
    decimal, the value takes its type's form there (`Widen`); otherwise `n` is left as it is."""
    if not T.erases_decimal(n.type, used_as):
        return n
    return Widen(n, type=used_as, span=n.span)
