"""Gap and overlap analysis of decision tables.

Each cell is read as a set of intervals over its column's domain (a finite set of values for
enums and booleans). Overlap: two rows whose cells intersect in every column. Gap: the columns are
split into elementary regions at every bound any row mentions; a region no row covers is a gap,
reported with an example.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import ast as A
from . import types as T
from .diagnostics import ERROR, WARNING, Span
from .printer import instant_text, quote

# An interval: (lo, lo_closed, hi, hi_closed); None bounds are infinite.
Interval = tuple[Any, bool, Any, bool]
Problem = tuple[str, str, str, Span, str | None]


@dataclass(slots=True)
class TableAnalysis:
    """What the analysis of a table finds: its overlaps and misplaced rows (`problems`), an input
    no row matches (`gap`, an error without an `else` row), and whether every input is known to
    match a row (`complete`: no gap, and cells literal enough to rule one out)."""

    problems: list[Problem] = field(default_factory=list)
    gap: Problem | None = None
    complete: bool = True


class _Opaque(Exception):
    """A cell whose value is not a literal: the table cannot be analysed statically."""


def _lit(e: A.Expr) -> Any:
    if isinstance(e, A.Literal) and e.kind != "null":
        return e.value
    if isinstance(e, A.MoneyLit):
        return (e.currency, e.amount)
    if isinstance(e, A.Unary) and e.op == "-":
        v = _lit(e.operand)
        if isinstance(v, int | Decimal):
            return -v
    raise _Opaque


def _cell_set(cell: A.Cell, finite: tuple[Any, ...] | None) -> list[Interval] | frozenset[Any]:
    if finite is not None:
        if cell.kind == "any":
            return frozenset(finite)
        if cell.kind == "values":
            return frozenset(_lit(v) for v in cell.values)
        if cell.kind == "cmp" and cell.op in ("==", "!="):
            v = _lit(cell.values[0])
            return frozenset([v]) if cell.op == "==" else frozenset(finite) - {v}
        raise _Opaque
    if cell.kind == "any":
        return [(None, False, None, False)]
    if cell.kind == "values":
        return [(v, True, v, True) for v in (_lit(x) for x in cell.values)]
    if cell.kind == "range":
        lo, hi = _lit(cell.values[0]), _lit(cell.values[1])
        return [(lo, True, hi, not cell.half_open)]
    v = _lit(cell.values[0])
    return {
        "<": [(None, False, v, False)],
        "<=": [(None, False, v, True)],
        ">": [(v, False, None, False)],
        ">=": [(v, True, None, False)],
        "==": [(v, True, v, True)],
        "!=": [(None, False, v, False), (v, False, None, False)],
    }[cell.op or "=="]


def _lt(a: Any, b: Any) -> bool:
    return bool(a < b)


def _intersects(x: Interval, y: Interval) -> bool:
    lo, lo_c = _max_lo(x, y)
    hi, hi_c = _min_hi(x, y)
    if lo is None or hi is None:
        return True
    if _lt(lo, hi):
        return True
    return bool(lo == hi and lo_c and hi_c)


def _max_lo(x: Interval, y: Interval) -> tuple[Any, bool]:
    if x[0] is None:
        return y[0], y[1]
    if y[0] is None:
        return x[0], x[1]
    if x[0] == y[0]:
        return x[0], x[1] and y[1]
    return (x[0], x[1]) if _lt(y[0], x[0]) else (y[0], y[1])


def _min_hi(x: Interval, y: Interval) -> tuple[Any, bool]:
    if x[2] is None:
        return y[2], y[3]
    if y[2] is None:
        return x[2], x[3]
    if x[2] == y[2]:
        return x[2], x[3] and y[3]
    return (x[2], x[3]) if _lt(x[2], y[2]) else (y[2], y[3])


def _sets_intersect(a: Any, b: Any) -> Any:
    if isinstance(a, frozenset):
        common = a & b
        return next(iter(sorted(common, key=repr)), None) if common else None
    for x in a:
        for y in b:
            if _intersects(x, y):
                lo, lo_c = _max_lo(x, y)
                hi, hi_c = _min_hi(x, y)
                return _describe_interval((lo, lo_c, hi, hi_c))
    return None


def _covers(cell: Any, region: Interval | Any, finite: bool) -> bool:
    if finite:
        return region in cell
    lo, lo_c, hi, hi_c = region
    for c in cell:
        clo, clo_c, chi, chi_c = c
        lo_ok = clo is None or (
            lo is not None and (_lt(clo, lo) or (clo == lo and (clo_c or not lo_c)))
        )
        hi_ok = chi is None or (
            hi is not None and (_lt(hi, chi) or (chi == hi and (chi_c or not hi_c)))
        )
        if lo_ok and hi_ok:
            return True
    return False


def _regions(cells: list[Any], t: T.Type) -> list[Any]:
    points = sorted(
        {b for cell in cells for iv in cell for b in (iv[0], iv[2]) if b is not None}, key=_sort_key
    )
    out: list[Interval] = []
    prev = None
    for p in points:
        if _nonempty_open(prev, p, t):
            out.append((prev, False, p, False))
        out.append((p, True, p, True))
        prev = p
    out.append((prev, False, None, False))
    return out


def _sort_key(v: Any) -> Any:
    return v


def _nonempty_open(lo: Any, hi: Any, t: T.Type) -> bool:
    if t == T.INT and lo is not None and hi is not None:
        return bool(hi - lo > 1)
    return True


def _fmt(v: Any) -> str:
    """A cell value in a message, written as a literal would be."""
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, dt.date):
        return instant_text(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple) and len(v) == 2:
        return f"{v[1]} {v[0]}"
    return str(v)


def _describe_interval(iv: Interval) -> str:
    lo, lo_c, hi, hi_c = iv
    if lo is not None and hi is not None and lo == hi:
        return f"= {_fmt(lo)}"
    parts = []
    if lo is not None:
        parts.append(f"{'>=' if lo_c else '>'} {_fmt(lo)}")
    if hi is not None:
        parts.append(f"{'<=' if hi_c else '<'} {_fmt(hi)}")
    return " and ".join(parts) if parts else "any value"


def check_table(t: A.Table, ptypes: list[T.Type]) -> TableAnalysis:
    """Overlaps (errors under the `unique` hit policy) and gaps (errors without an `else` row)."""
    found = TableAnalysis()
    problems = found.problems
    rows = [(n, r) for n, r in enumerate(t.rows, 1) if r.cells is not None]
    has_else = any(r.cells is None for r in t.rows)
    for n, r in enumerate(t.rows, 1):
        if r.cells is None and n != len(t.rows):
            problems.append(
                ("table-else-not-last", ERROR, "the `else` row must come last", r.span, None)
            )
    if not rows or len(ptypes) != len(t.params):
        return found
    if any(len(r.cells or ()) != len(t.params) for _, r in rows):
        return found  # the checker reports each row of the wrong width
    finite: list[tuple[Any, ...] | None] = []
    for pt in ptypes:
        s = T.strip(pt)
        if isinstance(s, T.EnumT):
            finite.append(s.values)
        elif s == T.BOOL:
            finite.append((True, False))
        else:
            finite.append(None)
    try:
        sets = [[_cell_set(c, finite[i]) for i, c in enumerate(r.cells or ())] for _, r in rows]
    except _Opaque:
        if not has_else:
            problems.append(
                (
                    "table-not-analysable",
                    WARNING,
                    f"table `{t.name}` has cells that are not literals, so gaps cannot be ruled out",
                    t.span,
                    "add an `else => ...` row",
                )
            )
            found.complete = False
        return found
    except (TypeError, KeyError):
        return found
    if any(len(s) != len(t.params) for s in sets):
        return found
    try:
        overlaps = _overlaps(t, rows, sets, finite)
        gap = None if has_else else _gap(t, rows, sets, ptypes, finite)
    except TypeError:
        # cells whose literals cannot be compared with each other (`< ""` in a decimal
        # column): the checker reports each such cell's type; nothing to analyse here
        return found
    problems += overlaps
    if gap is not None:
        found.gap, found.complete = gap, False
    return found


def _overlaps(
    t: A.Table,
    rows: list[tuple[int, A.TableRow]],
    sets: list[list[Any]],
    finite: list[tuple[Any, ...] | None],
) -> list[Problem]:
    problems: list[Problem] = []
    names = [p.name for p in t.params]
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            witness = []
            for col in range(len(names)):
                w = _sets_intersect(sets[i][col], sets[j][col])
                if w is None:
                    break
                witness.append(w)
            else:
                desc = ", ".join(
                    f"{names[c]} {w if isinstance(w, str) and w[:1] in '<>=a' else '= ' + _fmt(w)}"
                    for c, w in enumerate(witness)
                )
                if t.hit == "unique":
                    problems.append(
                        (
                            "table-overlap",
                            ERROR,
                            f"rows {rows[i][0]} and {rows[j][0]} of table `{t.name}` both match {desc}",
                            rows[j][1].span,
                            "make the rows exclusive, or declare the table `first`",
                        )
                    )
                elif all(
                    _covers_all(sets[i][c], sets[j][c], finite[c] is not None)
                    for c in range(len(names))
                ):
                    problems.append(
                        (
                            "table-row-unreachable",
                            WARNING,
                            f"row {rows[j][0]} of table `{t.name}` can never match: row {rows[i][0]} covers it",
                            rows[j][1].span,
                            None,
                        )
                    )
    return problems


def _gap(
    t: A.Table,
    rows: list[tuple[int, A.TableRow]],
    sets: list[list[Any]],
    ptypes: list[T.Type],
    finite: list[tuple[Any, ...] | None],
) -> Problem | None:
    names = [p.name for p in t.params]
    gap = _find_gap(list(range(len(rows))), 0, sets, ptypes, finite, names)
    if gap is None:
        return None
    return (
        "table-gap",
        ERROR,
        f"table `{t.name}` has no row for {gap}",
        t.span,
        "add a row for it, or an `else => ...` row",
    )


def _covers_all(a: Any, b: Any, finite: bool) -> bool:
    if finite:
        return bool(b <= a)
    return all(_covers(a, iv, False) for iv in b)


def _find_gap(
    rows: list[int],
    col: int,
    sets: list[list[Any]],
    ptypes: list[T.Type],
    finite: list[tuple[Any, ...] | None],
    names: list[str],
) -> str | None:
    if col == len(names):
        return None
    fin = finite[col]
    cells = [sets[r][col] for r in rows]
    regions: list[Any] = list(fin) if fin is not None else _regions(cells, T.strip(ptypes[col]))
    for region in regions:
        matching = [r for r in rows if _covers(sets[r][col], region, fin is not None)]
        if fin is not None:
            here = f"{names[col]} = {_fmt(region)}"
        elif T.is_string(T.strip(ptypes[col])) and region[0] != region[2]:
            here = f"{names[col]} not listed"
        else:
            here = f"{names[col]} {_describe_interval(region)}"
        if not matching:
            return here
        deeper = _find_gap(matching, col + 1, sets, ptypes, finite, names)
        if deeper is not None:
            return f"{here}, {deeper}"
    return None
