"""The conformance cases of `tests/cases/` read as checks: one per input of each case, each
holding the policy's full text (with the standard header added where a case has none), the
case's files and one input with its expectations. The format: tests/cases/README.md.

`tests/test_conformance.py` runs the checks; other tests read the cases' policy texts here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CASES_DIR = Path(__file__).parent / "cases"
DEFAULT_VERSION = "1.0.0"

CASE_KEYS = {
    "name",
    "policy",
    "header",
    "inputs",
    "input_schema",
    "output_schema",
    "modules",
    "input",
    "expect",
    "error",
    "diagnostic",
    "trace_contains",
    "why_not",
    "version",
    "at",
    "xfail",
}
# What one input of a case holds (in `inputs:`, or beside the policy for a case of one input).
INPUT_KEYS = {"name", "input", "expect", "error", "trace_contains", "why_not"}
HEADER_LINE = re.compile(r'^\s*policy\s+"', re.MULTILINE)

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BOOL = "tag:yaml.org,2002:bool"


class CaseLoader(yaml.SafeLoader):
    """YAML without implicit dates: `2022-10-05` stays the string the policy's input sends."""


CaseLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in (_TIMESTAMP, _BOOL)]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# booleans are `true` and `false` only (`off`, `no`... stay strings, as in YAML 1.2)
CaseLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), None)


@dataclass(frozen=True)
class Check:
    """One input of a case (or a case of diagnostics only): `<topic>/<file>/<case>[/<input>]`."""

    id: str
    case: dict[str, Any]
    xfail: str | None


def default_header(topic: str) -> str:
    """The header a case's policy gets when it has none: `policy "cases/<topic>"` (the case
    file's top folder), version 1.0.0, with the two schema files."""
    return (
        f'policy "cases/{topic}"\n'
        f'version "{DEFAULT_VERSION}"\n'
        'input schema "input.schema.json"\n'
        'output schema "output.schema.json"\n'
    )


def expand(case: dict[str, Any], topic: str) -> list[tuple[str | None, dict[str, Any]]]:
    """One check per input of the case: `(input name, flat case)`, where the flat case holds the
    policy's full text (header added), the case's keys, and one input with its expectations.
    A case without inputs (diagnostics only) is one check."""
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"unknown case keys {sorted(unknown)}"
    assert "policy" in case, "a case needs `policy`"
    shared = {
        k: v for k, v in case.items() if k not in INPUT_KEYS and k not in ("inputs", "header")
    }
    text = case["policy"]
    if case.get("header", True) and not HEADER_LINE.search(text):
        text = default_header(topic) + text
    shared["policy"] = text
    if "inputs" in case:
        assert not set(case) & INPUT_KEYS - {"name"}, "a case gives `inputs` or one `input`"
        inputs = case["inputs"]
        assert isinstance(inputs, list) and inputs, "`inputs` is a list of inputs"
    else:
        inputs = [{k: v for k, v in case.items() if k in INPUT_KEYS - {"name"}}]
    out = []
    for item in inputs:
        unknown = set(item) - INPUT_KEYS
        assert not unknown, f"unknown input keys {sorted(unknown)}"
        flat = {**shared, **{k: v for k, v in item.items() if k != "name"}}
        out.append((item.get("name") if "inputs" in case else None, flat))
    return out


def conformance_checks() -> list[Check]:
    """Every check of every case file, in file order."""
    checks = []
    for f in sorted(CASES_DIR.rglob("*.yaml")):
        topic = f.relative_to(CASES_DIR).parts[0]
        folder = f.parent.relative_to(CASES_DIR).as_posix()
        cases = yaml.load(f.read_text(encoding="utf-8"), Loader=CaseLoader)  # a SafeLoader
        assert isinstance(cases, list), f"{f}: a case file holds a list of cases"
        for case in cases:
            case_id = f"{folder}/{f.stem}/{case.get('name')}"
            xfail = str(case["xfail"]) if "xfail" in case else None
            expanded = expand(case, topic)
            for i, (input_name, flat) in enumerate(expanded):
                check_id = case_id if len(expanded) == 1 else f"{case_id}/{input_name or i + 1}"
                checks.append(Check(check_id, flat, xfail))
    return checks
