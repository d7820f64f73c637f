"""What a new version of a policy would change: replay recorded inputs through two versions.

Each input is decided by both versions. Decisions whose outputs differ are grouped by the set of
top-level output fields that changed, with counts; for the first examples of each group, the
input's name, both values of each changed field and the rules whose outcome differs between the
versions (with their reasons) are kept. Inputs that one
version or both reject (bad input) are counted on their own, by whether the old, the new or both
versions reject them, and by error code.

Inputs come from a folder of `*.json` files (named by their path in the folder), a JSON Lines
file (named `file:line`; blank lines are skipped), or the decision log (`log:URL`: the inputs of
the policy's live decisions, oldest first, named by decision id).

With `at_field` (a JSON pointer to a date or an RFC 3339 datetime in each input), the new side of
each input is the version in force at that instant, as a claim is judged by the rules of its own
date. Money fields of the output are totalled per currency on both sides.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .. import Engine, InputError
from ..dsl.runtime import EvaluationError, parse_datetime
from ..dsl.treefiles import read_bytes
from ..engine.explain import RuleOutcome
from ..engine.jsoninput import DEFAULT_LIMITS, loads_input

APPLIES, DOES_NOT_APPLY, NOT_TRIED = "applies", "does not apply", "not tried"


@dataclass
class RuleChange:
    """A rule that came out differently in the two versions, on one subject."""

    rule: str
    subject: str
    old: str  # applies / does not apply / not tried
    new: str
    reason: str  # the reason as the version where it applies gives it (the new one if both)
    clauses: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "subject": self.subject or None,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
            "clauses": list(self.clauses),
        }


@dataclass
class Example:
    name: str
    old: dict[str, Any]
    new: dict[str, Any]
    rules: list[RuleChange]

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.name,
            "old": self.old,
            "new": self.new,
            "rules": [r.to_json() for r in self.rules],
        }


def rule_changes(old: dict[Any, RuleOutcome], new: dict[Any, RuleOutcome]) -> list[RuleChange]:
    """The rules whose outcome differs between two decisions of the same input, in the order
    the new version (then the old one) tried them."""
    out = []
    for key in [*new, *(k for k in old if k not in new)]:
        a, b = old.get(key), new.get(key)
        was = NOT_TRIED if a is None else APPLIES if a.applied else DOES_NOT_APPLY
        now = NOT_TRIED if b is None else APPLIES if b.applied else DOES_NOT_APPLY
        if was == now:
            continue
        shown = b if b is not None and (b.applied or a is None or not a.applied) else a
        assert shown is not None
        out.append(RuleChange(shown.rule, shown.subject, was, now, shown.reason, shown.cites))
    return out


@dataclass
class Group:
    fields: tuple[str, ...]
    count: int = 0
    examples: list[Example] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": list(self.fields),
            "count": self.count,
            "examples": [e.to_json() for e in self.examples],
        }


@dataclass
class BadInput:
    """Inputs rejected by one version or both."""

    old_only: int = 0
    new_only: int = 0
    both: int = 0
    codes: dict[str, int] = field(default_factory=dict)  # "old: code" / "new: code" -> count
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.old_only + self.new_only + self.both

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "old_only": self.old_only,
            "new_only": self.new_only,
            "both": self.both,
            "codes": dict(sorted(self.codes.items())),
            "examples": self.examples,
        }


@dataclass
class ImpactReport:
    policy_id: str
    old_version: str
    new_version: str
    source: str
    total: int = 0
    unchanged: int = 0
    changed: int = 0
    groups: dict[tuple[str, ...], Group] = field(default_factory=dict)
    bad_input: BadInput = field(default_factory=BadInput)
    unreadable: list[str] = field(default_factory=list)  # inputs that are not JSON
    failed: list[str] = field(default_factory=list)  # evaluation errors (a bug in a policy)
    at_field: str | None = None
    # with `at_field`: how many inputs each version decided, and the inputs without a version
    picked: dict[str, int] = field(default_factory=dict)
    undated: list[str] = field(default_factory=list)
    # money output fields of the inputs both sides decided: field -> currency -> [old, new]
    totals: dict[str, dict[str, list[Decimal]]] = field(default_factory=dict)

    @property
    def anything_changed(self) -> bool:
        """Some decision differs, or an input is rejected by one version only."""
        return bool(self.changed or self.bad_input.old_only or self.bad_input.new_only)

    def sorted_groups(self) -> list[Group]:
        return sorted(self.groups.values(), key=lambda g: (-g.count, g.fields))

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy_id,
            "from": self.old_version,
            "to": self.new_version,
            "inputs": self.source,
            "total": self.total,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "groups": [g.to_json() for g in self.sorted_groups()],
            "bad_input": self.bad_input.to_json(),
            "unreadable": self.unreadable,
            "failed": self.failed,
            **(
                {"at_field": self.at_field, "picked": self.picked, "undated": self.undated}
                if self.at_field
                else {}
            ),
            "totals": {
                name: {
                    cur: {"old": str(o), "new": str(n), "change": str(n - o)}
                    for cur, (o, n) in sorted(by_cur.items())
                }
                for name, by_cur in sorted(self.totals.items())
            },
        }

    def text(self) -> str:
        decided = self.total - self.bad_input.total - len(self.unreadable) - len(self.failed)
        lines = [
            f"impact of {self.policy_id} {self.old_version} -> {self.new_version} "
            f"on {self.total} input(s) from {self.source}",
            f"  decisions changed: {self.changed} of {decided}",
            f"  unchanged:         {self.unchanged}",
            f"  bad input:         {self.bad_input.total} (rejected by {self.old_version} only: "
            f"{self.bad_input.old_only}, by {self.new_version} only: {self.bad_input.new_only}, "
            f"by both: {self.bad_input.both})",
        ]
        for code, n in sorted(self.bad_input.codes.items()):
            lines.append(f"    {code}: {n}")
        if self.at_field:
            used = ", ".join(f"{v}: {n}" for v, n in sorted(self.picked.items()))
            lines.append(f"  version by {self.at_field}: {used or 'none'}")
            if self.undated:
                lines.append(f"  no version for:    {len(self.undated)}")
                lines.extend(f"    {u}" for u in self.undated[:10])
        for name, by_cur in sorted(self.totals.items()):
            for cur, (before, after) in sorted(by_cur.items()):
                sign = "+" if after >= before else ""
                lines.append(f"  total {name} {cur}: {before} -> {after} ({sign}{after - before})")
        if self.unreadable:
            lines.append(f"  not JSON:          {len(self.unreadable)}")
            lines.extend(f"    {u}" for u in self.unreadable[:10])
        if self.failed:
            lines.append(f"  evaluation failed: {len(self.failed)}")
            lines.extend(f"    {u}" for u in self.failed[:10])
        for bad in self.bad_input.examples:
            lines.append(f"  rejected by one version: {bad['input']}: {bad['old']} -> {bad['new']}")
        for g in self.sorted_groups():
            lines.append("")
            lines.append(f"changed fields: {', '.join(g.fields)} ({g.count} decision(s))")
            for i, ex in enumerate(g.examples, 1):
                lines.append(f"  example {i}: {ex.name}")
                for k in g.fields:
                    lines.append(
                        f"    {k}: {_short(ex.old.get(k, _MISSING))} -> {_short(ex.new.get(k, _MISSING))}"
                    )
                lines.append(
                    f"    rules whose outcome differs ({self.old_version} -> {self.new_version}):"
                )
                for r in ex.rules:
                    about = f" for {r.subject}" if r.subject else ""
                    cites = f" [{', '.join(r.clauses)}]" if r.clauses else ""
                    lines.append(f"      {r.rule}{about}{cites}: {r.old} -> {r.new}")
                    lines.append(f"        {r.reason}")
                if not ex.rules:
                    lines.append("      none: the same rules apply, with different values")
        return "\n".join(lines)


_MISSING = object()


def _outcomes(decision: Any) -> dict[Any, RuleOutcome]:
    return decision.rule_outcomes()


def _short(v: Any, limit: int = 300) -> str:
    text = "(absent)" if v is _MISSING else json.dumps(v, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def changed_fields(old: Any, new: Any) -> tuple[str, ...]:
    """The top-level output fields whose values differ (present in only one counts)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ("(output)",) if old != new else ()
    keys = list(dict.fromkeys([*old, *new]))
    return tuple(sorted(k for k in keys if k not in old or k not in new or old[k] != new[k]))


