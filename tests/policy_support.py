"""What the shipped policies' test files share: reading their YAML cases as JSON would, and the
helpers of the policy test runner (`clausewise.testing`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from clausewise.authoring.testing import fired_rules, subset_diff

__all__ = ["JsonishLoader", "fired_rules", "run_cli", "subset_problems", "write_policy"]

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
