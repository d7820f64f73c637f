"""What the parts of the checker share: the text of an expression, duration units."""

from __future__ import annotations

from typing import Any

from .. import ast as A
from .. import types as T
from ..typed import Arith, Builtin, ConstDuration, Node


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
