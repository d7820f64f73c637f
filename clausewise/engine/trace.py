"""The trace a decision records while it is evaluated (levels `rules` and `full`).

Events are small tuples, appended in evaluation order:
- ("rule", rid, fired, args, children)   a rule (or table row) was tried; children at level full
- ("cmp", sid, left, right, result)      a comparison's values (level full)
- ("agg", sid, total, matched, sample)   an aggregate's summary (level full)
- ("def", name, value)                   a definition's value (level full)

Rules evaluated once per list element would flood the trace, so each rule and site records its
first `cap` evaluations in full and only counts the rest (`counts`).
"""

from __future__ import annotations

import operator
from typing import Any

OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class Trace:
    """Recorder the traced variants of a compiled policy call into."""

    __slots__ = ("cap", "counts", "events", "marks", "ops", "outcomes", "site_counts")

    def __init__(self, ops: list[Any], cap: int = 20):
        self.events: list[tuple[Any, ...]] = []
        self.marks: list[int] = []
        self.counts: dict[int, list[int]] = {}  # rid -> [fired, not fired]
        self.site_counts: dict[int, int] = {}
        self.outcomes: dict[int, list[int]] = {}  # comparison sid -> [true, false]
        self.ops = ops
        self.cap = cap

    def rule(self, rid: int, fired: Any, args: tuple[Any, ...]) -> bool:
        """Level `rules`: record that rule `rid` was tried and whether it fired."""
        fired = bool(fired)
        c = self.counts.get(rid)
        if c is None:
            c = self.counts[rid] = [0, 0]
        c[0 if fired else 1] += 1
        if c[0] + c[1] <= self.cap:
            self.events.append(("rule", rid, fired, args, ()))
        return fired

    def begin(self) -> None:
        """Level `full`: a rule's condition starts; what it records until `rule_full` is its detail."""
        self.marks.append(len(self.events))

    def rule_full(self, rid: int, fired: Any, args: tuple[Any, ...]) -> bool:
        fired = bool(fired)
        mark = self.marks.pop()
        children = tuple(self.events[mark:])
        del self.events[mark:]
        c = self.counts.get(rid)
        if c is None:
            c = self.counts[rid] = [0, 0]
        c[0 if fired else 1] += 1
        if c[0] + c[1] <= self.cap:
            self.events.append(("rule", rid, fired, args, children))
        return fired

    def cmp(self, sid: int, a: Any, b: Any) -> bool:
        result = bool(self.ops[sid](a, b))
        self._outcome(sid, a, b, result)
        return result

    def test(self, sid: int, value: Any, wanted: bool) -> Any:
        """A boolean read in a rule's condition; it counts as met when it equals `wanted`."""
        self._outcome(sid, value, wanted, bool(value) == wanted)
        return value

    def member(self, sid: int, a: Any, b: Any, negated: bool) -> bool:
        result = (a not in b) if negated else (a in b)
        self._outcome(sid, a, b, result)
        return result

    def _outcome(self, sid: int, a: Any, b: Any, result: bool) -> None:
        o = self.outcomes.get(sid)
        if o is None:
            o = self.outcomes[sid] = [0, 0]
        o[0 if result else 1] += 1
        if o[0] + o[1] <= self.cap:
            self.events.append(("cmp", sid, a, b, result))

    def agg(self, sid: int, total: int, matched: list[Any], value: Any) -> Any:
        n = self.site_counts.get(sid, 0) + 1
        self.site_counts[sid] = n
        if n <= self.cap:
            self.events.append(("agg", sid, total, len(matched), tuple(matched[:3]), value))
        return value

    def define(self, name: str, value: Any) -> Any:
        self.events.append(("def", name, value))
        return value


def member_op(negated: bool) -> Any:
    if negated:
        return lambda a, b: a not in b
    return lambda a, b: a in b


def ops_for(sites: list[Any]) -> list[Any]:
    """The comparison function of every site, indexed by site id."""
    out: list[Any] = []
    for s in sites:
        if s.op in OPS:
            out.append(OPS[s.op])
        elif s.op == "in":
            out.append(member_op(False))
        elif s.op == "not in":
            out.append(member_op(True))
        else:
            out.append(None)
    return out
