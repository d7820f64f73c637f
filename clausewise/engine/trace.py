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
    """Recorder the traced variants of a compiled policy call into.

    Counts are kept in flat lists indexed by rule and site id (cheaper than dictionaries on the
    hot path); `counts` and `outcomes` give them as dictionaries of what was evaluated.
    """

    __slots__ = ("cap", "events", "marks", "ops", "rule_no", "rule_yes", "site_no", "site_yes")

    def __init__(self, ops: list[Any], cap: int = 20, rules: int = 0):
        self.events: list[tuple[Any, ...]] = []
        self.marks: list[int] = []
        self.ops = ops
        self.cap = cap
        self.rule_yes = [0] * rules
        self.rule_no = [0] * rules
        self.site_yes = [0] * len(ops)
        self.site_no = [0] * len(ops)

    @property
    def counts(self) -> dict[int, list[int]]:
        """rid -> [fired, not fired], for the rules evaluated."""
        return {
            i: [y, n]
            for i, (y, n) in enumerate(zip(self.rule_yes, self.rule_no, strict=True))
            if y or n
        }

    @property
    def outcomes(self) -> dict[int, list[int]]:
        """comparison sid -> [true, false], for the comparisons evaluated."""
        return {
            i: [y, n]
            for i, (y, n) in enumerate(zip(self.site_yes, self.site_no, strict=True))
            if y or n
        }

    def _grow(self, rid: int) -> None:
        extra = rid + 1 - len(self.rule_yes)
        self.rule_yes.extend([0] * extra)
        self.rule_no.extend([0] * extra)

    def rule(self, rid: int, fired: Any, args: tuple[Any, ...]) -> bool:
        """Level `rules`: record that rule `rid` was tried and whether it fired."""
        if rid >= len(self.rule_yes):
            self._grow(rid)
        if fired:
            self.rule_yes[rid] += 1
            fired = True
        else:
            self.rule_no[rid] += 1
            fired = False
        if self.rule_yes[rid] + self.rule_no[rid] <= self.cap:
            self.events.append(("rule", rid, fired, args, ()))
        return fired

    def begin(self) -> None:
        """Level `full`: a rule's condition starts; what it records until `rule_full` is its detail."""
        self.marks.append(len(self.events))

    def rule_full(self, rid: int, fired: Any, args: tuple[Any, ...]) -> bool:
        mark = self.marks.pop()
        events = self.events
        if rid >= len(self.rule_yes):
            self._grow(rid)
        if fired:
            self.rule_yes[rid] += 1
            fired = True
        else:
            self.rule_no[rid] += 1
            fired = False
        if self.rule_yes[rid] + self.rule_no[rid] <= self.cap:
            children = tuple(events[mark:])
            del events[mark:]
            events.append(("rule", rid, fired, args, children))
        else:
            del events[mark:]
        return fired

    def cmp(self, sid: int, a: Any, b: Any) -> bool:
        if self.ops[sid](a, b):
            self.site_yes[sid] += 1
            result = True
        else:
            self.site_no[sid] += 1
            result = False
        if self.site_yes[sid] + self.site_no[sid] <= self.cap:
            self.events.append(("cmp", sid, a, b, result))
        return result

    def test(self, sid: int, value: Any, wanted: bool) -> Any:
        """A boolean read in a rule's condition; it counts as met when it equals `wanted`."""
        if bool(value) == wanted:
            self.site_yes[sid] += 1
            result = True
        else:
            self.site_no[sid] += 1
            result = False
        if self.site_yes[sid] + self.site_no[sid] <= self.cap:
            self.events.append(("cmp", sid, value, wanted, result))
        return value

    def member(self, sid: int, a: Any, b: Any, negated: bool) -> bool:
        if (a not in b) if negated else (a in b):
            self.site_yes[sid] += 1
            result = True
        else:
            self.site_no[sid] += 1
            result = False
        if self.site_yes[sid] + self.site_no[sid] <= self.cap:
            self.events.append(("cmp", sid, a, b, result))
        return result

    def agg(self, sid: int, total: int, matched: list[Any], value: Any) -> Any:
        n = self.site_yes[sid] + 1
        self.site_yes[sid] = n
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
