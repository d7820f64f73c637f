"""A semantic diff of two versions of a policy: what a reviewer of a policy change needs to see.

The two files are parsed and compared item by item, by name: rules (top-level, and inside each
decision), definitions, decisions (strategy, default, the order their rules are tried in), tables
(hit policy and rows), requirements, invariants, output fields, imports and the header (title,
source, schemas, effective period, out-of-scope clauses). Spans and comments take no part, so
reformatting a file or reordering its definitions shows no change. When a condition or a
definition differs only in literals, each threshold is shown on its own line
(`rule odr: input.odr >= 0.01 -> >= 0.015`, `let order_defect_target: 0.01 -> 0.015`).
When the terms files beside the two versions differ, the clauses added, removed or reworded
follow, each with what cites it: the rules to re-read when the contract changes.

Order is only reported where it changes a decision: the rules of a `first` or `collect` decision
(the first that fires wins; the order of collected values), the rows of a `first` table, and the
requirements (the first that fails is the input error).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .dsl import ast as A
from .dsl.diagnostics import PolicyError
from .dsl.parser import parse
from .dsl.treefiles import MAX_FILE_BYTES, policies_root_of, read_text, resolve_in_tree

# (policy id, schema file name as the header gives it) -> the schema's JSON, or None
SchemaReader = Callable[[str, str], Any]

# ---- printing the AST back as source -----------------------------------------------------------

_CMP_OPS = ("==", "!=", "<", "<=", ">", ">=")
_NAME = re.compile(r"[a-z_][a-zA-Z0-9_]*\Z")
_KEYWORDS = {
    "if",
    "then",
    "else",
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "true",
    "false",
    "for",
    "where",
    "order",
    "by",
    "desc",
    "input",
    "output",
}


def _dec(v: Decimal) -> str:
    return f"{v:f}"


def literal_text(e: A.Expr) -> str:
    """A literal as it would be written."""
    if isinstance(e, A.Literal):
        v = e.value
        if e.kind == "null" or v is None:
            return "null"
        if e.kind == "bool":
            return "true" if v else "false"
        if e.kind == "percent" and isinstance(v, Decimal):
            return _dec((v * 100).normalize()) + "%"
        if isinstance(v, Decimal):
            return _dec(v)
        if e.kind == "string":
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, dt.datetime):
            return _instant_text(v)
        if isinstance(v, dt.date):
            return v.isoformat()
        return str(v)
    if isinstance(e, A.MoneyLit):
        return f"{_dec(e.amount)} {e.currency}"
    if isinstance(e, A.DurationLit):
        unit = e.unit[:-1] if e.count == 1 and e.unit.endswith("s") else e.unit
        return f"{e.count} {unit}"
    raise TypeError(type(e).__name__)


def _instant_text(v: dt.datetime) -> str:
    """A datetime as written: minutes when there are no seconds, `Z` for UTC."""
    spec = "minutes" if v.second == 0 and v.microsecond == 0 else "auto"
    text = v.isoformat(timespec=spec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def unparse(e: Any, min_prec: int = 0) -> str:
    """An expression as source text (canonical spacing, parentheses only where needed)."""
    text, prec = _un(e)
    return f"({text})" if prec < min_prec else text


def _un(e: Any) -> tuple[str, int]:
    if isinstance(e, A.Literal | A.MoneyLit | A.DurationLit):
        return literal_text(e), 12
    if isinstance(e, A.Name):
        return e.id, 12
    if isinstance(e, A.InputRef):
        return "input", 12
    if isinstance(e, A.OutputRef):
        return "output", 12
    if isinstance(e, A.Field):
        return f"{unparse(e.obj, 11)}.{e.name}", 11
    if isinstance(e, A.Index):
        return f"{unparse(e.obj, 11)}[{unparse(e.index)}]", 11
    if isinstance(e, A.Call):
        return f"{unparse(e.func, 11)}({', '.join(unparse(a) for a in e.args)})", 11
    if isinstance(e, A.AggCall):
        return f"{e.func}({_comp(e.comp)})", 11
    if isinstance(e, A.ListComp):
        return f"[{_comp(e.comp)}]", 12
    if isinstance(e, A.MapComp):
        return "{" + f"{unparse(e.key)} => {_comp(e.comp)}" + "}", 12
    if isinstance(e, A.ListLit):
        return "[" + ", ".join(unparse(i) for i in e.items) + "]", 12
    if isinstance(e, A.RecordLit):
        parts = []
        for k, v in e.fields:
            key = k if _NAME.match(k) and k not in _KEYWORDS else json.dumps(k)
            parts.append(f"{key}: {unparse(v)}")
        return "{" + ", ".join(parts) + "}", 12
    if isinstance(e, A.Unary):
        if e.op == "not":
            return f"not {unparse(e.operand, 4)}", 4
        return f"-{unparse(e.operand, 10)}", 10
    if isinstance(e, A.Binary):
        op = e.op
        if op in _CMP_OPS or op in ("in", "not in"):
            return f"{unparse(e.left, 6)} {op} {unparse(e.right, 6)}", 5
        if op == "??":
            return f"{unparse(e.left, 7)} ?? {unparse(e.right, 8)}", 7
        if op in ("+", "-"):
            return f"{unparse(e.left, 8)} {op} {unparse(e.right, 9)}", 8
        return f"{unparse(e.left, 9)} {op} {unparse(e.right, 10)}", 9
    if isinstance(e, A.BoolOp) and e.op == "implies":
        a, b = e.operands
        right = unparse(b, 1) if isinstance(b, A.BoolOp) and b.op == "implies" else unparse(b, 2)
        return f"{unparse(a, 2)} implies {right}", 1
    if isinstance(e, A.With):
        heads = ", ".join(f"{name} = {unparse(value)}" for name, value in e.bindings)
        return f"with {heads}: {unparse(e.body)}", 1
    if isinstance(e, A.BoolOp):
        inner = 3 if e.op == "or" else 4
        return f" {e.op} ".join(unparse(o, inner) for o in e.operands), (2 if e.op == "or" else 3)
    if isinstance(e, A.IsNull):
        return f"{unparse(e.operand, 6)} is {'not ' if e.negated else ''}null", 5
    if isinstance(e, A.RangeExpr):
        return f"{unparse(e.start, 7)} {'..<' if e.half_open else '..'} {unparse(e.end, 7)}", 6
    if isinstance(e, A.If):
        return f"if {unparse(e.cond)} then {unparse(e.then)} else {unparse(e.orelse)}", 1
    if isinstance(e, A.Comprehension):
        return _comp(e), 0
    return type(e).__name__, 12


def _comp(c: A.Comprehension) -> str:
    out = f"{unparse(c.elem, 2)} for {c.var} in {unparse(c.source, 6)}"
    if c.where is not None:
        out += f" where {unparse(c.where, 2)}"
    if c.order is not None:
        out += f" order by {unparse(c.order, 2)}" + (" desc" if c.descending else "")
    if c.by is not None:
        out += f" by {unparse(c.by, 2)}"
    return out


def cell_text(c: A.Cell) -> str:
    if c.kind == "any":
        return "-"
    if c.kind == "cmp":
        return f"{c.op} {unparse(c.values[0], 8)}"
    if c.kind == "range":
        return (
            f"{unparse(c.values[0], 8)} {'..<' if c.half_open else '..'} {unparse(c.values[1], 8)}"
        )
    return ", ".join(unparse(v, 8) for v in c.values)


def row_text(r: A.TableRow) -> str:
    if r.cells is None:
        return f"else => {unparse(r.result)}"
    return "| " + " | ".join(cell_text(c) for c in r.cells) + f" => {unparse(r.result)}"


def _params(ps: tuple[A.Param, ...] | None) -> str:
    if ps is None:
        return "none"

    def tref(t: A.TypeRef) -> str:
        base = f"{t.name}[{tref(t.arg)}]" if t.arg is not None else t.name
        return base + ("?" if t.nullable else "")

    return "(" + ", ".join(p.name + (f": {tref(p.type)}" if p.type else "") for p in ps) + ")"


def _effective_text(e: A.Effective | None) -> str:
    if e is None:
        return "always"

    def inst(v: Any) -> str:
        if isinstance(v, dt.datetime):
            return _instant_text(v)
        return v.isoformat() if v is not None else ""

    parts = []
    if e.start is not None:
        parts.append(f"from {inst(e.start)}")
    if e.until is not None:
        parts.append(f"until {inst(e.until)}")
    if e.zone is not None:
        parts.append(f'in "{e.zone}"')
    return " ".join(parts) or "always"


# ---- equality that ignores how a value was written ----------------------------------------------


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


def _is_literal(e: Any) -> bool:
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
        or _is_literal(a)
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
    if not (_is_literal(old) and _is_literal(new)):
        return None
    if not (isinstance(po, A.Binary) and isinstance(pn, A.Binary) and po.op == pn.op):
        return None
    op = po.op
    if op not in _CMP_OPS:
        return None
    if po.right is old and pn.right is new and same(po.left, pn.left):
        lhs = unparse(po.left, 6)
        return f"{lhs} {op} {unparse(old, 6)} -> {op} {unparse(new, 6)}"
    if po.left is old and pn.left is new and same(po.right, pn.right):
        rhs = unparse(po.right, 6)
        return f"{unparse(old, 6)} {op} {rhs} -> {unparse(new, 6)} {op} {rhs}"
    return None


# ---- the result ------------------------------------------------------------------------------


@dataclass
class Detail:
    """One aspect of a change: what differs, old and new."""

    aspect: str  # condition, threshold, value, reason, citations, then, priority, ...
    text: str  # one line, for people
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"aspect": self.aspect, "text": self.text, "old": self.old, "new": self.new}


@dataclass
class Change:
    """An item added, removed or changed."""

    section: str  # header, import, let, rule, decision, table, require, invariant, output, schema
    name: str
    action: str  # added, removed, changed
    details: list[Detail] = field(default_factory=list)
    old_line: int | None = None
    new_line: int | None = None

    def lines(self) -> list[str]:
        label = f"{self.section} {self.name}"
        if self.action == "added":
            extra = f": {self.details[0].text}" if self.details else ""
            return [f"+ {label} added{extra}"]
        if self.action == "removed":
            extra = f"; {self.details[0].text}" if self.details else ""
            return [f"- {label} removed{extra}"]
        return [f"~ {label}: {d.text}" for d in self.details] or [f"~ {label} changed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "action": self.action,
            "details": [d.to_json() for d in self.details],
            "old_line": self.old_line,
            "new_line": self.new_line,
        }


@dataclass
class PolicyDiff:
    old_label: str
    new_label: str
    policy_id: str
    old_version: str | None
    new_version: str | None
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def title(self) -> str:
        ov, nv = self.old_version or "?", self.new_version or "?"
        versions = f"{ov} -> {nv}" if ov != nv else ov
        title = f"{self.policy_id} {versions}"
        if (self.old_label, self.new_label) != (f"{self.policy_id} {ov}", f"{self.policy_id} {nv}"):
            title += f" ({self.old_label} -> {self.new_label})"
        return title

    def text(self) -> str:
        lines = [self.title()]
        if not self.changes:
            lines.append("no semantic changes")
        for c in self.changes:
            lines.extend("  " + ln for ln in c.lines())
        n = sum(len(c.lines()) for c in self.changes)
        if self.changes:
            lines.append(f"{n} change(s)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy_id,
            "old": {"label": self.old_label, "version": self.old_version},
            "new": {"label": self.new_label, "version": self.new_version},
            "changed": self.changed,
            "changes": [c.to_json() for c in self.changes],
        }


# ---- comparing -------------------------------------------------------------------------------


def _line(node: Any) -> int | None:
    span = A.span_of(node)
    return span.line if span.line > 0 else None


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def expr_details(old: A.Expr, new: A.Expr, aspect: str, prefix: str = "") -> list[Detail]:
    """How an expression changed: one line per threshold when only literals moved, else the
    expression (or, when it is long, each differing part)."""
    if same(old, new):
        return []
    diffs = _node_diffs(old, new)
    if _is_literal(old) and _is_literal(new):
        o, n = unparse(old), unparse(new)
        return [Detail("threshold", f"{prefix}{o} -> {n}", o, n)]
    thresholds = [_threshold(*d) for d in diffs]
    if diffs and all(t is not None for t in thresholds):
        return [
            Detail("threshold", f"{prefix}{t}", unparse(d[0]), unparse(d[1]))
            for t, d in zip(thresholds, diffs, strict=True)
            if t is not None
        ]
    o_text, n_text = unparse(old), unparse(new)
    if len(o_text) + len(n_text) <= 200 or not diffs:
        return [
            Detail(
                aspect, f"{prefix}{_short(o_text, 400)} -> {_short(n_text, 400)}", o_text, n_text
            )
        ]
    out = []
    for d, t in zip(diffs, thresholds, strict=True):
        if t is not None:
            out.append(Detail("threshold", f"{prefix}{t}", unparse(d[0]), unparse(d[1])))
        else:
            o, n = unparse(d[0]), unparse(d[1])
            out.append(Detail(aspect, f"{prefix}{_short(o)} -> {_short(n)}", o, n))
    return out


def _simple(
    aspect: str, label: str, old: Any, new: Any, show: Callable[[Any], str]
) -> list[Detail]:
    if same(old, new):
        return []
    text = f"{show(old)} -> {show(new)}"
    return [Detail(aspect, f"{label} {text}" if label else text, show(old), show(new))]


def _opt(e: A.Expr | None, none: str) -> str:
    return none if e is None else unparse(e)


def _cites(c: tuple[str, ...]) -> str:
    return ", ".join(c) if c else "(none)"


def _quoted(s: str | None) -> str:
    return json.dumps(s, ensure_ascii=False) if s is not None else "(none)"


def _rule_details(old: A.Rule, new: A.Rule) -> list[Detail]:
    out: list[Detail] = []
    out += _simple("params", "parameters", old.params, new.params, _params)
    whole = unparse(old.when)
    for d in expr_details(old.when, new.when, "condition"):
        if d.aspect == "condition" and d.old == whole:
            d.text = f"when {d.old} -> when {d.new}"
        elif d.aspect == "condition":
            d.text = "in the condition: " + d.text
        out.append(d)
    out += _simple("reason", "reason", old.reason, new.reason, _quoted)
    out += _simple("citations", "cites", old.cites, new.cites, _cites)
    if not same(old.then, new.then):
        if old.then is None or new.then is None:
            a, b = _opt(old.then, "(the rule's name)"), _opt(new.then, "(the rule's name)")
            out.append(Detail("then", f"then {a} -> {b}", a, b))
        else:
            out += expr_details(old.then, new.then, "then", "then ")
    out += _simple(
        "priority",
        "priority",
        old.priority,
        new.priority,
        lambda p: "(none)" if p is None else str(p),
    )
    return out


def _rule_added(r: A.Rule) -> list[Detail]:
    text = f"when {_short(unparse(r.when))}"
    if r.then is not None:
        text += f" then {_short(unparse(r.then), 80)}"
    return [Detail("rule", text, None, unparse(r.when))]


def _order(old_names: list[str], new_names: list[str]) -> Detail | None:
    common = set(old_names) & set(new_names)
    a = [n for n in old_names if n in common]
    b = [n for n in new_names if n in common]
    if a == b:
        return None
    return Detail("order", f"order {', '.join(a)} -> {', '.join(b)}", a, b)


def _eval_order(d: A.Decision) -> list[str]:
    rules = list(d.rules)
    if d.strategy == "priority":
        rules.sort(key=lambda r: -(r.priority or 0))
    return [r.name for r in rules]


def _by_name(rules: Iterable[A.Rule]) -> dict[str, A.Rule]:
    out: dict[str, A.Rule] = {}
    for r in rules:
        out.setdefault(r.name, r)
    return out


def _decision_changes(old: A.Decision, new: A.Decision) -> list[Change]:
    details: list[Detail] = []
    details += _simple("params", "parameters", old.params, new.params, _params)
    details += _simple("strategy", "strategy", old.strategy, new.strategy, str)
    details += _simple("citations", "cites", old.cites, new.cites, _cites)
    if not same(old.default, new.default):
        if old.default is None or new.default is None:
            a, b = _opt(old.default, "(none: null)"), _opt(new.default, "(none: null)")
            details.append(Detail("default", f"else {a} -> {b}", a, b))
        else:
            details += expr_details(old.default, new.default, "default", "else ")
    if new.strategy in ("first", "collect", "priority") and old.strategy == new.strategy:
        od = _order(_eval_order(old), _eval_order(new))
        if od is not None:
            od.text = "rules tried in the " + od.text
            details.append(od)
    out: list[Change] = []
    if details:
        out.append(Change("decision", new.name, "changed", details, _line(old), _line(new)))
    o, n = _by_name(old.rules), _by_name(new.rules)
    for name, r in n.items():
        key = f"{new.name}.{name}"
        if name not in o:
            out.append(Change("rule", key, "added", _rule_added(r), None, _line(r)))
        else:
            rd = _rule_details(o[name], r)
            if rd:
                out.append(Change("rule", key, "changed", rd, _line(o[name]), _line(r)))
    for name, r in o.items():
        if name not in n:
            out.append(Change("rule", f"{old.name}.{name}", "removed", [], _line(r), None))
    return out


def _row_changes(old: A.Table, new: A.Table) -> list[Detail]:
    """Rows added, removed and changed: rows are matched when equal, then by their cells, then
    in order; for a `first` table a change of the order of matched rows is reported too."""
    orows = [r for r in old.rows if r.cells is not None]
    nrows = [r for r in new.rows if r.cells is not None]
    pairs: dict[int, int] = {}  # old index -> new index
    used: set[int] = set()
    for i, r in enumerate(orows):
        for j, s in enumerate(nrows):
            if j not in used and same(r, s):
                pairs[i] = j
                used.add(j)
                break
    changed: list[tuple[int, int]] = []
    for i, r in enumerate(orows):
        if i in pairs:
            continue
        for j, s in enumerate(nrows):
            if j not in used and same(r.cells, s.cells):
                pairs[i] = j
                used.add(j)
                changed.append((i, j))
                break
    left_o = [i for i in range(len(orows)) if i not in pairs]
    left_n = [j for j in range(len(nrows)) if j not in used]
    for i, j in zip(left_o, left_n, strict=False):
        if len(orows[i].cells or ()) == len(nrows[j].cells or ()):
            pairs[i] = j
            used.add(j)
            changed.append((i, j))
    out: list[Detail] = []
    for i, j in sorted(changed, key=lambda p: p[1]):
        a, b = orows[i], nrows[j]
        cells_diff = [
            _threshold_cell(c, d)
            for c, d in zip(a.cells or (), b.cells or (), strict=True)
            if not same(c, d)
        ]
        if same(a.result, b.result) and cells_diff and all(t is not None for t in cells_diff):
            for t in cells_diff:
                out.append(Detail("threshold", f"row {j + 1}: {t}", row_text(a), row_text(b)))
        else:
            out.append(
                Detail(
                    "row", f"row {j + 1}: {row_text(a)} -> {row_text(b)}", row_text(a), row_text(b)
                )
            )
    for j in range(len(nrows)):
        if j not in used:
            out.append(
                Detail(
                    "row added",
                    f"row {j + 1} added: {row_text(nrows[j])}",
                    None,
                    row_text(nrows[j]),
                )
            )
    for i in range(len(orows)):
        if i not in pairs:
            out.append(
                Detail(
                    "row removed",
                    f"row {i + 1} removed: {row_text(orows[i])}",
                    row_text(orows[i]),
                    None,
                )
            )
    if new.hit == "first" and old.hit == "first":
        order_old = sorted(pairs, key=lambda i: i)
        if [pairs[i] for i in order_old] != sorted(pairs[i] for i in order_old):
            out.append(
                Detail("order", "rows reordered (the first row that matches wins)", None, None)
            )
    oe = next((r for r in old.rows if r.cells is None), None)
    ne = next((r for r in new.rows if r.cells is None), None)
    if not same(oe, ne):
        else_old = _opt(oe.result if oe else None, "(none)")
        else_new = _opt(ne.result if ne else None, "(none)")
        out.append(Detail("default", f"else => {else_old} -> {else_new}", else_old, else_new))
    return out


def _threshold_cell(a: A.Cell, b: A.Cell) -> str | None:
    if (
        a.kind == b.kind == "cmp"
        and a.op == b.op
        and _is_literal(a.values[0])
        and _is_literal(b.values[0])
    ):
        return f"{cell_text(a)} -> {cell_text(b)}"
    return None


def _table_details(old: A.Table, new: A.Table) -> list[Detail]:
    out: list[Detail] = []
    out += _simple("params", "columns", old.params, new.params, _params)
    out += _simple("hit", "hit policy", old.hit, new.hit, str)
    out += _simple("citations", "cites", old.cites, new.cites, _cites)
    out += _row_changes(old, new)
    return out


def _require_text(r: A.Require) -> str:
    fors = "".join(
        f" for {f.var} in {unparse(f.source, 6)}"
        + (f" where {unparse(f.where)}" if f.where else "")
        for f in r.fors
    )
    cites = f"cites {', '.join(r.cites)} " if r.cites else ""
    return f"{cites}{fors.strip()}: {unparse(r.cond)} at {unparse(r.at)}".strip()


def _require_changes(old: list[A.Require], new: list[A.Require]) -> list[Change]:
    """Requirements are matched by code (equal ones first, then in order within one code)."""
    out: list[Change] = []
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for i, r in enumerate(old):
        for j, s in enumerate(new):
            if j not in used and s.code == r.code and same(r, s):
                pairs[i] = j
                used.add(j)
                break
    for i, r in enumerate(old):
        if i in pairs:
            continue
        for j, s in enumerate(new):
            if j not in used and s.code == r.code:
                pairs[i] = j
                used.add(j)
                details: list[Detail] = []
                if not same(r.fors, s.fors):
                    a = (
                        " ".join(f"for {f.var} in {unparse(f.source, 6)}" for f in r.fors)
                        or "(none)"
                    )
                    b = (
                        " ".join(f"for {f.var} in {unparse(f.source, 6)}" for f in s.fors)
                        or "(none)"
                    )
                    if a == b:
                        a, b = _require_text(r), _require_text(s)
                    details.append(Detail("for", f"{a} -> {b}", a, b))
                details += expr_details(r.cond, s.cond, "condition")
                details += expr_details(r.at, s.at, "at", "at ")
                details += _simple("message", "message", r.message, s.message, _quoted)
                details += _simple("citations", "cites", r.cites, s.cites, _cites)
                out.append(Change("require", s.code, "changed", details, _line(r), _line(s)))
                break
    for j, s in enumerate(new):
        if j not in used:
            out.append(
                Change(
                    "require",
                    s.code,
                    "added",
                    [Detail("require", _short(_require_text(s)))],
                    None,
                    _line(s),
                )
            )
    for i, r in enumerate(old):
        if i not in pairs:
            out.append(Change("require", r.code, "removed", [], _line(r), None))
    order_old = sorted(pairs)
    if [pairs[i] for i in order_old] != sorted(pairs.values()):
        codes_old = [old[i].code for i in order_old]
        codes_new = [new[j].code for j in sorted(pairs.values())]
        out.append(
            Change(
                "require",
                "(order)",
                "changed",
                [
                    Detail(
                        "order",
                        f"checked in the order {', '.join(codes_old)} -> {', '.join(codes_new)}",
                        codes_old,
                        codes_new,
                    )
                ],
            )
        )
    return out


def _output_changes(old: A.Expr | None, new: A.Expr | None, path: str = "output") -> list[Change]:
    if same(old, new):
        return []
    if old is None or new is None:
        action = "added" if old is None else "removed"
        return [Change("output", path, action, [], _line(old), _line(new))]
    if isinstance(old, A.RecordLit) and isinstance(new, A.RecordLit):
        o, n = dict(old.fields), dict(new.fields)
        out: list[Change] = []
        for k, v in n.items():
            sub = f"{path}.{k}"
            if k not in o:
                out.append(
                    Change(
                        "output",
                        sub,
                        "added",
                        [Detail("field", _short(unparse(v)))],
                        None,
                        _line(v),
                    )
                )
            else:
                out.extend(_output_changes(o[k], v, sub))
        for k, v in o.items():
            if k not in n:
                out.append(Change("output", f"{path}.{k}", "removed", [], _line(v), None))
        return out
    return [
        Change("output", path, "changed", expr_details(old, new, "value"), _line(old), _line(new))
    ]


def _header_changes(
    old: A.Header, new: A.Header, reader_old: SchemaReader | None, reader_new: SchemaReader | None
) -> list[Change]:
    out: list[Change] = []

    def add(name: str, details: list[Detail]) -> None:
        if details:
            out.append(Change("header", name, "changed", details, _line(old), _line(new)))

    add("kind", _simple("kind", "", old.kind, new.kind, str))
    add("id", _simple("id", "", old.id, new.id, _quoted))
    add("title", _simple("title", "", old.title, new.title, _quoted))
    add("source", _simple("source", "", old.source_doc, new.source_doc, _quoted))
    add("input schema", _simple("schema", "", old.input_schema, new.input_schema, _quoted))
    add("output schema", _simple("schema", "", old.output_schema, new.output_schema, _quoted))
    if not same(old.effective, new.effective):
        a, b = _effective_text(old.effective), _effective_text(new.effective)
        out.append(
            Change(
                "header",
                "effective",
                "changed",
                [Detail("effective", f"{a} -> {b}", a, b)],
                _line(old.effective or old),
                _line(new.effective or new),
            )
        )
    oo = {o.clause: o for o in old.out_of_scope}
    no = {o.clause: o for o in new.out_of_scope}
    for c, o in no.items():
        if c not in oo:
            out.append(
                Change(
                    "out of scope",
                    c,
                    "added",
                    [Detail("reason", _quoted(o.reason))],
                    None,
                    _line(o),
                )
            )
        elif oo[c].reason != o.reason:
            out.append(
                Change(
                    "out of scope",
                    c,
                    "changed",
                    _simple("reason", "reason", oo[c].reason, o.reason, _quoted),
                    _line(oo[c]),
                    _line(o),
                )
            )
    for c, o in oo.items():
        if c not in no:
            out.append(Change("out of scope", c, "removed", [], _line(o), None))
    for what, ref_old, ref_new in (
        ("input", old.input_schema, new.input_schema),
        ("output", old.output_schema, new.output_schema),
    ):
        if reader_old is None or reader_new is None or not ref_old or not ref_new:
            continue
        ja, jb = reader_old(old.id, ref_old), reader_new(new.id, ref_new)
        if ja is None or jb is None or ja == jb:
            continue
        paths = json_changes(ja, jb)
        details = [Detail("schema", f"{p}: {what_}", None, None) for p, what_ in paths[:20]]
        if len(paths) > 20:
            details.append(Detail("schema", f"... and {len(paths) - 20} more", None, None))
        out.append(Change("schema", f"{what} ({ref_new})", "changed", details))
    return out


def json_changes(a: Any, b: Any, path: str = "") -> list[tuple[str, str]]:
    """JSON pointers where two JSON values differ: added, removed, or changed."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[tuple[str, str]] = []
        for k in b:
            p = f"{path}/{str(k).replace('~', '~0').replace('/', '~1')}"
            if k not in a:
                out.append((p, "added"))
            else:
                out.extend(json_changes(a[k], b[k], p))
        for k in a:
            if k not in b:
                out.append((f"{path}/{str(k).replace('~', '~0').replace('/', '~1')}", "removed"))
        return out
    if a == b and type(a) is type(b):
        return []
    return [(path or "/", f"{json.dumps(a)} -> {json.dumps(b)}")]


