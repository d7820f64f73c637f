"""Decision input is validated exactly as its schema says: the official JSON Schema Test Suite
(draft 2020-12), each case's schema wrapped as the field `x` of a policy's input schema.

For every case the policy is checked; a schema `check` rejects is counted as such (it never
reaches the engine). For an accepted schema, each test's data goes through the engine as
`{"x": data}` (untraced and traced) and must be accepted exactly when the suite says it is
valid, unless the disagreement is one of the deliberate ones listed in `DEVIATIONS` (and in
docs/schemas.md). The suite is read from `../shared/data/json-schema-test-suite/`, beside the
repository; without it the test is skipped, with a warning.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from clausewise import Engine, InputError
from clausewise.dsl.diagnostics import ERROR
from clausewise.engine.store import PolicyStore

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT.parent / "shared" / "data" / "json-schema-test-suite" / "draft2020-12"
DOCS = ROOT / "docs" / "schemas.md"

# (file, case description, test description) -> why clausewise deliberately answers otherwise
_DATE = "`format: date` asserts: a date is a YYYY-MM-DD string naming a real day"
_DATETIME = "`format: date-time` asserts: an RFC 3339 string with an offset"
_INTEGER = "an integer is a JSON number without a fraction or exponent (`1.0` is refused)"
DEVIATIONS: dict[tuple[str, str, str], str] = {
    ("format.json", "date format", "all string formats ignore integers"): _DATE,
    ("format.json", "date format", "all string formats ignore floats"): _DATE,
    ("format.json", "date format", "all string formats ignore objects"): _DATE,
    ("format.json", "date format", "all string formats ignore arrays"): _DATE,
    ("format.json", "date format", "all string formats ignore booleans"): _DATE,
    ("format.json", "date format", "all string formats ignore nulls"): _DATE,
    ("format.json", "date format", "invalid date string is only an annotation by default"): _DATE,
    ("format.json", "date-time format", "all string formats ignore integers"): _DATETIME,
    ("format.json", "date-time format", "all string formats ignore floats"): _DATETIME,
    ("format.json", "date-time format", "all string formats ignore objects"): _DATETIME,
    ("format.json", "date-time format", "all string formats ignore arrays"): _DATETIME,
    ("format.json", "date-time format", "all string formats ignore booleans"): _DATETIME,
    ("format.json", "date-time format", "all string formats ignore nulls"): _DATETIME,
    (
        "format.json",
        "date-time format",
        "invalid date-time string is only an annotation by default",
    ): _DATETIME,
    (
        "type.json",
        "integer type matches integers",
        "a float with zero fractional part is an integer",
    ): _INTEGER,
}

POLICY = """\
policy "{pid}"
version "1.0.0"
title "suite case"
source "JSON Schema Test Suite"
input schema "input.schema.json"
output schema "output.schema.json"

output {{
  ok: true,
}}
"""
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
}


def _rebase(schema: Any) -> Any:
    """The case's schema with its local references rebased onto `#/properties/x`."""
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if k == "$ref" and isinstance(v, str) and (v == "#" or v.startswith("#/")):
                out[k] = "#/properties/x" + v[1:]
            elif k in ("enum", "const", "examples", "default"):
                out[k] = v  # values, not schemas: a `$ref` in them is data
            else:
                out[k] = _rebase(v)
        return out
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def _cases() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(SUITE.glob("*.json")):
        out += [(path.name, case) for case in json.loads(path.read_text(encoding="utf-8"))]
    return out


def _write_policies(root: Path, cases: list[tuple[str, dict[str, Any]]]) -> list[str]:
    ids = []
    for n, (_file, case) in enumerate(cases):
        pid = f"suite/case-{n}"
        folder = root / pid
        folder.mkdir(parents=True)
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"x": _rebase(case["schema"])},
            "required": ["x"],
        }
        (folder / "input.schema.json").write_text(json.dumps(schema, indent=2), encoding="utf-8")
        (folder / "output.schema.json").write_text(json.dumps(OUTPUT_SCHEMA), encoding="utf-8")
        (folder / "1.0.0.cw").write_text(POLICY.format(pid=pid), encoding="utf-8")
        ids.append(pid)
    return ids


def _accepted(engine: Engine, pid: str, data: Any) -> bool:
    answers = set()
    for trace in ("off", "full"):
        try:
            engine.evaluate(pid, {"x": data}, trace=trace)
        except InputError as e:
            assert e.path == "/x" or e.path.startswith("/x/"), e  # the error names its place
            answers.add(False)
        else:
            answers.add(True)
    assert len(answers) == 1, f"{pid}: traced and untraced decisions disagree on {data!r}"
    return answers.pop()


def test_the_engine_agrees_with_the_json_schema_test_suite(tmp_path: Path) -> None:
    if not SUITE.is_dir():
        message = f"the JSON Schema Test Suite is not at {SUITE}: its conformance is NOT tested"
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    cases = _cases()
    ids = _write_policies(tmp_path / "policies", cases)
    store = PolicyStore.load(tmp_path / "policies", strict=False, jobs=1)
    rejected_files = {
        str(Path(d.span.path).resolve().parent) for d in store.diagnostics if d.severity == ERROR
    }
    engine = Engine(store)
    agreements = rejected = deviations = 0
    silent: list[str] = []
    seen_deviations = set()
    for (file, case), pid in zip(cases, ids, strict=True):
        if str((tmp_path / "policies" / pid).resolve()) in rejected_files:
            rejected += len(case["tests"])
            assert pid not in store.policies
            continue
        for test in case["tests"]:
            key = (file, case["description"], test["description"])
            if _accepted(engine, pid, test["data"]) == test["valid"]:
                agreements += 1
                assert key not in DEVIATIONS, f"listed as a deviation but agrees: {key}"
            elif key in DEVIATIONS:
                deviations += 1
                seen_deviations.add(key)
            else:
                silent.append(
                    f"{file} / {case['description']} / {test['description']}: "
                    f"suite says {'valid' if test['valid'] else 'invalid'}"
                )
    print(
        f"\nJSON Schema Test Suite (draft 2020-12): {agreements} agreements, "
        f"{rejected} rejected at check, {deviations} documented deviations, "
        f"{len(silent)} silent disagreements"
    )
    assert not silent, "\n".join(silent)
    assert seen_deviations == set(DEVIATIONS), set(DEVIATIONS) - seen_deviations
    assert agreements > 0


def test_every_deviation_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for file, case, test in DEVIATIONS:
        row = re.escape(f"| {file} | {case} | {test} |")
        assert re.search(row, docs), f"docs/schemas.md does not list {(file, case, test)}"
