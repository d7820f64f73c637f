"""Comparing two parsed versions of a policy item by item (see the package's description)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ...dsl import ast as A
from ...dsl.printer import cell_text, effective_text, expr_text, params_text, quote
from .exprs import expr_details, is_literal, row_text, same, short
from .model import Change, Detail, PolicyDiff

# (policy id, schema file name as the header gives it) -> the schema's JSON, or None
SchemaReader = Callable[[str, str], Any]


class TermsSide(Protocol):
    """One version's terms: the text of the terms file beside the policy (None: it has none)
    and the path the policy is reported at."""

    @property
    def terms(self) -> str | None: ...

    @property
    def path(self) -> str: ...


def _line(node: Any) -> int | None:
    span = A.span_of(node)
    return span.line if span.line > 0 else None


def _simple(
    aspect: str, label: str, old: Any, new: Any, show: Callable[[Any], str]
) -> list[Detail]:
    if same(old, new):
        return []
    text = f"{show(old)} -> {show(new)}"
    return [Detail(aspect, f"{label} {text}" if label else text, show(old), show(new))]


def _opt(e: A.Expr | None, none: str) -> str:
    return none if e is None else expr_text(e)


def _cite_list(c: tuple[str, ...]) -> str:
    return ", ".join(c) if c else "(none)"


def _quoted(s: str | None) -> str:
    return quote(s) if s is not None else "(none)"


def _params(ps: tuple[A.Param, ...] | None) -> str:
    return "none" if ps is None else params_text(ps)


def _effective_text(e: A.Effective | None) -> str:
    """`from 2024-01-01T10:00+02:00 until 2025-01-01 in "Europe/Paris"`, or `always`."""
    return effective_text(e).removeprefix("effective").strip() if e is not None else "always"


def _rule_details(old: A.Rule, new: A.Rule) -> list[Detail]:
    out: list[Detail] = []
    out += _simple("params", "parameters", old.params, new.params, _params)
    whole = expr_text(old.when)
    for d in expr_details(old.when, new.when, "condition"):
        if d.aspect == "condition" and d.old == whole:
            d.text = f"when {d.old} -> when {d.new}"
        elif d.aspect == "condition":
            d.text = "in the condition: " + d.text
        out.append(d)
    out += _simple("reason", "reason", old.reason, new.reason, _quoted)
    out += _simple("citations", "cites", old.cites, new.cites, _cite_list)
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
    text = f"when {short(expr_text(r.when))}"
    if r.then is not None:
        text += f" then {short(expr_text(r.then), 80)}"
    return [Detail("rule", text, None, expr_text(r.when))]


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
    details += _simple("citations", "cites", old.cites, new.cites, _cite_list)
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
        and is_literal(a.values[0])
        and is_literal(b.values[0])
    ):
        return f"{cell_text(a)} -> {cell_text(b)}"
    return None


def _table_details(old: A.Table, new: A.Table) -> list[Detail]:
    out: list[Detail] = []
    out += _simple("params", "columns", old.params, new.params, _params)
    out += _simple("hit", "hit policy", old.hit, new.hit, str)
    out += _simple("citations", "cites", old.cites, new.cites, _cite_list)
    out += _row_changes(old, new)
    return out


def _require_text(r: A.Require) -> str:
    fors = "".join(
        f" for {f.var} in {expr_text(f.source)}"
        + (f" where {expr_text(f.where)}" if f.where else "")
        for f in r.fors
    )
    cites = f"cites {', '.join(r.cites)} " if r.cites else ""
    return f"{cites}{fors.strip()}: {expr_text(r.cond)} at {expr_text(r.at)}".strip()


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
                        " ".join(f"for {f.var} in {expr_text(f.source)}" for f in r.fors)
                        or "(none)"
                    )
                    b = (
                        " ".join(f"for {f.var} in {expr_text(f.source)}" for f in s.fors)
                        or "(none)"
                    )
                    if a == b:
                        a, b = _require_text(r), _require_text(s)
                    details.append(Detail("for", f"{a} -> {b}", a, b))
                details += expr_details(r.cond, s.cond, "condition")
                details += expr_details(r.at, s.at, "at", "at ")
                details += _simple("message", "message", r.message, s.message, _quoted)
                details += _simple("citations", "cites", r.cites, s.cites, _cite_list)
                out.append(Change("require", s.code, "changed", details, _line(r), _line(s)))
                break
    for j, s in enumerate(new):
        if j not in used:
            out.append(
                Change(
                    "require",
                    s.code,
                    "added",
                    [Detail("require", short(_require_text(s)))],
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
                        [Detail("field", short(expr_text(v)))],
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
    out += _simple("citations", "cites", old.cites, new.cites, _cite_list)
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
                    Detail("value", f"= {short(expr_text(item.body))}", None, expr_text(item.body))
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
    return f'"{before}{short(da)}{after}" -> "{before}{short(db)}{after}"'


def terms_changes(
    old: TermsSide, new: TermsSide, old_tree: A.PolicyFile, new_tree: A.PolicyFile
) -> list[Change]:
    """The clauses added, removed or reworded between the terms files of two versions, each
    with the items citing it: the rules a reviewer re-reads when the contract changes."""
    from ...dsl.terms import citations_of, parse_terms, terms_path

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
