"""The service on a PostgreSQL decision log: two servers share it; a stopped database is a 503."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .support import POLICY_ID, Server, write_policy_set


def test_two_servers_share_one_postgres_log_and_a_down_database_is_503(
    tmp_path: Path, postgres_cluster: Any
) -> None:
    url = postgres_cluster.new_database()
    root = write_policy_set(tmp_path / "policies")
    body = {"input": {"score": 60, "divisor": 1}}
    a, b = Server(root, url, "--no-watch"), Server(root, url, "--no-watch")
    with a, b, a.client() as ca, b.client() as cb:
        from_a = ca.post(f"/v1/decisions/{POLICY_ID}", json=body).json()["decision_id"]
        from_b = cb.post(f"/v1/decisions/{POLICY_ID}", json=body).json()["decision_id"]
        # each server reads what the other recorded
        assert cb.get(f"/v1/decisions/{from_a}").json()["output"]["approved"] is True
        assert ca.get(f"/v1/decisions/{from_b}").status_code == 200
        with postgres_cluster.stopped():
            r = ca.post(f"/v1/decisions/{POLICY_ID}", json=body)
            assert r.status_code == 503 and r.json()["error"]["code"] == "log_unavailable"
            assert ca.get(f"/v1/decisions/{from_a}").status_code == 503
            assert ca.get("/v1/decisions").status_code == 503
            assert ca.get("/health/ready").status_code == 503
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ca.post(f"/v1/decisions/{POLICY_ID}", json=body).status_code == 200:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the service did not recover when the database came back")
        assert ca.get("/health/ready").status_code == 200
        page = ca.get("/v1/decisions", params={"policy": POLICY_ID}).json()["decisions"]
        assert {from_a, from_b} <= {d["decision_id"] for d in page}
