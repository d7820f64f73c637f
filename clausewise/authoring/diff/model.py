"""What a semantic diff of two policy versions finds: changes of items, each with details."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
