"""Shadow evaluation: a candidate version decides beside the live one on real traffic."""

from __future__ import annotations

from pathlib import Path

from .support import POLICY_ID, Server, policy_text, write_policy_set

NOW_IN_V1 = "2024-06-01T00:00:00Z"


def test_shadow_logs_both_and_reports_the_flips(tmp_path: Path) -> None:
    root = write_policy_set(
        tmp_path / "policies",
        {
            "1.0.0": policy_text(
                "1.0.0", 50, 'from 2020-01-01T00:00 until 2030-01-01T00:00 in "UTC"'
            ),
            "2.0.0": policy_text("2.0.0", 70, 'from 2030-01-01T00:00 in "UTC"'),
        },
    )
    server = Server(
        root, f"sqlite:///{tmp_path / 'log.db'}", "--shadow", f"{POLICY_ID}@2.0.0", "--no-watch"
    )
    with server, server.client() as c:
        live_ids = {}
        for score in (40, 60, 65, 80, 95):
            r = c.post(
                f"/v1/decisions/{POLICY_ID}",
                json={"input": {"score": score, "divisor": 2}, "at": NOW_IN_V1},
            )
            assert r.status_code == 200
            body = r.json()
            # the caller sees the live decision only
            assert set(body) == {"decision_id", "policy", "version", "revision", "output"}
            assert body["version"] == "1.0.0"
            live_ids[score] = body["decision_id"]
        # the candidate deciding live is not shadowed by itself
        r = c.post(
            f"/v1/decisions/{POLICY_ID}",
            json={"input": {"score": 60, "divisor": 2}, "at": "2031-01-01T00:00:00Z"},
        )
        assert r.json()["version"] == "2.0.0"
        shadows = c.get(
            "/v1/decisions",
            params={"policy": POLICY_ID, "kind": "shadow", "explain": "true"},
        ).json()["decisions"]
        assert sorted(s["shadow_of"] for s in shadows) == sorted(live_ids.values())
        assert all(s["version"] == "2.0.0" and s["kind"] == "shadow" for s in shadows)
        by_live = {s["shadow_of"]: s for s in shadows}
        assert by_live[live_ids[60]]["output"]["approved"] is False
        assert "low_score" in by_live[live_ids[60]]["explanation"]
        live_only = c.get("/v1/decisions", params={"policy": POLICY_ID}).json()["decisions"]
        assert len(live_only) == 6 and all(d["kind"] == "live" for d in live_only)

        report = c.get(f"/v1/shadow/{POLICY_ID}").json()
        assert report["shadow_decisions"] == 5 and report["compared"] == 5
        assert report["would_flip"] == 2 and report["unchanged"] == 3
        assert report["versions"] == {"live": ["1.0.0"], "shadow": ["2.0.0"]}
        (group,) = report["groups"]
        assert set(group["fields"]) >= {"approved", "reasons"} and group["count"] == 2
        example = group["examples"][0]
        assert example["live"]["output"]["approved"] is True
        assert example["shadow"]["output"]["approved"] is False
        assert example["live_explanation"] and example["shadow_explanation"]
        assert c.get(f"/v1/shadow/{POLICY_ID}", params={"since": "soon"}).status_code == 400
        metrics = c.get("/metrics").text
        assert (
            f'clausewise_shadow_decisions_total{{flipped="true",policy="{POLICY_ID}",version="2.0.0"}} 2.0'
            in metrics
        )
        assert c.get("/v1/status").json()["shadow"] == [f"{POLICY_ID}@2.0.0"]


def test_shadow_of_an_unknown_version_is_refused(tmp_path: Path) -> None:
    from .support import run_cli

    root = write_policy_set(tmp_path / "policies")
    r = run_cli("serve", "--policies", str(root), "--log", "off", "--shadow", f"{POLICY_ID}@9.0.0")
    assert r.returncode == 2 and b"no such policy version" in r.stderr