def _kind(item: A.Item) -> str:
    return {
        A.Let: "let",
        A.Rule: "rule",
        A.Decision: "decision",
        A.Table: "table",
        A.Invariant: "invariant",
    }.get(type(item), "")


def _let_details(old: A.Let, new: A.Let) -> list[Detail]:
    out = _simple("params", "parameters", old.params, new.params, _params)
    return out + expr_details(old.body, new.body, "value")


def _invariant_details(old: A.Invariant, new: A.Invariant) -> list[Detail]:
    out = _simple("description", "description", old.description, new.description, _quoted)
    out += _simple("citations", "cites", old.cites, new.cites, _cites)
    return out + expr_details(old.body, new.body, "condition")


def diff_policies(
    old: A.PolicyFile,
    new: A.PolicyFile,
    old_label: str = "old",
    new_label: str = "new",
    old_schemas: SchemaReader | None = None,
    new_schemas: SchemaReader | None = None,
) -> PolicyDiff:
    """Compare two parsed policy (or module) files item by item."""
    result = PolicyDiff(old_label, new_label, new.header.id, old.header.version, new.header.version)
    ch = result.changes
    ch += _header_changes(old.header, new.header, old_schemas, new_schemas)
    oi = {i.alias: i for i in old.imports}
    ni = {i.alias: i for i in new.imports}
    for alias, imp in ni.items():
        if alias not in oi:
            ch.append(
                Change(
                    "import", alias, "added", [Detail("path", _quoted(imp.path))], None, _line(imp)
                )
            )
        elif oi[alias].path != imp.path:
            ch.append(
                Change(
                    "import",
                    alias,
                    "changed",
                    _simple("path", "path", oi[alias].path, imp.path, _quoted),
                    _line(oi[alias]),
                    _line(imp),
                )
            )
    for alias, imp in oi.items():
        if alias not in ni:
            ch.append(Change("import", alias, "removed", [], _line(imp), None))

    def named(f: A.PolicyFile) -> dict[tuple[str, str], A.Item]:
        out: dict[tuple[str, str], A.Item] = {}
        for item in f.items:
            k = _kind(item)
            if k:
                out.setdefault((k, getattr(item, "name", "")), item)
        return out

    o, n = named(old), named(new)
    for key, item in n.items():
        kind, name = key
        if key not in o:
            details: list[Detail] = []
            if isinstance(item, A.Rule):
                details = _rule_added(item)
            elif isinstance(item, A.Let):
                details = [
                    Detail("value", f"= {_short(unparse(item.body))}", None, unparse(item.body))
                ]
            elif isinstance(item, A.Decision):
                details = [
                    Detail(
                        "decision",
                        f"{item.strategy}, rules {', '.join(r.name for r in item.rules)}",
                    )
                ]
            elif isinstance(item, A.Table):
                details = [Detail("table", f"{item.hit}, {len(item.rows)} row(s)")]
            elif isinstance(item, A.Invariant):
                details = [Detail("invariant", _quoted(item.description))]
            ch.append(Change(kind, name, "added", details, None, _line(item)))
            continue
        before = o[key]
        if same(before, item):
            continue
        if isinstance(item, A.Decision) and isinstance(before, A.Decision):
            ch.extend(_decision_changes(before, item))
            continue
        if isinstance(item, A.Rule) and isinstance(before, A.Rule):
            d = _rule_details(before, item)
        elif isinstance(item, A.Let) and isinstance(before, A.Let):
            d = _let_details(before, item)
        elif isinstance(item, A.Table) and isinstance(before, A.Table):
            d = _table_details(before, item)
        elif isinstance(item, A.Invariant) and isinstance(before, A.Invariant):
            d = _invariant_details(before, item)
        else:
            d = []
        ch.append(Change(kind, name, "changed", d, _line(before), _line(item)))
    for key, item in o.items():
        if key not in n:
            ch.append(Change(key[0], key[1], "removed", [], _line(item), None))
    ch += _require_changes(
        [i for i in old.items if isinstance(i, A.Require)],
        [i for i in new.items if isinstance(i, A.Require)],
    )
    oo = next((i.body for i in old.items if isinstance(i, A.Output)), None)
    no = next((i.body for i in new.items if isinstance(i, A.Output)), None)
    ch += _output_changes(oo, no)
    return result


