"""The new author's path of docs/authoring.md, on the policy it uses as its example
(tests/fixtures/author: average daily budgets with daily overdelivery and a prorated monthly
charging limit): every command the guide shows runs as shown, in order, on a copy of the
fixture, and prints what the guide says; `verify` with its default settings finds a
counterexample for each deliberately false invariant while the true ones hold."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "authoring.md"
FIXTURE = ROOT / "tests" / "fixtures" / "author"
POLICY = "policies/budgets/daily-budget-overdelivery"
FALSE = {"never_a_credit", "never_twice_the_budget"}
TRUE = {"charged_within_limit", "credit_only_when_capped"}


def guide_steps() -> list[tuple[str, list[str]]]:
    """Each `$ command` of the guide's console blocks, with the output lines shown after it
    (`...` marks lines left out)."""
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", GUIDE.read_text(), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
    return steps


def shown_in(shown: list[str], out: str) -> None:
    """Every output line the guide shows is printed, in that order."""
    at = 0
    lines = out.splitlines()
    for want in shown:
        if want.strip() == "..." or not want.strip():
            continue
        if want.rstrip().endswith("..."):
            want = want.rstrip()[:-3]
            found = [i for i in range(at, len(lines)) if lines[i].startswith(want)]
        else:
            found = [i for i in range(at, len(lines)) if lines[i] == want]
        assert found, f"the guide shows {want!r}, the command printed:\n{out}"
        at = found[0] + 1


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Run the guide's commands in order on a copy of the fixture: their outputs by command."""
    work = tmp_path_factory.mktemp("guide")
    shutil.copytree(FIXTURE, work, dirs_exist_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    outputs: dict[str, str] = {}
    for command, shown in guide_steps():
        done = subprocess.run(
            command, shell=True, cwd=work, env=env, capture_output=True, text=True, check=False
        )
        expected = 1 if "# exits 1" in command else 0
        assert done.returncode == expected, f"{command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        shown_in(shown, done.stdout)
        outputs[command.split("    #")[0]] = done.stdout
    return outputs


def test_the_guide_shows_every_step_and_each_runs_as_shown(ran: dict[str, str]) -> None:
    run = " ".join(ran)
    for step in ("check", "fmt --check", "test", "verify", "explain", "lock", "diff", "impact"):
        assert f"clausewise {step} " in run, step
    assert "--for reader" in run
    assert "--coverage" in run


def test_verify_finds_each_false_invariant_and_the_true_ones_hold(ran: dict[str, str]) -> None:
    out = ran["clausewise verify policies --seed 1"]
    # default settings: the guide passes only a seed
    assert "1000 inputs per policy version" in out
    broken = set(re.findall(r"invariant (\w+) does not hold", out))
    assert broken == FALSE, out
    assert not broken & TRUE
    assert out.count("counterexample input:") >= 1
    # each false invariant comes with a counterexample that breaks it, shown beside it
    for name in FALSE:
        assert f"invariant {name} " in out
    assert re.search(r"rules fired 2/2 \(100%\)", out), out


def test_the_fixture_checks_tests_and_explains_for_the_reader() -> None:
    from click.testing import CliRunner

    from clausewise.cli import main

    policies = str(FIXTURE / "policies")
    runner = CliRunner()
    assert runner.invoke(main, ["check", policies, "--strict"]).exit_code == 0
    tested = runner.invoke(main, ["test", policies, "--coverage", "--min-coverage", "100"])
    assert tested.exit_code == 1  # one condition is never false: the guide says so
    assert "5 passed, 0 failed" in tested.output
    reader = runner.invoke(
        main,
        [
            "explain",
            "budgets/daily-budget-overdelivery",
            "--policies",
            policies,
            "--input",
            str(FIXTURE / POLICY / "cases" / "month-capped.json"),
            "--for",
            "reader",
        ],
    )
    assert reader.exit_code == 0, reader.output
    assert (
        "The days counted came to 4500 USD, above the monthly charging limit 2280.00 USD: "
        "you are charged 2280.00 USD and credited 2220.00 USD. [D3, D5]"
    ) in reader.output


def test_the_currency_mix_the_guide_shows_is_reported_as_shown(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
    with (tmp_path / POLICY / "1.0.0.cw").open("a") as f:
        f.write("\nlet big = (sum(c.cost for c in input.costs) ?? 0 USD) > 1000 EUR\n")
    shown = re.search(r"^policies/\S+ error\[currency-mismatch\].*$", GUIDE.read_text(), re.M)
    assert shown is not None
    done = subprocess.run(
        [str(Path(sys.executable).parent / "clausewise"), "check", "policies"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert shown.group(0) in done.stdout.splitlines(), done.stdout
