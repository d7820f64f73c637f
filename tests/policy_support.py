"""What the tests of policies share: a one-policy tree written to disk (`write_policy`), the
command line in a process (`run_cli`), YAML read as JSON would (`JsonishLoader`), one case of a
policy's test file run through the engine (`run_yaml_case`), and a shipped policy with its test
file, its schemas and its reference implementation (`ShippedPolicy`)."""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator, FormatChecker

from clausewise import Engine, InputError
from clausewise.authoring.testing import TestRunner, fired_rules, subset_diff
from clausewise.authoring.verify import invariant_checker
from clausewise.dsl.diagnostics import ERROR
from clausewise.engine.store import PolicyStore
from tests.oracles.contracts.values import CodedInputError, schema_errors

__all__ = [
    "GENERATED",
    "JsonishLoader",
    "ShippedPolicy",
    "case_input",
    "fired_rules",
    "run_cli",
    "subset_problems",
    "write_policy",
]

ROOT = Path(__file__).resolve().parent.parent

# The header of the one-policy trees the tests write (`write_policy`).
POLICY_HEADER = """policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
"""


def write_policy(
    root: Path,
    body: str,
    input_schema: dict[str, Any],
    header: str = "",
    output_schema: dict[str, Any] | None = None,
) -> Path:
    """A policy root holding one policy, `t/p` 1.0.0: `POLICY_HEADER`, the extra header lines
    `header`, then `body`, with its schemas beside it. Returns `root`."""
    folder = root / "t" / "p"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "input.schema.json").write_text(json.dumps(input_schema))
    (folder / "output.schema.json").write_text(json.dumps(output_schema or {}))
    text = POLICY_HEADER + (header + "\n" if header else "") + body + "\n"
    (folder / "1.0.0.cw").write_text(text)
    return root


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`clausewise ARGS` in a process of its own, from the repository's root."""
    return subprocess.run(
        [sys.executable, "-m", "clausewise.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


class JsonishLoader(yaml.SafeLoader):
    """YAML without implicit dates or other guesses beyond JSON's."""


JsonishLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def subset_problems(expected: Any, actual: Any) -> list[str]:
    """Where `actual` differs from `expected`, comparing only what `expected` gives."""
    return subset_diff(expected, actual)


def run_yaml_case(engine: Any, policy: str, case: dict[str, Any], data: Any) -> tuple[Any, Any]:
    """One case of a policy's test file: `(output, None)` for a decision, checked against the case's
    `expect`, `expect_subset`, `fired` and `not_fired` and equal at every trace level; or
    `(None, error)` for an expected input error, checked against its path (and code, if given)."""
    import pytest

    from clausewise import InputError

    if "error" in case:
        with pytest.raises(InputError) as info:
            engine.evaluate(policy, data)
        want = case["error"]
        assert info.value.path == want["path"], info.value
        if "code" in want:
            assert info.value.code == want["code"], info.value
        return None, info.value
    decision = engine.evaluate(policy, data, trace="full")
    out = decision.output
    assert engine.evaluate(policy, data).output == out  # untraced gives the same output
    assert engine.evaluate(policy, data, trace="rules").output == out
    if "expect" in case:
        assert out == case["expect"], decision.explain()
    if "expect_subset" in case:
        problems = subset_problems(case["expect_subset"], out)
        assert not problems, "\n".join(problems) + "\n" + decision.explain()
    fired = fired_rules(decision)
    for name in case.get("fired", []):
        assert name in fired, f"{name} did not fire\n{decision.explain()}"
    for name in case.get("not_fired", []):
        assert name not in fired, f"{name} fired\n{decision.explain()}"
    return out, None


# ---- a shipped policy under test ------------------------------------------------------------

POLICIES = ROOT / "policies"

# Settings of the property tests that run a shipped policy on generated inputs.
GENERATED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


class ShippedPolicy:
    """One policy of `policies/` (version 1.0.0) as its tests see it: the cases of its test file,
    an engine that loaded it without a diagnostic, its output schema, its own invariants, and the
    hand-written reference implementation of its contract (`tests/oracles/contracts/`)."""

    def __init__(self, policy_id: str, reference: Callable[[Any], dict[str, Any]]) -> None:
        self.policy_id = policy_id
        self.folder = POLICIES / policy_id
        self.test_file = self.folder / "1.0.0.test.yaml"
        self.reference = reference

    @functools.cached_property
    def test_cases(self) -> list[dict[str, Any]]:
        """The cases of the policy's test file."""
        doc = yaml.load(self.test_file.read_text(encoding="utf-8"), Loader=JsonishLoader)
        assert doc["policy"] == self.policy_id and str(doc["version"]) == "1.0.0"
        names = [case["name"] for case in doc["cases"]]
        assert len(names) == len(set(names)), "case names are unique"
        cases: list[dict[str, Any]] = doc["cases"]
        return cases

    def cases(self) -> list[Any]:
        """The cases of the policy's test file, as parameters named by the cases' names."""
        return [pytest.param(case, id=case["name"]) for case in self.test_cases]

    def case(self, name_start: str) -> dict[str, Any]:
        """The first case of the test file whose name starts with `name_start`."""
        return next(c for c in self.test_cases if c["name"].startswith(name_start))

    @functools.cached_property
    def store(self) -> PolicyStore:
        # Other policies of the folder are loaded too; only this one's diagnostics must be clean.
        store = PolicyStore.load(POLICIES, strict=False)
        mine = [
            d
            for d in store.diagnostics
            if d.span.source is not None and Path(str(d.span.path)).resolve().parent == self.folder
        ]
        assert not [d for d in mine if d.severity == ERROR], "\n".join(d.render() for d in mine)
        assert not mine, "warnings:\n" + "\n".join(d.render() for d in mine)
        return store

    @functools.cached_property
    def engine(self) -> Engine:
        return Engine(self.store)

    @functools.cached_property
    def output_validator(self) -> Draft202012Validator:
        schema = json.loads((self.folder / "output.schema.json").read_text(encoding="utf-8"))
        return Draft202012Validator(schema, format_checker=FormatChecker())

    def decide(self, data: Any, trace: str = "off") -> Any:
        """The engine's output for a copy of `data`."""
        return self.engine.evaluate(self.policy_id, copy.deepcopy(data), trace=trace).output

    def expected(self, data: Any) -> dict[str, Any] | CodedInputError:
        """The reference's output for a copy of `data`, or the input error it raises."""
        try:
            return self.reference(copy.deepcopy(data))
        except CodedInputError as e:
            return e

    def broken_invariants(self, data: Any) -> list[str]:
        """Names of the policy's own `invariant`s that do not hold for `data`."""
        loaded = self.store.get(self.policy_id)
        compiled = loaded.compiled
        inp = compiled.convert_input(copy.deepcopy(data))
        value = compiled.variants["off"].decide(inp, None)
        return [name for name, ok in invariant_checker(loaded)(inp, value) if not ok]

    def fired_by_cases(self) -> set[str]:
        """The rules some decision case of the test file fires."""
        fired: set[str] = set()
        for case in self.test_cases:
            if "error" not in case:
                data = case_input(self.folder, case)
                decision = self.engine.evaluate(self.policy_id, data, trace="full")
                fired |= fired_rules(decision)
        return fired

    def check_test_file_with_the_runner(self, tmp_path: Path) -> None:
        """The test file through `clausewise.authoring.testing` (what `clausewise test` runs),
        every case passing with full coverage. The policy is copied alone, so that other
        policies of the folder cannot stop it loading."""
        copied = tmp_path / self.policy_id
        shutil.copytree(self.folder, copied)
        report = TestRunner(coverage=True).run([copied / self.test_file.name])
        assert not report.errors, report.errors
        assert report.results and not report.failed, [(r.name, r.message) for r in report.failed]
        for coverage in report.coverage.values():
            assert coverage.total() == 100.0, coverage.to_json()

    def check_bad_input(self, data: Any, aliases: Collection[tuple[str, str]] = ()) -> None:
        """The engine and the reference agree on an input that may be bad: both decide alike,
        or both reject it at the same path with the same code (`aliases`: pairs of (engine
        code, reference code) taken as the same). Where the input breaks the schema at several
        paths, the contract does not say which is reported (the reference takes the smallest):
        the engine must report one of them."""
        expected = self.expected(data)
        try:
            out: Any = self.decide(data)
        except InputError as e:
            assert isinstance(expected, CodedInputError), f"engine rejects ({e}), reference decides"
            violations = {error.path for error in schema_errors(data, self.policy_id, "input")}
            if len(violations) > 1:
                assert e.path in violations, (e, violations)
                return
            assert e.path == expected.path, (e, expected)
            assert e.code == expected.code or (e.code, expected.code) in aliases, (e, expected)
            return
        assert not isinstance(expected, CodedInputError), f"engine decides, reference: {expected}"
        assert out == expected


def case_input(folder: Path, case: dict[str, Any]) -> Any:
    """The input of a test file's case: `input`, or the JSON file `input_file` names."""
    if "input_file" in case:
        return json.loads((folder / case["input_file"]).read_text(encoding="utf-8"))
    return case["input"]
