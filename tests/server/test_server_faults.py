"""Faults: a decision the service acknowledged is in the log, whatever happens to the process.

`make soak` runs these longer (CLAUSEWISE_KILL_ROUNDS=100, CLAUSEWISE_RELOADS=1000).
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from clausewise.log import open_log

from ..log_faults import unwritable
from .support import POLICY_ID, Server, write_policy_set

KILL_ROUNDS = int(os.environ.get("CLAUSEWISE_KILL_ROUNDS", "20"))


def _load(
    server: Server, seed: int, acked: list[tuple[str, dict[str, Any]]], stop: threading.Event
) -> None:
    rnd = random.Random(seed)
    with server.client(timeout=10) as c:
        for _ in range(10_000):
            if stop.is_set():
                return
            data = {"score": rnd.randint(0, 100), "divisor": rnd.randint(1, 10)}
            try:
                r = c.post(f"/v1/decisions/{POLICY_ID}", json={"input": data})
            except httpx.TransportError:
                return  # the server is gone
            if r.status_code == 200:
                acked.append((r.json()["decision_id"], r.json()["output"]))


def test_sigkill_under_load_loses_no_acknowledged_decision(tmp_path: Path) -> None:
    root = write_policy_set(tmp_path / "policies")
    url = f"sqlite:///{tmp_path / 'log.db'}"
    acked: list[tuple[str, dict[str, Any]]] = []
    rnd = random.Random(7)
    for _ in range(KILL_ROUNDS):
        server = Server(root, url, "--no-watch").start()
        # the restarted server serves what the killed one acknowledged last
        with server.client() as c:
            for decision_id, output in acked[-5:]:
                assert c.get(f"/v1/decisions/{decision_id}").json()["output"] == output
        stop = threading.Event()
        before = len(acked)
        workers = [
            threading.Thread(target=_load, args=(server, rnd.random(), acked, stop))
            for _ in range(4)
        ]
        for w in workers:
            w.start()
        # kill while requests are in flight: after a few acknowledgements, at a random moment
        deadline = time.monotonic() + 10
        while len(acked) < before + 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rnd.uniform(0, 0.05))
        server.kill()
        stop.set()
        for w in workers:
            w.join(timeout=30)
        assert len(acked) > before, server.stderr()
        log = open_log(url, create=False)
        try:
            for decision_id, output in acked:
                record = log.get(decision_id)
                assert record is not None, f"acknowledged {decision_id} is not in the log"
                assert record.output == output
        finally:
            log.close()
    assert len(acked) >= KILL_ROUNDS * 5


def test_an_unwritable_log_answers_503_and_acknowledges_nothing(tmp_path: Path) -> None:
    root = write_policy_set(tmp_path / "policies")
    db = tmp_path / "log.db"
    body = {"input": {"score": 60, "divisor": 1}}
    with Server(root, f"sqlite:///{db}", "--no-watch") as server, server.client() as c:
        ok = [c.post(f"/v1/decisions/{POLICY_ID}", json=body).json()["decision_id"]]
        with unwritable(db):
            answers = [c.post(f"/v1/decisions/{POLICY_ID}", json=body) for _ in range(5)]
            batch = c.post(f"/v1/decisions/{POLICY_ID}/batch", json={"inputs": [body["input"]] * 3})
            assert [a.status_code for a in answers] == [503] * 5
            assert batch.status_code == 503
            for a in (*answers, batch):
                assert a.json()["error"]["code"] == "log_unavailable"
                assert "decision_id" not in a.text
            ready = c.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["log"] is False
            assert "clausewise_log_healthy 0.0" in c.get("/metrics").text
        # writable again: the service recovers by itself
        deadline = time.monotonic() + 30
        while c.get("/health/ready").status_code != 200 and time.monotonic() < deadline:
            r = c.post(f"/v1/decisions/{POLICY_ID}", json=body)
            if r.status_code == 200:
                ok.append(r.json()["decision_id"])
            time.sleep(0.1)
        r = c.post(f"/v1/decisions/{POLICY_ID}", json=body)
        assert r.status_code == 200
        ok.append(r.json()["decision_id"])
        page = c.get("/v1/decisions", params={"policy": POLICY_ID, "limit": "1000"}).json()
        # exactly the decisions answered with 200 are in the log: the 503s left nothing behind
        assert sorted(d["decision_id"] for d in page["decisions"]) == sorted(ok)