LOG_PREFIX = "log:"


@dataclass(frozen=True)
class LogInputs:
    """The inputs of the live decisions in a decision log, from `since` on."""

    url: str
    since: dt.datetime | None = None

    @classmethod
    def parse(cls, text: str, since: str | None = None) -> LogInputs:
        """From `log:URL` and an optional `--since` text; ValueError when either is bad."""
        from ..log import parse_time

        url = text[len(LOG_PREFIX) :]
        if not url:
            raise ValueError("log: needs the log's URL, e.g. log:sqlite:///decisions.db")
        return cls(url, None if since is None else parse_time(since))

    def __str__(self) -> str:
        return (
            LOG_PREFIX
            + self.url
            + ("" if self.since is None else f" since {self.since:%Y-%m-%dT%H:%M:%SZ}")
        )

    def read(self, policy_id: str) -> Iterator[tuple[str, Any, str | None]]:
        """(decision id, input, None) for each live decision of `policy_id`, oldest first."""
        from ..log import LogUnavailableError, open_log

        log = open_log(self.url, create=False, probe_every=3600.0)  # ValueError: cannot open
        try:
            after: str | None = None
            while True:
                try:
                    page, after = log.query(
                        policy=policy_id, since=self.since, kind="live", limit=1000, after=after
                    )
                except LogUnavailableError as e:
                    raise ValueError(str(e)) from None
                for record in page:
                    yield record.decision_id, record.input, None
                if after is None:
                    return
        finally:
            log.close()


