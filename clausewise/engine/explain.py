"""Turning a trace into JSON and into text a seller or advertiser can read; "why not"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from ..dsl import reasons
from ..dsl.diagnostics import did_you_mean
from ..dsl.runtime import Money, Range, TracedRecord, pointer
from ..dsl.typed import (
    Call,
    Decision,
    Field,
    Global,
    Local,
    Node,
    Program,
    RecordLit,
    Rule,
    RuleMeta,
    SiteMeta,
)
from ..dsl.typed import children as subexpressions
from .codec import to_json
from .trace import Trace

if TYPE_CHECKING:
    from ..dsl.terms import Clause

TRACE_SCHEMA_VERSION = 1


def subject_of(args: tuple[Any, ...]) -> str | None:
    """A readable name for what a rule was tried on: `launches[0]` for an input element, also
    when the element is wrapped in a record the policy built (`{launch: l, ...}`)."""
    for a in args:
        if isinstance(a, TracedRecord):
            return path_label(pointer(a.path))
        if isinstance(a, dict):
            for v in a.values():
                if isinstance(v, TracedRecord):
                    return path_label(pointer(v.path))
    return None


def path_label(ptr: str) -> str:
    """`/launches/0/launched_at` -> `launches[0].launched_at`."""
    out = ""
    for part in [p for p in ptr.split("/") if p]:
        if part.isdigit():
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part.replace("~1", "/").replace("~0", "~")
    return out


# Displayed numbers keep at most this many significant digits (the JSON trace keeps them all).
SHOWN_DIGITS = 6


def shown_decimal(d: Decimal) -> str:
    """A decimal as a reader sees it: `0.0099009900990099...` as `0.00990099`, `12.50` as
    `12.50`. Digits beyond `SHOWN_DIGITS` significant ones are rounded half-even; integers and
    short decimals are shown exactly."""
    if not d.is_finite():
        return str(d)
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    if exp >= 0 or len(d.as_tuple().digits) <= SHOWN_DIGITS:
        return f"{d:f}"
    keep = d.adjusted() - SHOWN_DIGITS + 1
    if keep >= 0:
        return f"{d.quantize(Decimal(1)):f}"
    rounded = d.quantize(Decimal(1).scaleb(keep))
    text = f"{rounded:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _val(v: Any, labels: bool = True) -> str:
    """A value as the explanation shows it; an input record as its path (`launches[2]`) when
    `labels`, else by its fields (in a reason, which reads the same at every trace level)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, Money):
        return f"{shown_decimal(v.amount)} {v.currency}"
    if isinstance(v, Decimal):
        return shown_decimal(v)
    if isinstance(v, dt.datetime | dt.date):
        return str(to_json(v))
    if isinstance(v, Range):
        return f"{_val(v.start, labels)} {'..<' if v.half_open else '..'} {_val(v.end, labels)}"
    if isinstance(v, frozenset | set):
        return "[" + ", ".join(_val(x, labels) for x in sorted(v, key=str)) + "]"
    if isinstance(v, list | tuple):
        if len(v) > 5:
            return "[" + ", ".join(_val(x, labels) for x in v[:5]) + f", ... {len(v) - 5} more]"
        return "[" + ", ".join(_val(x, labels) for x in v) + "]"
    if isinstance(v, dict):
        if labels and isinstance(v, TracedRecord):
            return path_label(pointer(v.path))
        return "{" + ", ".join(f"{k}: {_val(x, labels)}" for k, x in v.items()) + "}"
    return str(v)


def _subst(text: str, meta: RuleMeta | None, args: tuple[Any, ...]) -> str:
    """Write `l.active_days` as `launches[0].active_days` when `l` was bound to that element."""
    if meta is None:
        return text
    for name, value in zip(meta.params, args, strict=False):
        if isinstance(value, TracedRecord):
            label = path_label(pointer(value.path))
            if text == name:
                return label
            if text.startswith(name + "."):
                return label + text[len(name) :]
    return text


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """How one rule came out on one subject: for comparing the decisions of two versions."""

    rule: str
    subject: str
    applied: bool
    reason: str
    cites: tuple[str, ...]


