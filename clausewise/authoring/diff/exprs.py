"""Comparing expressions: equal as far as evaluation can tell, the smallest parts that differ,
and thresholds (a literal compared with the same expression) shown one per line."""

from __future__ import annotations

import dataclasses
from typing import Any

from ...dsl import ast as A
from ...dsl.printer import Prec, cell_text, expr_text
from .model import Detail

_CMP_OPS = ("==", "!=", "<", "<=", ">", ">=")


def row_text(r: A.TableRow) -> str:
    """A table row on one line, as `fmt` writes it (without the padding of its columns)."""
    if r.cells is None:
        return f"else => {expr_text(r.result)}"
    return "| " + " | ".join(cell_text(c) for c in r.cells) + f" => {expr_text(r.result)}"


def short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _norm(x: Any) -> Any:
    """The node with differences in notation only taken out (`2.5%` is the decimal `0.025`)."""
    if isinstance(x, A.Literal):
        return A.Literal(x.value, "decimal") if x.kind == "percent" else x
    if isinstance(x, tuple):
        items = tuple(_norm(v) for v in x)
        return items if any(a is not b for a, b in zip(items, x, strict=True)) else x
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        changes = {}
        for f in dataclasses.fields(x):
            if not f.compare:
                continue
            v = getattr(x, f.name)
            nv = _norm(v)
            if nv is not v:
                changes[f.name] = nv
        return dataclasses.replace(x, **changes) if changes else x
    return x


def same(a: Any, b: Any) -> bool:
    """Equal as far as evaluation can tell (spans, comments and notation ignored)."""
    return bool(_norm(a) == _norm(b))


_LITERALS = (A.Literal, A.MoneyLit, A.DurationLit)


def is_literal(e: Any) -> bool:
    if isinstance(e, _LITERALS):
        return True
    return isinstance(e, A.Unary) and e.op == "-" and isinstance(e.operand, _LITERALS)


def _node_diffs(a: Any, b: Any, pa: Any = None, pb: Any = None) -> list[tuple[Any, Any, Any, Any]]:
    """The smallest differing sub-expressions of `a` and `b`: (old, new, old parent, new parent)."""
    if same(a, b):
        return []
    if (
        type(a) is not type(b)
        or not dataclasses.is_dataclass(a)
        or isinstance(a, _LITERALS)
        or is_literal(a)
    ):
        return [(a, b, pa, pb)]
    out: list[tuple[Any, Any, Any, Any]] = []
    for f in dataclasses.fields(a):
        if not f.compare:
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        sub = _value_diffs(va, vb, a, b)
        if sub is None:
            return [(a, b, pa, pb)]
        out.extend(sub)
    return out


def _value_diffs(va: Any, vb: Any, a: Any, b: Any) -> list[tuple[Any, Any, Any, Any]] | None:
    """Differences inside one field; None when the field differs in shape (not in a sub-node)."""
    if dataclasses.is_dataclass(va) and dataclasses.is_dataclass(vb):
        return _node_diffs(va, vb, a, b)
    if isinstance(va, tuple) and isinstance(vb, tuple):
        if len(va) != len(vb):
            return None
        out: list[tuple[Any, Any, Any, Any]] = []
        for x, y in zip(va, vb, strict=True):
            sub = _value_diffs(x, y, a, b)
            if sub is None:
                return None
            out.extend(sub)
        return out
    return [] if same(va, vb) else None


def _threshold(old: Any, new: Any, po: Any, pn: Any) -> str | None:
    """`lhs op old -> op new` when a literal compared with the same expression changed."""
    if not (is_literal(old) and is_literal(new)):
        return None
    if not (isinstance(po, A.Binary) and isinstance(pn, A.Binary) and po.op == pn.op):
        return None
    op = po.op
    if op not in _CMP_OPS:
        return None
    if po.right is old and pn.right is new and same(po.left, pn.left):
        lhs = expr_text(po.left, Prec.RANGE)
        return f"{lhs} {op} {expr_text(old, Prec.RANGE)} -> {op} {expr_text(new, Prec.RANGE)}"
    if po.left is old and pn.left is new and same(po.right, pn.right):
        rhs = expr_text(po.right, Prec.RANGE)
        return f"{expr_text(old, Prec.RANGE)} {op} {rhs} -> {expr_text(new, Prec.RANGE)} {op} {rhs}"
    return None


def expr_details(old: A.Expr, new: A.Expr, aspect: str, prefix: str = "") -> list[Detail]:
    """How an expression changed: one line per threshold when only literals moved, else the
    expression (or, when it is long, each differing part)."""
    if same(old, new):
        return []
    diffs = _node_diffs(old, new)
    if is_literal(old) and is_literal(new):
        o, n = expr_text(old), expr_text(new)
        return [Detail("threshold", f"{prefix}{o} -> {n}", o, n)]
    thresholds = [_threshold(*d) for d in diffs]
    if diffs and all(t is not None for t in thresholds):
        return [
            Detail("threshold", f"{prefix}{t}", expr_text(d[0]), expr_text(d[1]))
            for t, d in zip(thresholds, diffs, strict=True)
            if t is not None
        ]
    o_text, n_text = expr_text(old), expr_text(new)
    if len(o_text) + len(n_text) <= 200 or not diffs:
        return [
            Detail(aspect, f"{prefix}{short(o_text, 400)} -> {short(n_text, 400)}", o_text, n_text)
        ]
    out = []
    for d, t in zip(diffs, thresholds, strict=True):
        if t is not None:
            out.append(Detail("threshold", f"{prefix}{t}", expr_text(d[0]), expr_text(d[1])))
        else:
            o, n = expr_text(d[0]), expr_text(d[1])
            out.append(Detail(aspect, f"{prefix}{short(o)} -> {short(n)}", o, n))
    return out