def read_inputs(path: Path) -> Iterator[tuple[str, Any, str | None]]:
    """(name, data, error) for each input: error is set when the input is not JSON."""
    if path.is_dir():
        for f in sorted(path.rglob("*.json")):
            name = f.relative_to(path).as_posix()
            try:
                yield name, loads_input(read_bytes(f, DEFAULT_LIMITS.max_bytes)), None
            except OSError as e:
                yield name, None, str(e)
            except InputError as e:
                yield name, None, e.message
        return
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            name = f"{path.name}:{n}"
            try:
                yield name, loads_input(line), None
            except InputError as e:
                yield name, None, e.message


def _decide(engine: Engine, pid: str, version: str, data: Any) -> tuple[Any, InputError | None]:
    try:
        return engine.evaluate(pid, data, version=version).output, None
    except InputError as e:
        return None, e


def instant_at(data: Any, pointer: str) -> dt.datetime:
    """The instant at JSON `pointer` in `data`: an RFC 3339 datetime with an offset, or a date
    (its start in UTC). Raises ValueError saying what is wrong."""
    node = data
    for raw in pointer.split("/")[1:] if pointer else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise ValueError(f"no field at {pointer}")
    if not isinstance(node, str):
        raise ValueError(f"{pointer} is not a date or datetime string")
    try:
        if len(node) == 10:
            day = dt.date.fromisoformat(node)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        when = parse_datetime(node, "optional")
    except ValueError:
        raise ValueError(f"{pointer} is not a date or an RFC 3339 datetime: {node!r}") from None
    if when.tzinfo is None:
        raise ValueError(f"{pointer} has no offset (Z or +HH:MM): {node!r}")
    return when


def _add_money_totals(report: ImpactReport, old: Any, new: Any) -> None:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return
    for name in old:
        a: Any = old.get(name)
        b: Any = new.get(name)
        if not (_is_money(a) and _is_money(b)) or a["currency"] != b["currency"]:
            continue
        slot = report.totals.setdefault(name, {}).setdefault(
            a["currency"], [Decimal(0), Decimal(0)]
        )
        slot[0] += Decimal(a["amount"])
        slot[1] += Decimal(b["amount"])


def _is_money(v: Any) -> bool:
    return isinstance(v, dict) and set(v) == {"amount", "currency"}


def impact(
    engine: Engine,
    policy_id: str,
    old_version: str,
    new_version: str | None,
    inputs: Path | LogInputs,
    examples: int = 3,
    at_field: str | None = None,
) -> ImpactReport:
    """Replay every input through both versions and compare the decisions.

    The new side is `new_version`, or with `at_field` (a JSON pointer) the version in force at
    the instant that field of each input holds."""
    if new_version is None and at_field is None:
        raise ValueError("name the new version, or the input field whose date picks it")
    engine.policy(policy_id, version=old_version)  # KeyError when either is unknown
    if new_version is not None:
        engine.policy(policy_id, version=new_version)
    shown_new = new_version or f"(in force at {at_field})"
    report = ImpactReport(policy_id, old_version, shown_new, str(inputs), at_field=at_field)
    bad = report.bad_input
    source = inputs.read(policy_id) if isinstance(inputs, LogInputs) else read_inputs(inputs)
    for name, data, error in source:
        report.total += 1
        if error is not None:
            report.unreadable.append(f"{name}: {error}")
            continue
        if at_field is not None:
            try:
                picked = engine.policy(policy_id, at=instant_at(data, at_field)).version
            except (KeyError, ValueError) as e:
                report.undated.append(f"{name}: {e.args[0] if e.args else e}")
                continue
            report.picked[picked] = report.picked.get(picked, 0) + 1
            new_version = picked
        assert new_version is not None
        try:
            old, e_old = _decide(engine, policy_id, old_version, data)
            new, e_new = _decide(engine, policy_id, new_version, data)
        except EvaluationError as e:
            report.failed.append(f"{name}: {e}")
            continue
        if e_old is not None or e_new is not None:
            if e_old is not None and e_new is not None:
                bad.both += 1
            elif e_old is not None:
                bad.old_only += 1
            else:
                bad.new_only += 1
            for label, err in ((old_version, e_old), (new_version, e_new)):
                if err is not None:
                    key = f"{label}: {err.code}"
                    bad.codes[key] = bad.codes.get(key, 0) + 1
            if (e_old is None) != (e_new is None) and len(bad.examples) < examples:
                bad.examples.append(
                    {
                        "input": name,
                        "old": f"{e_old.code} at {e_old.path or '/'}" if e_old else "decided",
                        "new": f"{e_new.code} at {e_new.path or '/'}" if e_new else "decided",
                    }
                )
            continue
        _add_money_totals(report, old, new)
        fields = changed_fields(old, new)
        if not fields:
            report.unchanged += 1
            continue
        report.changed += 1
        group = report.groups.setdefault(fields, Group(fields))
        group.count += 1
        if len(group.examples) < examples:
            d_old = engine.evaluate(policy_id, data, version=old_version, trace="rules")
            d_new = engine.evaluate(policy_id, data, version=new_version, trace="rules")
            group.examples.append(
                Example(
                    name,
                    {k: d_old.output.get(k) for k in fields if k in d_old.output},
                    {k: d_new.output.get(k) for k in fields if k in d_new.output},
                    rule_changes(_outcomes(d_old), _outcomes(d_new)),
                )
            )
    return report