class Explainer:
    """Renders the trace of one decision of `program`."""

    def __init__(
        self,
        program: Program,
        trace: Trace,
        level: str,
        clauses: Mapping[str, Clause] | None = None,
        reason_values: Callable[[], Mapping[int, Callable[..., tuple[Any, ...]]]] | None = None,
    ):
        self.p = program
        self.trace = trace
        self.level = level
        # the policy's terms, by clause id: explanations quote the clauses the rules cite
        self.clauses: Mapping[str, Clause] = clauses or {}
        # gives the placeholder values of the reasons; called once, when a reason is rendered
        self._reason_values = reason_values
        self._values: Mapping[int, Callable[..., tuple[Any, ...]]] | None = None
        self._reads_cache: dict[int, set[int]] | None = None

        # the text and the JSON both name each rule's subject: found once per argument tuple
        self._subjects: dict[int, str | None] = {}

    def _subject(self, args: tuple[Any, ...]) -> str | None:
        key = id(args)  # the tuples live in the trace as long as this explainer
        if key not in self._subjects:
            self._subjects[key] = subject_of(args)
        return self._subjects[key]

    def reason(self, rid: int, args: tuple[Any, ...]) -> str:
        """The reason of rule `rid` tried on `args`, its placeholders filled in."""
        m = self.rule(rid)
        if not m.placeholders:
            return m.reason
        if self._values is None:
            self._values = {}
            if self._reason_values is not None:
                try:
                    self._values = self._reason_values()
                except Exception:  # a reason that cannot be filled in is shown as written
                    self._values = {}
        fn = self._values.get(rid)
        values: tuple[Any, ...] | None = None
        if fn is not None:
            try:
                values = fn(*args)
            except Exception:  # e.g. a placeholder that divides by a count of 0
                values = None
        return render_reason(m.reason, values, placeholder_places(self.p, rid))

    def rule(self, rid: int) -> RuleMeta:
        return self.p.rules[rid]

    def site(self, sid: int) -> SiteMeta:
        return self.p.sites[sid]

    # ---- JSON ----
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": TRACE_SCHEMA_VERSION,
            "level": self.level,
            "events": [self._event_json(e, None, ()) for e in self.trace.events],
            "omitted": self._omitted(),
        }
        if self.clauses:
            out["clauses"] = {
                cid: {"text": c.text, "original": c.original}
                for cid in self._cited(self.trace.events)
                if (c := self.clauses.get(cid)) is not None
            }
        return out

    def _omitted(self) -> dict[str, dict[str, int]]:
        """Rules evaluated more often than the trace keeps, with their counts."""
        omitted = {}
        for rid, (fired, not_fired) in self.trace.counts.items():
            if fired + not_fired > self.trace.cap:
                m = self.rule(rid)
                omitted[f"{m.owner + '.' if m.owner else ''}{m.name}"] = {
                    "evaluations": fired + not_fired,
                    "fired": fired,
                    "recorded": self.trace.cap,
                }
        return omitted

    def _cited(self, events: Any, rids: set[int] | None = None) -> list[str]:
        """The clause ids the rules of these events cite (nested events too), each once, in
        the order of the terms; only the rules in `rids` when given."""
        out: dict[str, None] = {}

        def visit(evs: Any) -> None:
            for e in evs:
                if e[0] == "rule":
                    if rids is None or e[1] in rids:
                        out.update(dict.fromkeys(self.rule(e[1]).cites))
                    visit(e[4])

        visit(events)
        order = {cid: i for i, cid in enumerate(self.clauses)}
        return sorted(out, key=lambda cid: order.get(cid, len(order)))

    def _quotes(self, ids: list[str]) -> list[str]:
        """`A6: <the clause in short>` for each id the terms have."""
        lines = [f"  {cid}: {c.short()}" for cid in ids if (c := self.clauses.get(cid)) is not None]
        return ["", "Clauses cited above:", *lines] if lines else []

    def _event_json(
        self, e: tuple[Any, ...], owner: RuleMeta | None, owner_args: tuple[Any, ...]
    ) -> dict[str, Any]:
        kind = e[0]
        if kind == "rule":
            _, rid, fired, args, children = e
            m = self.rule(rid)
            out: dict[str, Any] = {
                "type": "rule",
                "rule": m.name,
                "in": m.owner or None,
                "fired": fired,
                "reason": m.reason,
                "clauses": list(m.cites),
                "subject": self._subject(args),
                "location": m.span.location(),
            }
            if children:
                out["detail"] = [self._event_json(c, m, args) for c in children]
            return out
        if kind == "cmp":
            _, sid, a, b, result = e
            s = self.site(sid)
            return {
                "type": "compare",
                "expression": self._cmp_text(s, owner, owner_args),
                "left": to_json(a)
                if not isinstance(a, frozenset)
                else sorted(to_json(list(a)), key=str),
                "op": s.op,
                "right": to_json(b)
                if not isinstance(b, frozenset)
                else sorted(to_json(list(b)), key=str),
                "result": result,
                "location": s.span.location(),
            }
        if kind == "agg":
            _, sid, total, matched, sample, value = e
            s = self.site(sid)
            return {
                "type": "aggregate",
                "expression": s.text,
                "items": total,
                "matched": matched,
                "sample": [_val(x) for x in sample],
                "value": to_json(value)
                if not isinstance(value, list) or len(value) <= 10
                else f"{len(value)} items",
                "location": s.span.location(),
            }
        if kind == "def":
            _, name, value = e
            return {"type": "definition", "name": name, "value": _short_json(value)}
        raise AssertionError(kind)

    def _cmp_text(self, s: SiteMeta, owner: RuleMeta | None, args: tuple[Any, ...]) -> str:
        left = _subst(s.left_text, owner, args)
        right = _subst(s.right_text, owner, args)
        return f"{left} {s.op} {right}"

    # ---- text ----
    def text(self, output: Any, header: str) -> str:
        lines = [header, ""]
        lines.append("Rules tried:")
        for e in self.trace.events:
            lines.extend(self._event_text(e, 1, None, ()))
        # only the counts of the rules left out: the whole JSON is not needed for them
        for name, o in self._omitted().items():
            lines.append(
                f"  ({name}: {o['evaluations']} evaluations, {o['fired']} fired; the first {o['recorded']} are shown)"
            )
        lines += self._quotes(self._cited(self.trace.events))
        return "\n".join(lines)

    def _event_text(
        self, e: tuple[Any, ...], depth: int, owner: RuleMeta | None, owner_args: tuple[Any, ...]
    ) -> list[str]:
        ind = "  " * depth
        kind = e[0]
        if kind == "rule":
            _, rid, fired, args, children = e
            m = self.rule(rid)
            mark = "✓" if fired else "✗"
            subj = self._subject(args)
            what = f"{m.owner} › {m.name}" if m.owner else m.name
            cites = f" [{', '.join(m.cites)}]" if m.cites else ""
            head = f"{ind}{mark} {what}{' for ' + subj if subj else ''}{cites}"
            if fired:
                out = [f"{head}: applies", f"{ind}    {self.reason(rid, args)}"]
            else:
                out = [f"{head}: does not apply", f"{ind}    (it applies when: {m.reason})"]
            for c in children:
                out.extend(self._event_text(c, depth + 2, m, args))
            return out
        if kind == "cmp":
            _, sid, a, b, result = e
            s = self.site(sid)
            left = _subst(s.left_text, owner, owner_args)
            lv = _val(a)
            if s.op == "is":  # a boolean read in the condition
                return [f"{ind}{left} = {lv}" + ("" if result else f" (needs {_val(b)})")]
            shown_left = f"{left} = {lv}" if left != lv else lv
            return [f"{ind}{shown_left} {s.op} {_val(b)}: {'true' if result else 'false'}"]
        if kind == "agg":
            _, sid, total, matched, sample, value = e
            s = self.site(sid)
            eg = f" (e.g. {', '.join(_val(x) for x in sample)})" if sample and matched else ""
            return [f"{ind}{s.text}: {matched} of {total} matched{eg} -> {_val(value)}"]
        if kind == "def":
            _, name, value = e
            return [f"{ind}{name} = {_val(value)}"]
        return []

    # ---- outcomes, to compare two decisions ----
    def outcomes(self) -> dict[tuple[str, str], RuleOutcome]:
        """Each rule tried, by (`decision › rule`, what it was tried on), with whether it
        applied (the last evaluation on that subject counts)."""
        out: dict[tuple[str, str], RuleOutcome] = {}
        for _, rid, fired, args, _children in self._all_rule_events():
            m = self.rule(rid)
            name = f"{m.owner} › {m.name}" if m.owner else m.name
            subj = subject_of(args) or ", ".join(_val(a) for a in args)
            out[(name, subj)] = RuleOutcome(name, subj, fired, self.reason(rid, args), m.cites)
        return out

    # ---- the reader's view ----
    def reader(self, header: str) -> str:
        """What decided the outcome, for the person it is about: the reasons of the rules that
        applied, values filled in, and the clauses they rest on. Rules tried on each item of a
        list on the way (helpers) are left out unless they are cases of a decision."""
        lines = [header, "", "Why:"]
        shown: dict[str, None] = {}
        rids: set[int] = set()
        for e in self._all_rule_events():
            _, rid, fired, args, _children = e
            m = self.rule(rid)
            subj = subject_of(args)
            if not fired or (subj is not None and not m.owner):
                continue
            cites = f" [{', '.join(m.cites)}]" if m.cites else ""
            about = f" ({subj})" if subj else ""
            shown[f"  - {self.reason(rid, args)}{about}{cites}"] = None
            rids.add(rid)
        if not shown:
            lines.append("  No rule applied: every outcome is the policy's default.")
        lines.extend(shown)
        quotes = self._quotes(self._cited(self.trace.events, rids))
        if quotes:
            lines += ["", "The terms:", *quotes[2:]]
        return "\n".join(lines)

    # ---- why not ----
    def why_not(self, target: str) -> str:
        """The conditions that kept `target` (a rule name or an output field) from coming out."""
        rids = self._rules_for(target)
        if rids is None:
            fields = list(self.p.field_deps)
            names = sorted({r.name for r in self.p.rules})
            hint = did_you_mean(target, [*fields, *names])
            return (
                f"`{target}` is neither an output field nor a rule of this policy"
                + (f": {hint}" if hint else ".")
                + f"\nOutput fields: {', '.join(fields)}\nRules: {', '.join(names)}"
            )
        misses: list[tuple[float, str]] = []
        fired: list[str] = []
        for e in self._all_rule_events():
            _, rid, ok, args, children = e
            if rid not in rids:
                continue
            m = self.rule(rid)
            subj = self._subject(args)
            title = f"{m.owner + ' › ' if m.owner else ''}{m.name}{' for ' + subj if subj else ''}"
            cites = f" [{', '.join(m.cites)}]" if m.cites else ""
            if ok:
                fired.append(f"  ✓ {title}{cites} applies: {self.reason(rid, args)}")
                continue
            failed = self._failed(children)
            best = _distance(failed[0][2], failed[0][3]) if failed else float("inf")
            detail = [f"  ✗ {title}{cites} does not apply: {self.reason(rid, args)}"]
            detail += self._failed_lines(failed, m, args, "      ")
            if not failed and children:
                detail.append("      (its condition was false)")
            detail += self._chain(rid, "      ", {rid})
            misses.append((best, "\n".join(detail)))
        misses.sort(key=lambda x: x[0])
        tried = {e[1] for e in self._all_rule_events()}
        for rid in sorted(rids - tried):
            skipped = self._never_tried(rid)
            if skipped:
                misses.append((float("inf"), skipped))
        lines = [f"Why not `{target}`:"]
        # for an output field the rules that applied made its value what it is: they come first
        field_first = target in self.p.field_deps and not any(
            r.name == target for r in self.p.rules
        )
        if fired and field_first:
            lines.append("Rules that applied:")
            lines.extend(fired)
        if misses:
            lines.append("Rules that did not apply, nearest miss first:")
            lines.extend(t for _, t in misses)
        if fired and not field_first:
            lines.append("Rules that applied:")
            lines.extend(fired)
        if not misses and not fired:
            lines.append("  no rule behind it was evaluated for this input")
        lines += self._quotes(self._cited(self.trace.events, rids))
        return "\n".join(lines)

    def knows(self, target: str) -> bool:
        """Whether `target` is an output field or a rule that `why_not` can answer for."""
        return self._rules_for(target) is not None

    @staticmethod
    def _failed(children: Any) -> list[tuple[Any, ...]]:
        """The comparisons of a rule's condition that were false, nearest miss first."""
        failed = [c for c in children if c[0] == "cmp" and not c[4]]
        failed.sort(key=lambda c: _distance(c[2], c[3]))
        return failed

    def _failed_lines(
        self, failed: list[tuple[Any, ...]], m: RuleMeta, args: tuple[Any, ...], ind: str
    ) -> list[str]:
        out = []
        for c in failed:
            s = self.site(c[1])
            left = _subst(s.left_text, m, args)
            if s.op == "is":
                out.append(f"{ind}{left} = {_val(c[2])} (needs {_val(c[3])})")
            else:
                miss = _miss_text(c[2], c[3])
                out.append(f"{ind}{left} = {_val(c[2])} {s.op} {_val(c[3])}: false{miss}")
        return out

    # A chain is followed this many rules down, and shows this many evaluations of each rule.
    CHAIN_DEPTH = 4
    CHAIN_EVALUATIONS = 3

    def _chain(self, rid: int, ind: str, seen: set[int], depth: int = 0) -> list[str]:
        """The rules the condition of rule `rid` reads (through definitions and calls, up to
        the next rules), as they came out: the ones that did not apply first, each followed
        down to the comparisons that failed, so that a miss is traced to its cause. Rules
        tried on each item of a list are summed up in one line each."""
        if depth >= self.CHAIN_DEPTH:
            return []
        deps = self._reads().get(rid, set()) - seen
        if not deps:
            return []
        events: dict[int, list[tuple[Any, ...]]] = {}
        for e in self._all_rule_events():
            if e[1] in deps:
                events.setdefault(e[1], []).append(e)
        out: list[str] = []
        order = sorted(events, key=lambda r: (any(e[2] for e in events[r]), r))
        for dep in order:
            m = self.rule(dep)
            cites = f" [{', '.join(m.cites)}]" if m.cites else ""
            if any(subject_of(e[3]) for e in events[dep]):
                fired, tried = (
                    self.trace.counts.get(dep, [0, 0])[0],
                    sum(self.trace.counts.get(dep, [0, 0])),
                )
                out.append(
                    f"{ind}it reads {m.name}{cites}, tried on {tried} items: {fired} applied"
                )
                continue
            for _, _rid, ok, args, children in events[dep][: self.CHAIN_EVALUATIONS]:
                if ok:
                    out.append(f"{ind}it reads ✓ {m.name}{cites}: {self.reason(dep, args)}")
                    continue
                out.append(f"{ind}it reads ✗ {m.name}{cites}, which does not apply:")
                out += self._failed_lines(self._failed(children), m, args, ind + "    ")
                out += self._chain(dep, ind + "    ", seen | {dep}, depth + 1)
        return out

    def _reads(self) -> dict[int, set[int]]:
        """rule id -> the ids of the rules its condition reads directly (built once)."""
        if self._reads_cache is not None:
            return self._reads_cache
        out: dict[int, set[int]] = {}
        for node in self._rule_nodes():
            rid, when = node.rid, node.when
            found: set[int] = set()
            self._direct_rules(when, found, set())
            found.discard(rid)
            out[rid] = found
        self._reads_cache = out
        return out

    def _direct_rules(self, node: Node, out: set[int], seen: set[str]) -> None:
        """The rules an expression reads, through definitions and calls but not through
        other rules' conditions; a field of a record the policy built (`metrics.odr.meets`)
        leads to the rules behind that field only."""
        self._walk_rules(node, out, seen, direct=True)

    def _field_value(
        self, node: Node, env: dict[str, Node], depth: int
    ) -> tuple[Node, dict[str, Node]] | None:
        """The expression that gives the value of `node` (with the arguments its parameters
        are bound to), looking through definitions, calls and record literals; None when the
        part cannot be told apart (e.g. a field of a list's element)."""
        if depth > 20:
            return None
        if isinstance(node, Field):
            base = self._field_value(node.obj, env, depth + 1)
            if base is None or not isinstance(base[0], RecordLit):
                return None
            for key, value in base[0].fields:
                if key == node.name:
                    return self._field_value(value, base[1], depth + 1)
            return None
        if isinstance(node, Global):
            d = self.p.definitions.get(node.key)
            if d is None or isinstance(d.body, Rule | Decision):
                return node, env
            return self._field_value(d.body, {}, depth + 1)
        if isinstance(node, Call):
            f = self.p.functions.get(node.key)
            if f is None or isinstance(f.body, Rule | Decision):
                return node, env
            inner = dict(zip(f.params, node.args, strict=False))
            return self._field_value(f.body, inner, depth + 1)
        if isinstance(node, Local) and node.name in env:
            return env[node.name], {}
        return node, env

    def _rule_nodes(self) -> list[Rule]:
        """Every rule node of the program (rules of decisions too)."""
        out: list[Rule] = []

        def visit(node: Node) -> None:
            if isinstance(node, Rule):
                out.append(node)
            elif isinstance(node, Decision):
                for rid, when, then in node.cases:
                    out.append(Rule(rid, when, then, type=node.type, span=node.span))

        for d in self.p.definitions.values():
            visit(d.body)
        for f in self.p.functions.values():
            visit(f.body)
        return out

    def _never_tried(self, rid: int) -> str | None:
        """Why a rule of a `first` (or `priority`) decision was never tried: an earlier rule of
        it applied."""
        m = self.rule(rid)
        for dec in self._decisions():
            strategy, cases, name = dec.strategy, dec.cases, dec.name
            order = [r for r, _w, _t in cases]
            if rid not in order or strategy == "collect":
                continue
            fired = [e for e in self._all_rule_events() if e[1] in order and e[2] and e[1] != rid]
            if not fired:
                return None
            winner = self.rule(fired[0][1])
            cites = f" [{', '.join(m.cites)}]" if m.cites else ""
            how = "comes first" if strategy == "first" else "takes priority"
            return (
                f"  – {name} › {m.name}{cites} was never tried: decision `{name}` takes the "
                f"{'first' if strategy == 'first' else 'highest-priority'} rule that applies, "
                f"and `{winner.name}`, which {how}, applied: "
                f"{self.reason(winner.rid, fired[0][3])}"
            )
        return None

    def _decisions(self) -> list[Decision]:
        out: list[Decision] = []
        for body in [d.body for d in self.p.definitions.values()] + [
            f.body for f in self.p.functions.values()
        ]:
            if isinstance(body, Decision):
                out.append(body)
        return out

    def _all_rule_events(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []

        def visit(events: Any) -> None:
            for e in events:
                if e[0] == "rule":
                    out.append(e)
                    visit(e[4])

        visit(self.trace.events)
        return out

    def _rules_for(self, target: str) -> set[int] | None:
        by_name = {r.rid for r in self.p.rules if r.name == target}
        if by_name:
            return by_name
        if target not in self.p.field_deps:
            return None
        out: set[int] = set()
        seen: set[str] = set()
        for key in self.p.field_deps[target]:
            if key in self.p.definitions:
                self._collect_rules(self.p.definitions[key].body, out, seen)
                continue
            # a rule, decision or table with parameters: every instantiation of it (the
            # policy's own definitions are in scope `s0`)
            for fkey, fn in self.p.functions.items():
                if fkey.startswith(f"s0.{key}(") and fkey not in seen:
                    seen.add(fkey)
                    self._collect_rules(fn.body, out, seen)
        return out

    def _collect_rules(self, node: Node, out: set[int], seen: set[str]) -> None:
        self._walk_rules(node, out, seen, direct=False)

    def _walk_rules(self, node: Node, out: set[int], seen: set[str], direct: bool) -> None:
        """Add to `out` the rules `node` evaluates, through definitions and calls; with
        `direct`, stop at each rule (its condition is not walked) and follow record fields."""
        if isinstance(node, Rule):
            out.add(node.rid)
            if direct:
                return
        elif isinstance(node, Decision):
            out.update(rid for rid, _w, _t in node.cases)
            if direct:
                return
        elif isinstance(node, Field) and direct:
            part = self._field_value(node, {}, 0)
            if part is not None and part[0] is not node:
                self._walk_rules(part[0], out, seen, direct)
                return
        if isinstance(node, Global) and node.key not in seen:
            seen.add(node.key)
            d = self.p.definitions.get(node.key)
            if d is not None:
                self._walk_rules(d.body, out, seen, direct)
        if isinstance(node, Call) and node.key not in seen:
            seen.add(node.key)
            f = self.p.functions.get(node.key)
            if f is not None:
                self._walk_rules(f.body, out, seen, direct)
        for a in subexpressions(node):
            self._walk_rules(a, out, seen, direct)


# Output formats whose written values have a fixed number of decimal places.
_FORMAT_PLACES = {"rate": 4, "money": 2}


def placeholder_places(program: Program, rid: int) -> tuple[int | None, ...]:
    """For each placeholder of rule `rid`'s reason, the decimal places the output writes its
    value with when it is a definition the output gives as a `rate` or `money` field (so a
    reason shows `0.0267` as the output does); None for the others."""
    fields: dict[str, int] = {}
    out = program.output
    props = program.output_schema.get("properties", {})
    if isinstance(out, RecordLit):
        for key, value in out.fields:
            schema = props.get(key)
            if not isinstance(value, Global) or not isinstance(schema, dict):
                continue
            ref = schema.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                schema = program.output_schema.get("$defs", {}).get(ref[8:], schema)
            places = _FORMAT_PLACES.get(schema.get("format", ""))
            if places is not None:
                fields[value.key] = places
    return tuple(
        fields.get(ph.key) if isinstance(ph, Global) else None
        for ph in program.rules[rid].placeholders
    )


def render_reason(
    reason: str, values: tuple[Any, ...] | None, places: tuple[int | None, ...]
) -> str:
    """A reason with its placeholders filled in, each value rounded to its `places` when given
    (half-even, as the output writes it), else shown with a few significant digits."""
    if values is None:
        return reasons.render(reason, None, _shown)
    rounded = tuple(
        _to_places(v, p) if p is not None else v
        for v, p in zip(values, places + (None,) * (len(values) - len(places)), strict=True)
    )
    return reasons.render(reason, rounded, _shown)


def _to_places(v: Any, places: int) -> Any:
    q = Decimal(1).scaleb(-places)
    if isinstance(v, Decimal) and v.is_finite():
        return v.quantize(q, rounding=ROUND_HALF_EVEN)
    if isinstance(v, Money):
        return Money(v.amount.quantize(q, rounding=ROUND_HALF_EVEN), v.currency)
    return v


def rule_reasons(
    rules: list[
        tuple[str, str, tuple[int | None, ...], Callable[[], Any], Callable[[], tuple[Any, ...]]]
    ],
    first: bool,
) -> list[dict[str, str]]:
    """The value of `reasons(d)`: `{code, reason}` of each rule that applies (only the first
    one for a `first` or `priority` decision), its reason's placeholders filled in."""
    out = []
    for code, reason, places, applies, values in rules:
        if applies():
            shown = (
                render_reason(reason, values(), places)
                if reasons.has_placeholders(reason)
                else reason
            )
            out.append({"code": code, "reason": shown})
            if first:
                break
    return out


def _shown(v: Any) -> str:
    """A value inside a sentence: strings without quotes, numbers rounded for reading."""
    return v if isinstance(v, str) else _val(v, labels=False)


def _short_json(v: Any) -> Any:
    if isinstance(v, list) and len(v) > 10:
        return {"items": len(v), "first": to_json(v[:3])}
    return to_json(v)


def _num(v: Any) -> Decimal | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | Decimal):
        return Decimal(v)
    if isinstance(v, Money):
        return v.amount
    if isinstance(v, dt.datetime):
        return Decimal(v.timestamp()) / 86400
    if isinstance(v, dt.date):
        return Decimal(v.toordinal())
    return None


def _distance(a: Any, b: Any) -> float:
    x, y = _num(a), _num(b)
    if x is None or y is None:
        return 1.0
    scale = max(abs(y), Decimal(1))
    return float(abs(x - y) / scale)


def _miss_text(a: Any, b: Any) -> str:
    # equal values failing a strict comparison are not "off by 0": say nothing then
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        d = abs(a - b)
        return f" (off by {d})" if d else ""
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        days = abs((a - b).days)
        return f" (off by {days} days)" if days else ""
    x, y = _num(a), _num(b)
    if x is not None and y is not None and x != y:
        return f" (off by {abs(x - y)})"
    return ""
