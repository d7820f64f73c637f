"""Explanations rendered on read: the log keeps a small record and the files of every policy set
it served, and a record read back is explained by the set that decided it."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from clausewise import Engine

from .support import POLICY_ID, Server, policy_text, replace_file, run_cli, write_policy_set

INPUTS = [{"score": 40, "divisor": 4}, {"score": 95, "divisor": 3}, {"score": 50, "divisor": 8}]


def _decide(client: httpx.Client, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    r = client.post(f"/v1/decisions/{POLICY_ID}", json={"input": data, **extra})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _reload_to_new_revision(server: Server, client: httpx.Client, old: str) -> str:
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        revision: str = client.get("/v1/status").json()["revision"]
        if revision != old:
            return revision
        time.sleep(0.05)
    raise AssertionError(f"the server did not reload:\n{server.stderr()}")


def _stored_row(log: Path, decision_id: str) -> tuple[Any, Any]:
    with sqlite3.connect(log) as conn:
        row = conn.execute(
            "SELECT explanation, trace FROM decisions WHERE decision_id = ?", (decision_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_record_read_back_is_explained_as_the_engine_explains_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where the server runs: traces name files as it does
    root = write_policy_set(tmp_path / "policies")
    log = tmp_path / "log.db"
    engine = Engine.from_directory(root)
    with Server(root, f"sqlite:///{log}", "--no-watch") as server, server.client() as c:
        ids = [_decide(c, data)["decision_id"] for data in INPUTS]
        for decision_id, data in zip(ids, INPUTS, strict=True):
            # the log keeps no explanation: it is rendered when the record is read
            assert _stored_row(log, decision_id) == (None, None)
            record = c.get(f"/v1/decisions/{decision_id}").json()
            expected = engine.evaluate(POLICY_ID, data, trace="rules")
            assert record["output"] == expected.output
            assert record["explanation"] == expected.explain()
            assert record["trace"] == expected.trace
            assert "explanation_error" not in record
        # the list leaves them out unless asked for
        page = c.get("/v1/decisions", params={"policy": POLICY_ID}).json()["decisions"]
        assert [r["decision_id"] for r in page] == ids
        assert all(r["explanation"] is None and r["trace"] is None for r in page)
        page = c.get("/v1/decisions", params={"policy": POLICY_ID, "explain": "true"}).json()
        for r, data in zip(page["decisions"], INPUTS, strict=True):
            assert r["explanation"] == engine.evaluate(POLICY_ID, data, trace="rules").explain()
        bad = c.get("/v1/decisions", params={"explain": "yes"})
        assert bad.status_code == 400 and bad.json()["error"]["path"] == "explain"
        # a caller asking for a trace still gets it in the answer
        traced = _decide(c, INPUTS[0], trace="full")
        assert traced["trace"]["level"] == "full"
        assert "The score is below the threshold." in traced["explanation"]


def test_after_a_reload_an_old_decision_keeps_its_old_explanation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where the server runs: traces name files as it does
    root = write_policy_set(tmp_path / "policies", {"1.0.0": policy_text("1.0.0", 50)})
    log = tmp_path / "log.db"
    data = {"score": 40, "divisor": 4}
    expected = Engine.from_directory(root).evaluate(POLICY_ID, data, trace="rules")
    expected_explanation, expected_trace = expected.explain(), expected.trace
    with Server(root, f"sqlite:///{log}", "--no-watch") as server, server.client() as c:
        before = _decide(c, data)
        assert before["output"]["approved"] is False
        # the same version, another threshold: another revision that decides otherwise
        replace_file(root / POLICY_ID / "1.0.0.cw", policy_text("1.0.0", 30))
        new_revision = _reload_to_new_revision(server, c, before["revision"])
        after = _decide(c, data)
        assert after["revision"] == new_revision and after["output"]["approved"] is True

        old = c.get(f"/v1/decisions/{before['decision_id']}").json()
        assert old["revision"] == before["revision"]
        assert old["output"] == expected.output
        assert old["explanation"] == expected_explanation
        assert "low_score" in old["explanation"]
        assert old["trace"] == expected_trace
        new = c.get(f"/v1/decisions/{after['decision_id']}").json()
        assert "low_score [S1]: does not apply" in new["explanation"]
        assert "does not apply" not in old["explanation"]
        assert new["output"]["approved"] is True

    # both sets are in the log, as the files they were read from
    with sqlite3.connect(log) as conn:
        stored = dict(conn.execute("SELECT revision, files FROM revisions").fetchall())
    assert set(stored) == {before["revision"], new_revision}
    old_files = json.loads(stored[before["revision"]])
    assert old_files[f"{POLICY_ID}/1.0.0.cw"] == policy_text("1.0.0", 50)
    assert set(old_files) == {
        f"{POLICY_ID}/1.0.0.cw",
        f"{POLICY_ID}/input.schema.json",
        f"{POLICY_ID}/output.schema.json",
    }

    # the command line explains from the stored files alone (no server, no policy folder)
    shutil.rmtree(root)
    shown = run_cli("log", "--log", f"sqlite:///{log}", "show", before["decision_id"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr.decode()
    record = json.loads(shown.stdout)
    assert record["explanation"] == expected_explanation
    assert record["trace"] == expected_trace
    lines = run_cli("log", "--log", f"sqlite:///{log}", "query", "--policy", POLICY_ID)
    assert lines.returncode == 0, lines.stderr.decode()
    records = [json.loads(line) for line in lines.stdout.decode().splitlines()]
    assert [r["explanation"] is not None for r in records] == [True, True]
    assert "low_score" in records[0]["explanation"]
    bare = run_cli(
        "log", "--log", f"sqlite:///{log}", "query", "--policy", POLICY_ID, "--no-explain"
    )
    assert all(json.loads(x)["explanation"] is None for x in bare.stdout.decode().splitlines())


def test_a_log_without_the_revisions_files_reads_back_without_explanation(
    tmp_path: Path,
) -> None:
    root = write_policy_set(tmp_path / "policies", {"1.0.0": policy_text("1.0.0", 50)})
    log = tmp_path / "log.db"
    data = {"score": 40, "divisor": 4}
    with Server(root, f"sqlite:///{log}", "--no-watch") as server, server.client() as c:
        before = _decide(c, data)
        replace_file(root / POLICY_ID / "1.0.0.cw", policy_text("1.0.0", 30))
        _reload_to_new_revision(server, c, before["revision"])
        # a log written before revisions were kept has none
        with sqlite3.connect(log) as conn:
            conn.execute("DELETE FROM revisions WHERE revision = ?", (before["revision"],))
        r = c.get(f"/v1/decisions/{before['decision_id']}")
        assert r.status_code == 200
        record = r.json()
        assert record["output"] == before["output"]
        assert record["explanation"] is None and record["trace"] is None
        assert before["revision"] in record["explanation_error"]
        page = c.get("/v1/decisions", params={"explain": "true"}).json()["decisions"]
        assert page[0]["explanation"] is None and page[0]["explanation_error"]
    shown = run_cli("log", "--log", f"sqlite:///{log}", "show", before["decision_id"])
    assert shown.returncode == 0, shown.stderr.decode()
    assert json.loads(shown.stdout)["explanation"] is None


def test_a_logged_output_the_set_does_not_give_again_is_not_explained(tmp_path: Path) -> None:
    root = write_policy_set(tmp_path / "policies")
    log = tmp_path / "log.db"
    with Server(root, f"sqlite:///{log}", "--no-watch") as server, server.client() as c:
        body = _decide(c, {"score": 40, "divisor": 4})
        altered = {**body["output"], "approved": True}
        with sqlite3.connect(log) as conn:
            conn.execute(
                "UPDATE decisions SET output = ? WHERE decision_id = ?",
                (json.dumps(altered), body["decision_id"]),
            )
        record = c.get(f"/v1/decisions/{body['decision_id']}").json()
        assert record["output"] == altered
        assert record["explanation"] is None and record["trace"] is None
        assert "different output" in record["explanation_error"]