# ---- where the two versions come from ---------------------------------------------------------


class DiffError(Exception):
    """The versions to compare cannot be found or read."""


@dataclass
class Side:
    label: str
    text: str
    path: str  # reported in diagnostics
    schemas: SchemaReader | None
    terms: str | None = None  # the text of the terms file beside the policy, if it has one


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _file_reader(policy_path: Path) -> SchemaReader:
    def read(policy_id: str, name: str) -> Any:
        # only inside the policies root, as `check` reads it (see `treefiles`)
        root = policies_root_of(policy_path, policy_id)
        try:
            return _json_or_none(read_text(resolve_in_tree(root, policy_path.parent, name)))
        except (OSError, UnicodeDecodeError):
            return None

    return read


def file_side(path: Path, label: str | None = None) -> Side:
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as e:
        why = "it is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or e
        raise DiffError(f"cannot read {path}: {why}") from None
    from .dsl.terms import terms_path

    try:
        terms: str | None = read_text(terms_path(path))
    except (OSError, UnicodeDecodeError):
        terms = None  # none, or unreadable: `check` reports that
    return Side(label or str(path), text, str(path), _file_reader(path), terms)


def git_show(rev: str, path: Path, limit: int = MAX_FILE_BYTES) -> str | None:
    """The text of `path` at git revision `rev` (None when it does not exist there, or is not
    a file there: a symlink, a submodule); at most `limit` bytes (`DiffError` past it)."""
    folder = path.parent if str(path.parent) else Path(".")
    spec = f"{rev}:./{path.name}"
    kind = _git(folder, ["cat-file", "-t", spec], 100, quiet_missing=True)
    if kind is None:
        return None
    if kind.strip() != b"blob" or _git_mode(folder, rev, path.name) not in ("100644", "100755"):
        return None
    data = _git(folder, ["cat-file", "blob", spec], limit)
    if data is None:
        return None
    try:
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError:
        raise DiffError(f"{rev}:{path} is not UTF-8 text") from None


