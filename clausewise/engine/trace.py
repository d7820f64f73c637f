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

# how many evaluations of each rule and site a trace records in full
DEFAULT_CAP = 20

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

    __slots__ = ("cap", "events", "ops", "rule_no", "rule_yes", "site_no", "site_yes")

    def __init__(self, ops: list[Any], cap: int = DEFAULT_CAP, rules: int = 0):
        self.events: list[tuple[Any, ...]] = []
        self.ops = ops
        self.cap = cap
        self.rule_yes = [0] * rules
        self.rule_no = [0] * rules
        sites = [0] * len(ops)
        self.site_yes = sites
        self.site_no = sites.copy()

    @classmethod
    def fresh(cls, ops: list[Any], rules: list[int], sites: list[int]) -> Trace:
        """A new trace at the default cap, its counters copied from the lists of zeros `rules`
        and `sites` (one per rule and per site) that the caller keeps."""
        t = cls.__new__(cls)
        t.events = []
        t.ops = ops
        t.cap = DEFAULT_CAP
        t.rule_yes = rules.copy()
        t.rule_no = rules.copy()
        t.site_yes = sites.copy()
        t.site_no = sites.copy()
        return t

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
        yes, no = self.rule_yes, self.rule_no
        if fired:
            n = yes[rid] = yes[rid] + 1
            n += no[rid]
            fired = True
        else:
            n = no[rid] = no[rid] + 1
            n += yes[rid]
            fired = False
        if n <= self.cap:
            self.events.append(("rule", rid, fired, args, ()))
        return fired

    def rule_full(self, rid: int, fired: Any, args: tuple[Any, ...], mark: int) -> bool:
        """Level `full`: record that rule `rid` was tried and whether it fired; the events
        recorded since `mark` (the length of `events` when its condition started) are its
        detail."""
        if rid >= len(self.rule_yes):
            self._grow(rid)
        yes, no = self.rule_yes, self.rule_no
        if fired:
            n = yes[rid] = yes[rid] + 1
            n += no[rid]
            fired = True
        else:
            n = no[rid] = no[rid] + 1
            n += yes[rid]
            fired = False
        events = self.events
        if n <= self.cap:
            detail = len(events) - mark
            if detail == 0:
                events.append(("rule", rid, fired, args, ()))
            elif detail == 1:  # (most conditions are one comparison)
                events.append(("rule", rid, fired, args, (events.pop(),)))
            else:
                children = tuple(events[mark:])
                del events[mark:]
                events.append(("rule", rid, fired, args, children))
        elif len(events) != mark:
            del events[mark:]
        return fired

    def cmp(self, sid: int, a: Any, b: Any) -> bool:
        if self.ops[sid](a, b):
            n = self.site_yes[sid] = self.site_yes[sid] + 1
            n += self.site_no[sid]
            result = True
        else:
            n = self.site_no[sid] = self.site_no[sid] + 1
            n += self.site_yes[sid]
            result = False
        if n <= self.cap:
            self.events.append(("cmp", sid, a, b, result))
        return result

    def test(self, sid: int, value: Any, wanted: bool) -> Any:
        """A boolean read in a rule's condition; it counts as met when it equals `wanted`."""
        if bool(value) == wanted:
            n = self.site_yes[sid] = self.site_yes[sid] + 1
            n += self.site_no[sid]
            result = True
        else:
            n = self.site_no[sid] = self.site_no[sid] + 1
            n += self.site_yes[sid]
            result = False
        if n <= self.cap:
            self.events.append(("cmp", sid, value, wanted, result))
        return value

    def member(self, sid: int, a: Any, b: Any, negated: bool) -> bool:
        if (a not in b) if negated else (a in b):
            n = self.site_yes[sid] = self.site_yes[sid] + 1
            n += self.site_no[sid]
            result = True
        else:
            n = self.site_no[sid] = self.site_no[sid] + 1
            n += self.site_yes[sid]
            result = False
        if n <= self.cap:
            self.events.append(("cmp", sid, a, b, result))
        return result

    def agg(self, sid: int, total: int, matched: list[Any], value: Any) -> Any:
        n = self.site_yes[sid] = self.site_yes[sid] + 1
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
