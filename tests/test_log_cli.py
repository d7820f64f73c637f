"""`clausewise log` (query, export, show, prune, shadow) and `impact --inputs log:URL`."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clausewise import Engine
from clausewise.cli import main
from clausewise.log import DecisionRecord, new_decision_id, open_log
from tests.log_backends import LogBackend
from tests.pr_support import FIXTURES, POLICY, expected_output, generate_inputs, is_bad

START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def decided(
    engine: Engine,
    version: str,
    x: dict[str, Any],
    at: dt.datetime,
    *,
    kind: str = "live",
    shadow_of: str | None = None,
) -> DecisionRecord:
    d = engine.evaluate(POLICY, x, version=version, trace="rules")
    return DecisionRecord(
        decision_id=new_decision_id(),
        time=at,
        policy=POLICY,
        version=version,
        revision="sha256:" + "0" * 64,
        input=x,
        output=d.output,
        outcome=f"at_risk={'true' if d.output['at_risk'] else 'false'}",
        explanation=d.explain(),
        trace=d.trace,
        kind=kind,
        shadow_of=shadow_of,
    )


class Traffic:
    """A log holding the decisions of 1.0.0 (live) and 1.1.0 (shadow) on 120 inputs, one a minute."""

    def __init__(self, url: str):
        self.url = url
        engine = Engine.from_directory(FIXTURES)
        self.inputs = [
            x for x in generate_inputs(130, seed=3) if isinstance(x, dict) and not is_bad(x)
        ]
        self.live: list[DecisionRecord] = []
        self.shadow: list[DecisionRecord] = []
        for i, x in enumerate(self.inputs):
            at = START + dt.timedelta(minutes=i)
            live = decided(engine, "1.0.0", x, at)
            self.live.append(live)
            self.shadow.append(
                decided(engine, "1.1.0", x, at, kind="shadow", shadow_of=live.decision_id)
            )
        other = DecisionRecord(
            new_decision_id(), START, "other/policy", "1.0.0", "sha256:x", {}, {}, "", None, None
        )
        with open_log(url) as log:
            log.append([*self.live, *self.shadow, other]).result(timeout=60)


@pytest.fixture
def traffic(tmp_path: Path) -> Traffic:
    return Traffic(f"sqlite:///{tmp_path}/decisions.db")


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


# ---- query -----------------------------------------------------------------------------------


def test_query_prints_json_lines_from_a_real_process(traffic: Traffic) -> None:
    env = {**os.environ, "CLAUSEWISE_LOG": traffic.url}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "clausewise.cli",
            "log",
            "query",
            "--policy",
            POLICY,
            "--limit",
            "5",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = lines(done.stdout)
    assert got == [r.to_json() for r in traffic.live[:5]]
    assert "--after " in done.stderr  # more match than the limit: where to continue


def test_query_filters(log_backend: LogBackend) -> None:
    traffic = Traffic(log_backend.url)
    url = ["--log", traffic.url]
    got = lines(run("log", *url, "query", "--policy", POLICY, "--limit", "1000").output)
    assert got == [r.to_json() for r in traffic.live]
    at_risk = lines(
        run("log", *url, "query", "--outcome", "at_risk=true", "--limit", "1000").output
    )
    assert at_risk == [r.to_json() for r in traffic.live if r.outcome == "at_risk=true"]
    assert 0 < len(at_risk) < len(traffic.live)
    since, until = "2026-06-01T09:10:00Z", "2026-06-01T12:10:00+02:00"  # 09:10Z to 10:10Z
    window = lines(
        run("log", *url, "query", "--policy", POLICY, "--since", since, "--until", until).output
    )
    assert window == [r.to_json() for r in traffic.live[10:70]]
    shadows = lines(run("log", *url, "query", "--kind", "shadow", "--limit", "1000").output)
    assert shadows == [r.to_json() for r in traffic.shadow]
    both = lines(run("log", *url, "query", "--kind", "all", "--limit", "10000").output)
    assert len(both) == 2 * len(traffic.live) + 1


def test_query_continues_after_the_cursor(traffic: Traffic) -> None:
    seen: list[dict[str, Any]] = []
    args = ["log", "--log", traffic.url, "query", "--policy", POLICY, "--limit", "50"]
    after: list[str] = []
    for _ in range(10):
        r = CliRunner().invoke(main, args + after)
        assert r.exit_code == 0
        seen.extend(lines(r.stdout))
        if "--after" not in r.stderr:
            break
        after = ["--after", r.stderr.split("--after ")[1].strip()]
    assert seen == [r.to_json() for r in traffic.live]


def test_relative_since(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    now = dt.datetime.now(dt.UTC)
    recent = DecisionRecord(
        new_decision_id(), now, "p", "1", "sha256:r", {"a": 1}, {}, "", None, None
    )
    old = DecisionRecord(
        new_decision_id(), now - dt.timedelta(days=3), "p", "1", "sha256:r", {}, {}, "", None, None
    )
    with open_log(url) as log:
        log.append([old, recent]).result(timeout=10)
    got = lines(run("log", "--log", url, "query", "--since", "24h").output)
    assert [g["decision_id"] for g in got] == [recent.decision_id]


@pytest.mark.parametrize(
    "args, message",
    [
        (["query", "--since", "yesterday"], "is not a time"),
        (["query", "--until", "2026-13-01"], "is not a time"),
        (["query", "--since", "2026-06-01T10:00:00+05:60"], "is not a time"),
        (["query", "--since", "2026-06-01 10:00:00"], "is not a time"),
        (["query", "--after", "garbage"], "not a cursor"),
        (["prune", "--older-than", "30 days"], "is not a duration"),
        (["prune", "--older-than", "-1d"], "is not a duration"),
    ],
)
def test_bad_arguments_say_what_is_wrong(traffic: Traffic, args: list[str], message: str) -> None:
    r = CliRunner().invoke(main, ["log", "--log", traffic.url, *args])
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output


def test_a_missing_log_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    for args in (["query"], ["show", new_decision_id()], ["export", "--out", str(tmp_path / "x")]):
        r = CliRunner().invoke(main, ["log", "--log", f"sqlite:///{path}", *args])
        assert r.exit_code == 2, args
        assert f"no decision log at {path}" in r.output
    assert not path.exists()
    r = CliRunner().invoke(main, ["log", "--log", "mysql://x", "query"])
    assert r.exit_code == 2 and "not a decision log URL" in r.output


# ---- export, show, prune ----------------------------------------------------------------------


def test_export_writes_every_matching_decision(log_backend: LogBackend, tmp_path: Path) -> None:
    traffic = Traffic(log_backend.url)
    out = tmp_path / "out" / "export.jsonl"
    out.parent.mkdir()
    r = run("log", "--log", traffic.url, "export", "--out", str(out), "--policy", POLICY)
    assert r.exit_code == 0
    assert f"exported {len(traffic.live)} decision(s)" in r.output
    assert lines(out.read_text()) == [x.to_json() for x in traffic.live]
    r = run("log", "--log", traffic.url, "export", "--out", str(out), "--kind", "all")
    assert len(lines(out.read_text())) == 2 * len(traffic.live) + 1
    assert [p.name for p in out.parent.iterdir()] == ["export.jsonl"]  # no temporary left


def test_show_prints_one_decision(traffic: Traffic) -> None:
    rec = traffic.live[3]
    r = run("log", "--log", traffic.url, "show", rec.decision_id)
    assert r.exit_code == 0
    shown = json.loads(r.output)
    assert shown == rec.to_json()
    assert shown["explanation"].startswith(f"{POLICY} 1.0.0")
    missing = new_decision_id()
    r = CliRunner().invoke(main, ["log", "--log", traffic.url, "show", missing])
    assert r.exit_code == 1
    assert f"no decision {missing} in the log" in r.output


def test_prune_deletes_older_decisions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    now = dt.datetime.now(dt.UTC)

    def rec(age: dt.timedelta) -> DecisionRecord:
        return DecisionRecord(
            new_decision_id(), now - age, "p", "1", "sha256:r", {}, {}, "", None, None
        )

    keep = [rec(dt.timedelta(days=d)) for d in (0, 1, 29)]
    drop = [rec(dt.timedelta(days=d)) for d in (31, 60, 400)]
    with open_log(url) as log:
        log.append(keep + drop).result(timeout=10)
    r = run("log", "--log", url, "prune", "--older-than", "30d")
    assert r.exit_code == 0 and "deleted 3 decision(s)" in r.output
    with open_log(url) as log:
        assert {x.decision_id for x in log.query()[0]} == {x.decision_id for x in keep}


# ---- shadow ------------------------------------------------------------------------------------


def test_shadow_report_counts_and_groups_the_flips(log_backend: LogBackend) -> None:
    traffic = Traffic(log_backend.url)
    want: dict[tuple[str, ...], int] = {}
    for x in traffic.inputs:
        a, b = expected_output("1.0.0", x), expected_output("1.1.0", x)
        fields = tuple(sorted(k for k in a if a[k] != b[k]))
        if fields:
            want[fields] = want.get(fields, 0) + 1
    assert sum(want.values()) > 5  # a real mix
    r = run("log", "--log", traffic.url, "shadow", POLICY, "--format", "json")
    assert r.exit_code == 0
    report = json.loads(r.output)
    assert report["shadow_decisions"] == report["compared"] == len(traffic.inputs)
    assert report["would_flip"] == sum(want.values())
    assert report["unchanged"] == len(traffic.inputs) - sum(want.values())
    assert report["versions"] == {"live": ["1.0.0"], "shadow": ["1.1.0"]}
    assert {tuple(g["fields"]): g["count"] for g in report["groups"]} == want
    for g in report["groups"]:
        assert 1 <= len(g["examples"]) <= 3
        for ex in g["examples"]:
            x = ex["input"]
            assert ex["live"]["output"] == expected_output("1.0.0", x)
            assert ex["shadow"]["output"] == expected_output("1.1.0", x)
            assert ex["live_explanation"].startswith(f"{POLICY} 1.0.0")
            assert ex["shadow_explanation"].startswith(f"{POLICY} 1.1.0")

    text = run("log", "--log", traffic.url, "shadow", POLICY).output
    assert f"would flip:        {sum(want.values())} of {len(traffic.inputs)} compared" in text
    assert "changed fields: at_risk, violations" in text
    assert "explanation (shadow 1.1.0):" in text


def test_shadow_report_in_a_window_and_with_pruned_live_records(traffic: Traffic) -> None:
    since = (START + dt.timedelta(minutes=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = json.loads(
        run(
            "log", "--log", traffic.url, "shadow", POLICY, "--since", since, "--format", "json"
        ).output
    )
    assert report["shadow_decisions"] == len(traffic.inputs) - 100
    with open_log(traffic.url) as log:
        removed = log.prune(START + dt.timedelta(minutes=10, seconds=1))
    assert removed == 11 * 2 + 1  # live, shadow and the other policy's decision
    # live records pruned while their shadow records stay cannot be compared: counted apart
    with open_log(traffic.url) as log:
        log.append(
            [
                DecisionRecord(
                    new_decision_id(),
                    START + dt.timedelta(hours=5),
                    POLICY,
                    "1.1.0",
                    "sha256:r",
                    {},
                    {},
                    "",
                    None,
                    None,
                    kind="shadow",
                    shadow_of=new_decision_id(),
                )
            ]
        ).result(timeout=10)
    report = json.loads(
        run("log", "--log", traffic.url, "shadow", POLICY, "--format", "json").output
    )
    assert report["unpaired"] == 1
    assert report["compared"] == len(traffic.inputs) - 11


def test_shadow_report_of_a_policy_without_shadow_decisions(traffic: Traffic) -> None:
    report = json.loads(
        run("log", "--log", traffic.url, "shadow", "other/policy", "--format", "json").output
    )
    assert report["shadow_decisions"] == report["would_flip"] == 0 and report["groups"] == []


# ---- impact on logged inputs ------------------------------------------------------------------


def impact_json(*args: str) -> tuple[int, dict[str, Any]]:
    base = ["impact", POLICY, "--from", "1.0.0", "--to", "1.1.0", "--policies", str(FIXTURES)]
    r = CliRunner().invoke(main, [*base, *args, "--format", "json"])
    return r.exit_code, (json.loads(r.output) if r.exit_code == 0 else {"output": r.output})


def test_impact_replays_the_logged_inputs(traffic: Traffic, tmp_path: Path) -> None:
    code, from_log = impact_json("--inputs", f"log:{traffic.url}")
    assert code == 0
    jsonl = tmp_path / "inputs.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in traffic.inputs))
    _, from_file = impact_json("--inputs", str(jsonl))
    assert from_log["total"] == len(traffic.inputs)
    for key in ("total", "changed", "unchanged", "bad_input"):
        assert from_log[key] == from_file[key], key
    assert [(g["fields"], g["count"]) for g in from_log["groups"]] == [
        (g["fields"], g["count"]) for g in from_file["groups"]
    ]
    ids = {r.decision_id for r in traffic.live}
    assert all(ex["input"] in ids for g in from_log["groups"] for ex in g["examples"])
    assert from_log["inputs"] == f"log:{traffic.url}"


def test_impact_on_logged_inputs_since_a_time(traffic: Traffic) -> None:
    since = "2026-06-01T10:00:00Z"  # the 61st decision on
    code, report = impact_json("--inputs", f"log:{traffic.url}", "--since", since)
    assert code == 0
    assert report["total"] == len(traffic.inputs) - 60
    assert report["inputs"] == f"log:{traffic.url} since 2026-06-01T10:00:00Z"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--inputs", "log:"], "needs the log's URL"),
        (["--inputs", "log:sqlite:///{tmp}/missing.db"], "no decision log at"),
        (["--inputs", "log:mysql://db"], "not a decision log URL"),
        (["--inputs", "log:sqlite:///{tmp}/d.db", "--since", "soon"], "is not a time"),
        (["--inputs", "{tmp}", "--since", "7d"], "--since needs --inputs log:URL"),
        (["--inputs", "{tmp}/nothing-here"], "does not exist"),
    ],
)
def test_impact_with_bad_log_inputs(tmp_path: Path, args: list[str], message: str) -> None:
    code, report = impact_json(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 2
    assert message in report["output"]
    assert "Traceback" not in report["output"]