def _git_mode(folder: Path, rev: str, name: str) -> str | None:
    out = _git(folder, ["ls-tree", rev, "--", f"./{name}"], 64 * 1024, quiet_missing=True)
    if not out:
        return None
    return out.decode("utf-8", "replace").split(" ", 1)[0]


def _git(folder: Path, args: list[str], limit: int, quiet_missing: bool = False) -> bytes | None:
    """The output of a git command, read up to `limit` bytes (a larger output is an error)."""
    try:
        proc = subprocess.Popen(
            ["git", "-C", str(folder), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as e:
        raise DiffError(f"cannot run git: {e.strerror or e}") from None
    assert proc.stdout is not None and proc.stderr is not None
    with proc:
        data = proc.stdout.read(limit + 1)
        if len(data) > limit:
            proc.kill()
            raise DiffError(f"git {args[0]} {args[-1]}: larger than {limit} bytes")
        err = proc.stderr.read(64 * 1024).decode("utf-8", "replace").strip()
        code = proc.wait()
    if code != 0:
        if quiet_missing and ("does not exist" in err or "exists on disk, but not in" in err):
            return None
        raise DiffError(f"git {' '.join(args)}: {err or 'failed'}")
    return data


def git_side(rev: str, path: Path) -> Side | None:
    text = git_show(rev, path)
    if text is None:
        return None

    def read(policy_id: str, name: str) -> Any:
        # the schema at the revision, inside the policies root as `check` would read it
        root = policies_root_of(path, policy_id)
        try:
            schema_path = resolve_in_tree(root, path.parent, name)
            return _json_or_none(git_show(rev, schema_path))
        except (DiffError, OSError):
            return None

    from .dsl.terms import terms_path

    try:
        terms = git_show(rev, terms_path(path))
    except DiffError:
        terms = None
    return Side(f"{path} at {rev}", text, f"{rev}:{path}", read, terms)


def version_side(root: Path, policy_id: str, version: str) -> Side:
    from .engine.store import EXTENSION

    path = root / policy_id / f"{version}{EXTENSION}"
    if not path.is_file():
        folder = root / policy_id
        have = sorted(p.stem for p in folder.glob(f"*{EXTENSION}")) if folder.is_dir() else []
        hint = f" (it has {', '.join(have)})" if have else f" (no folder {folder})"
        raise DiffError(f"{policy_id} has no version {version}{hint}")
    return file_side(path, f"{policy_id} {version}")


def parse_side(side: Side) -> A.PolicyFile:
    return parse(side.text, side.path)


def diff_sides(old: Side, new: Side) -> PolicyDiff:
    """Parse both sides and compare them. Raises `PolicyError` when either does not parse."""
    old_tree, new_tree = parse_side(old), parse_side(new)
    result = diff_policies(old_tree, new_tree, old.label, new.label, old.schemas, new.schemas)
    result.changes += terms_changes(old, new, old_tree, new_tree)
    return result


def _reworded(old: str, new: str) -> str:
    """The sentences that differ between two texts of a clause, old -> new (the sentences both
    share at the start and at the end are left out, as `...`)."""
    split = re.compile(r"(?<=[.;!?])\s+")
    a, b = split.split(" ".join(old.split())), split.split(" ".join(new.split()))
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    before = "... " if head else ""
    after = " ..." if tail else ""
    da = " ".join(a[head : len(a) - tail]) or "(nothing)"
    db = " ".join(b[head : len(b) - tail]) or "(nothing)"
    return f'"{before}{_short(da)}{after}" -> "{before}{_short(db)}{after}"'


def terms_changes(
    old: Side, new: Side, old_tree: A.PolicyFile, new_tree: A.PolicyFile
) -> list[Change]:
    """The clauses added, removed or reworded between the terms files of two versions, each
    with the items citing it: the rules a reviewer re-reads when the contract changes."""
    from .dsl.terms import citations_of, parse_terms, terms_path

    if old.terms is None and new.terms is None:
        return []
    name = terms_path(new.path).name
    if old.terms is None or new.terms is None:
        return [Change("terms", name, "added" if old.terms is None else "removed")]
    before, _ = parse_terms(old.terms, str(terms_path(old.path)))
    after, _ = parse_terms(new.terms, str(terms_path(new.path)))
    if before is None or after is None:
        return []

    def citing(tree: A.PolicyFile, cid: str, verb: str = "cited by") -> str:
        users = [f"{c.kind} {c.name}" for c in citations_of(tree.items) if c.clause == cid]
        if users:
            return f"{verb} " + ", ".join(users)
        scoped = [o.reason for o in tree.header.out_of_scope if o.clause == cid]
        return f"out of scope: {scoped[0]}" if scoped else "cited by nothing"

    out: list[Change] = []
    for clause in after.clauses:
        was = before.get(clause.id)
        line = clause.span.line
        if was is None:
            text = f'"{clause.short()}"; {citing(new_tree, clause.id)}'
            out.append(
                Change(
                    "clause",
                    clause.id,
                    "added",
                    [Detail("text", text, None, clause.text)],
                    None,
                    line,
                )
            )
            continue
        details: list[Detail] = []
        if was.text != clause.text:
            details.append(
                Detail(
                    "text",
                    "reworded: " + _reworded(was.text, clause.text),
                    was.text,
                    clause.text,
                )
            )
        if was.original != clause.original:
            details.append(
                Detail("original", "original wording changed", was.original, clause.original)
            )
        if details:
            users = citing(new_tree, clause.id, "re-read:")
            details.append(Detail("cited by", users, None, users))
            out.append(Change("clause", clause.id, "changed", details, was.span.line, line))
    for clause in before.clauses:
        if after.get(clause.id) is None:
            text = citing(old_tree, clause.id, "was cited by")
            out.append(
                Change(
                    "clause",
                    clause.id,
                    "removed",
                    [Detail("cited by", text)],
                    clause.span.line,
                    None,
                )
            )
    return out


def added_policy(new: Side, rev: str) -> PolicyDiff:
    """A file that did not exist at `rev`: the whole policy is new."""
    tree = parse_side(new)
    d = PolicyDiff(f"(not in {rev})", new.label, tree.header.id, None, tree.header.version)
    d.changes.append(
        Change("policy", tree.header.id, "added", [Detail("file", f"new file {new.path}")])
    )
    return d


__all__ = [
    "Change",
    "Detail",
    "DiffError",
    "PolicyDiff",
    "PolicyError",
    "Side",
    "added_policy",
    "diff_policies",
    "diff_sides",
    "file_side",
    "git_side",
    "json_changes",
    "same",
    "unparse",
    "version_side",
]
