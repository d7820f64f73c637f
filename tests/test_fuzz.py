"""The fuzzer's findings, replayed: every case in tests/fuzz/regressions/ (written there by
`make fuzz` when it finds a failure) must now pass its target; and a small, fixed sample of the
fuzzer runs here (`make fuzz` runs it for as long as FUZZ_SECONDS says).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fuzz import harness as H

# Saved cases that still fail, with the reason; `strict=False`: a case that passes only shows
# as XPASS until its mark is removed.
KNOWN_OPEN: dict[str, str] = {}


def _cases() -> list[Any]:
    out = []
    for path in sorted(H.REGRESSIONS.glob("*.yaml")):
        marks = []
        if path.name in KNOWN_OPEN:
            marks.append(pytest.mark.xfail(reason=KNOWN_OPEN[path.name], strict=False))
        out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUSEWISE_CACHE_DIR", "off")


@pytest.mark.parametrize("path", _cases())
def test_regression_case_passes(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["target"] in H.TARGETS, f"{path.name}: unknown target {doc['target']!r}"
    try:
        H.run_payload(H.Payload.from_dict(doc))
    except H.Found as f:
        pytest.fail(f"{path.name} still fails: {f}")


def test_the_known_open_list_names_saved_cases() -> None:
    saved = {p.name for p in H.REGRESSIONS.glob("*.yaml")}
    assert set(KNOWN_OPEN) <= saved, sorted(set(KNOWN_OPEN) - saved)


# a fixed sample: each target a bounded number of steps (about 20 s on a loaded machine)
SAMPLE_STEPS = {"parse": 300, "fmt": 120, "check": 120, "evaluate": 25, "differential": 25}


def test_a_sample_of_the_fuzzer_finds_nothing_new(tmp_path: Path) -> None:
    known = H.known_signatures(names=set(KNOWN_OPEN))
    stats = H.fuzz(steps=SAMPLE_STEPS, seed=20261206, save_to=tmp_path, known=known)
    assert all(stats.steps[t] == n for t, n in SAMPLE_STEPS.items())
    assert stats.tried["differential"] >= SAMPLE_STEPS["differential"] * H.INPUTS_PER_POLICY
    new = [
        f"[{p.target}] {f}\n{yaml.safe_dump(p.as_dict(), sort_keys=False)[:3000]}"
        for f, p, _path in stats.failures
        if H.signature(p, f) not in known
    ]
    assert not new, "the fuzzer found:\n" + "\n".join(new)


def test_a_failure_is_saved_once_as_a_case_that_replays_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_parse(p: H.Payload) -> int:
        if "output" in p.policy:
            raise ValueError("the parser broke")
        return 1

    monkeypatch.setitem(H.RUNNERS, "parse", broken_parse)
    stats = H.fuzz(steps={"parse": 40}, seed=3, targets=("parse",), save_to=tmp_path)
    saved = sorted(tmp_path.glob("*.yaml"))
    assert len(saved) == 1 and saved[0].name.startswith("parse-valueerror-")
    assert len(stats.failures) == 1
    doc = yaml.safe_load(saved[0].read_text(encoding="utf-8"))
    assert doc["signature"] == "parse|ValueError|tests/test_fuzz.py:broken_parse"
    with pytest.raises(H.Found) as again:
        H.run_payload(H.Payload.from_dict(doc))
    assert again.value.kind == "ValueError"


def test_make_fuzz_prints_the_inputs_tried_per_target(tmp_path: Path) -> None:
    import subprocess
    import sys

    targets = ["--target", "parse", "--target", "differential"]
    command = [sys.executable, "-m", "tests.fuzz", "--seconds", "4", "--seed", "5", *targets]
    run = subprocess.run(
        [*command, "--save-to", str(tmp_path)],
        cwd=H.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {line.split()[0]: line.split() for line in run.stdout.splitlines() if line.strip()}
    assert int(rows["parse"][1]) > 0 and int(rows["differential"][1]) > 0
    assert "failures: 0\n" in run.stdout


def test_a_new_instance_of_a_fixed_kind_is_saved_beside_it_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saved case passes; the fuzzer then finds another failure of the same kind (the same
    signature): it is a new failure, saved as a second case and reported, not counted as old."""
    fixed: set[str] = set()  # the policy texts that parse now

    def broken_parse(p: H.Payload) -> int:
        if "output" in p.policy and p.policy not in fixed:
            raise ValueError("the parser broke")
        return 1

    monkeypatch.setitem(H.RUNNERS, "parse", broken_parse)
    H.fuzz(steps={"parse": 40}, seed=3, targets=("parse",), save_to=tmp_path)
    (first,) = sorted(tmp_path.glob("*.yaml"))
    fixed.add(yaml.safe_load(first.read_text(encoding="utf-8"))["policy"])
    assert not H._replays(yaml.safe_load(first.read_text(encoding="utf-8")))

    known = H.known_signatures(tmp_path)
    stats = H.fuzz(steps={"parse": 40}, seed=4, targets=("parse",), save_to=tmp_path, known=known)
    saved = sorted(tmp_path.glob("*.yaml"))
    assert {p.name for p in saved} == {first.name, first.stem + "-2.yaml"}
    assert len(stats.failures) == 1
    out = io.StringIO()
    H.report(stats, known, out)
    assert "failures: 1" in out.getvalue() and "(a kind saved before)" in out.getvalue()
    assert first.stem + "-2.yaml" in out.getvalue()
