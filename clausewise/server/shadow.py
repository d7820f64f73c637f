"""What a candidate version would change, measured on logged traffic.

The service evaluates a shadow version beside the live one and logs both decisions; the report
pairs each shadow record with its live record, keeps the pairs whose outputs differ (the
decisions that would flip) and groups them by the set of output fields that changed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..authoring.impact import changed_fields
from ..log.base import DecisionLog
from ..log.explain import RecordExplainer
from ..log.record import DecisionRecord, format_time

__all__ = ["render_shadow_report", "shadow_report"]

_PAGE = 1000


def shadow_report(
    log: DecisionLog,
    policy_id: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    examples: int = 3,
    explainer: RecordExplainer | None = None,
) -> dict[str, Any]:
    """The decisions of POLICY_ID's shadow version that differ from the live ones, as JSON.

    `{"policy", "since", "until", "shadow_decisions", "compared", "unpaired", "unchanged",
    "would_flip", "versions": {"live", "shadow"}, "groups": [{"fields", "count", "examples"}]}`;
    groups are ordered by count, each example carries the input, both outputs and both
    explanations (rendered on read by `explainer`, when given, for records logged without
    them). `unpaired` counts shadow records whose live record is gone (pruned).
    """
    total = compared = unpaired = unchanged = flips = 0
    live_versions: set[str] = set()
    shadow_versions: set[str] = set()
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    after: str | None = None
    while True:
        page, after = log.query(
            policy=policy_id, since=since, until=until, kind="shadow", limit=_PAGE, after=after
        )
        for shadow in page:
            total += 1
            live = log.get(shadow.shadow_of) if shadow.shadow_of else None
            if live is None:
                unpaired += 1
                continue
            compared += 1
            live_versions.add(live.version)
            shadow_versions.add(shadow.version)
            fields = changed_fields(live.output, shadow.output)
            if not fields:
                unchanged += 1
                continue
            flips += 1
            group = groups.setdefault(fields, {"fields": list(fields), "count": 0, "examples": []})
            group["count"] += 1
            if len(group["examples"]) < examples:
                if explainer is not None:
                    live, shadow = explainer.explain(live), explainer.explain(shadow)
                group["examples"].append(_example(live, shadow))
        if after is None:
            break
    return {
        "policy": policy_id,
        "since": None if since is None else format_time(since),
        "until": None if until is None else format_time(until),
        "shadow_decisions": total,
        "compared": compared,
        "unpaired": unpaired,
        "unchanged": unchanged,
        "would_flip": flips,
        "versions": {"live": sorted(live_versions), "shadow": sorted(shadow_versions)},
        "groups": sorted(groups.values(), key=lambda g: (-g["count"], g["fields"])),
    }


def _example(live: DecisionRecord, shadow: DecisionRecord) -> dict[str, Any]:
    return {
        "decision_id": live.decision_id,
        "shadow_decision_id": shadow.decision_id,
        "time": format_time(live.time),
        "input": live.input,
        "live": {"version": live.version, "output": live.output},
        "shadow": {"version": shadow.version, "output": shadow.output},
        "live_explanation": live.explanation,
        "shadow_explanation": shadow.explanation,
    }


def render_shadow_report(report: dict[str, Any]) -> str:
    """The shadow report as text for a terminal."""
    versions = report["versions"]
    live_v = ", ".join(versions["live"]) or "-"
    shadow_v = ", ".join(versions["shadow"]) or "-"
    lines = [
        f"shadow evaluation of {report['policy']}: live {live_v}, shadow {shadow_v}",
        f"  shadow decisions:  {report['shadow_decisions']}",
        f"  would flip:        {report['would_flip']} of {report['compared']} compared",
        f"  unchanged:         {report['unchanged']}",
    ]
    if report["unpaired"]:
        lines.append(f"  live record gone:  {report['unpaired']} (pruned from the log)")
    for group in report["groups"]:
        lines.append("")
        lines.append(f"changed fields: {', '.join(group['fields'])} ({group['count']} decision(s))")
        for i, ex in enumerate(group["examples"], 1):
            lines.append(f"  example {i}: decision {ex['decision_id']} at {ex['time']}")
            for name in group["fields"]:
                old = _short(ex["live"]["output"], name)
                new = _short(ex["shadow"]["output"], name)
                lines.append(f"    {name}: {old} -> {new}")
            for side in ("live", "shadow"):
                lines.append(f"    explanation ({side} {ex[side]['version']}):")
                text = ex[f"{side}_explanation"] or "(not logged)"
                lines.extend("      " + ln for ln in text.splitlines())
    return "\n".join(lines)


def _short(output: dict[str, Any], name: str, limit: int = 200) -> str:
    if name not in output:
        return "(absent)"
    text = json.dumps(output[name], ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
