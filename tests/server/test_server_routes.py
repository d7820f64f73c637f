"""Every route and status code of `clausewise serve`, through a real server process and httpx."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clausewise import Engine

from .support import POLICY_ID, Server, policy_text, run_cli, write_policy_set

V1_PERIOD = 'from 2020-01-01T00:00 until 2030-01-01T00:00 in "UTC"'
V2_PERIOD = 'from 2030-01-01T00:00 in "UTC"'
GOOD = {"score": 40, "divisor": 4}


@pytest.fixture(scope="module")
def policy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("routes") / "policies"
    return write_policy_set(
        root,
        {
            "1.0.0": policy_text("1.0.0", 50, V1_PERIOD),
            "2.0.0": policy_text("2.0.0", 70, V2_PERIOD),
        },
    )


@pytest.fixture(scope="module")
def server(policy_root: Path) -> Iterator[Server]:
    log = policy_root.parent / "log.db"
    with Server(
        policy_root, f"sqlite:///{log}", "--max-body-bytes", "4096", "--max-batch", "5"
    ) as s:
        yield s


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _count(client: httpx.Client, **params: str) -> int:
    n, cursor = 0, None
    for _ in range(100):
        q = {"policy": POLICY_ID, "limit": "1000", **params}
        if cursor:
            q["after"] = cursor
        page = client.get("/v1/decisions", params=q).json()
        n += len(page["decisions"])
        cursor = page["next"]
        if not cursor:
            return n
    raise AssertionError("the log kept paging")


def test_decision_answer_names_version_revision_and_is_logged(
    client: httpx.Client, policy_root: Path
) -> None:
    r = client.post(f"/v1/decisions/{POLICY_ID}", json={"input": GOOD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"decision_id", "policy", "version", "revision", "output"}
    # no version named: the one in force now (2.0.0 is staged from 2030)
    assert body["policy"] == POLICY_ID and body["version"] == "1.0.0"
    assert body["revision"].startswith("sha256:")
    expected = Engine.from_directory(policy_root).evaluate(POLICY_ID, GOOD).output
    assert body["output"] == expected
    record = client.get(f"/v1/decisions/{body['decision_id']}").json()
    assert record["decision_id"] == body["decision_id"]
    assert record["input"] == GOOD and record["output"] == expected
    assert record["revision"] == body["revision"] and record["version"] == "1.0.0"
    assert record["outcome"] == "approved=false"
    assert "low_score" in record["explanation"]
    assert record["trace"]["level"] == "rules"
    assert record["time"].endswith("Z")


def test_version_and_at_choose_the_version(client: httpx.Client) -> None:
    r = client.post(
        f"/v1/decisions/{POLICY_ID}",
        json={"input": {"score": 60, "divisor": 1}, "version": "1.0.0"},
    )
    assert (r.json()["version"], r.json()["output"]["approved"]) == ("1.0.0", True)
    r = client.post(
        f"/v1/decisions/{POLICY_ID}",
        json={"input": {"score": 60, "divisor": 1}, "at": "2024-05-01T00:00:00Z"},
    )
    assert (r.json()["version"], r.json()["output"]["approved"]) == ("1.0.0", True)
    r = client.post(
        f"/v1/decisions/{POLICY_ID}",
        json={"input": {"score": 60, "divisor": 1}, "at": "2031-01-01T00:00:00Z"},
    )
    assert (r.json()["version"], r.json()["output"]["approved"]) == ("2.0.0", False)
    # no version and no instant: the version in force now
    r = client.post(f"/v1/decisions/{POLICY_ID}", json={"input": {"score": 60, "divisor": 1}})
    assert (r.json()["version"], r.json()["output"]["approved"]) == ("1.0.0", True)


@pytest.mark.parametrize("level", ["rules", "full"])
def test_trace_levels_add_explanation_and_trace(client: httpx.Client, level: str) -> None:
    r = client.post(f"/v1/decisions/{POLICY_ID}", json={"input": GOOD, "trace": level})
    body = r.json()
    assert r.status_code == 200
    assert body["trace"]["level"] == level
    assert "The score is below the threshold." in body["explanation"]
    # the log keeps the rules level whatever the caller asked for
    record = client.get(f"/v1/decisions/{body['decision_id']}").json()
    assert record["trace"]["level"] == "rules"


def test_bad_input_is_422_exactly_as_the_cli_prints_it(
    client: httpx.Client, policy_root: Path
) -> None:
    before = _count(client)
    for bad in (
        {"score": "x", "divisor": 1},
        {"score": -1, "divisor": 1},
        {"divisor": 1},
        {"score": 1.5, "divisor": 1},
        [1, 2],
    ):
        r = client.post(f"/v1/decisions/{POLICY_ID}", json={"input": bad, "version": "2.0.0"})
        assert r.status_code == 422, r.text
        cli = run_cli(
            "eval", POLICY_ID, "--policies", str(policy_root), "--input", "-",
            "--version", "2.0.0", "--format", "json", input=json.dumps(bad).encode(),
        )  # fmt: skip
        assert cli.returncode == 3
        assert r.json() == json.loads(cli.stdout), bad
    assert _count(client) == before


def test_unknown_policy_version_or_period_is_404(client: httpx.Client) -> None:
    cases = [
        ("/v1/decisions/demo/nope", {"input": GOOD}, "unknown_policy"),
        (f"/v1/decisions/{POLICY_ID}", {"input": GOOD, "version": "9.9.9"}, "unknown_version"),
        (f"/v1/decisions/{POLICY_ID}", {"input": GOOD, "at": "2019-01-01T00:00:00Z"}, "no_version_in_force"),
        ("/v1/decisions/demo/nope/batch", {"inputs": [GOOD]}, "unknown_policy"),
    ]  # fmt: skip
    for path, body, code in cases:
        r = client.post(path, json=body)
        assert r.status_code == 404, (path, body)
        assert r.json()["error"]["code"] == code
    assert client.get("/v1/decisions/01nothing-here").status_code == 404
    assert client.get("/v1/policies/demo/nope").status_code == 404
    assert client.get("/no/such/route").status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "path"),
    [
        (b'{"input": {"score": 1, "divisor": 1}', "invalid_json", ""),
        (b'{"input": {"score": 1, "score": 2, "divisor": 1}}', "duplicate_key", "/input/score"),
        (b'{"input": ' + b"[" * 100 + b"]" * 100 + b"}", "nesting_too_deep", ""),
        (b'{"input": {"score": 1' + b"0" * 200 + b', "divisor": 1}}', "number_too_long", ""),
        (b'{"input": {"score": NaN, "divisor": 1}}', "invalid_json", ""),
        (b"\xff\xfe", "invalid_json", ""),
        (b"[]", "invalid_request", ""),
        (b'{"score": 1}', "invalid_request", "/score"),
        (b'{"input": {}, "trace": "loud"}', "invalid_request", "/trace"),
        (b'{"input": {}, "at": "yesterday"}', "invalid_request", "/at"),
        (b'{"input": {}, "at": "2024-01-01T00:00:00"}', "invalid_request", "/at"),
        (b'{"input": {}, "at": "2024-01-01T00:00:00+05:60"}', "invalid_request", "/at"),
        (b'{"input": {}, "at": "2024-01-01 00:00:00Z"}', "invalid_request", "/at"),
        (b'{"input": {}, "version": 2}', "invalid_request", "/version"),
        (b'{"version": "1.0.0"}', "invalid_request", "/input"),
    ],
)
def test_malformed_requests_are_400_and_not_logged(
    client: httpx.Client, body: bytes, code: str, path: str
) -> None:
    before = _count(client)
    r = client.post(
        f"/v1/decisions/{POLICY_ID}", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["path"] == path
    assert _count(client) == before


def test_too_large_bodies_are_413_by_length_and_by_stream(client: httpx.Client) -> None:
    big = json.dumps({"input": {"score": 1, "divisor": 1, "pad": "x" * 5000}}).encode()
    r = client.post(f"/v1/decisions/{POLICY_ID}", content=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the size is counted as it arrives
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    r = client.post(f"/v1/decisions/{POLICY_ID}", content=chunks())
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    r = client.post(f"/v1/decisions/{POLICY_ID}/batch", json={"inputs": [GOOD] * 6})
    assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"


def test_a_policy_failure_is_500_with_its_code_and_not_a_decision(client: httpx.Client) -> None:
    before = _count(client)
    r = client.post(f"/v1/decisions/{POLICY_ID}", json={"input": {"score": 1, "divisor": 0}})
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["code"] == "division_by_zero" and "division by zero" in err["message"]
    assert "location" in err
    assert _count(client) == before
    metrics = client.get("/metrics").text
    assert 'clausewise_policy_failures_total{code="division_by_zero"' in metrics


def test_batch_answers_each_input_in_order(client: httpx.Client) -> None:
    before = _count(client)
    inputs = [
        {"score": 95, "divisor": 1},
        {"score": "x", "divisor": 1},
        {"score": 10, "divisor": 2},
        {"score": 10, "divisor": 0},
    ]
    r = client.post(f"/v1/decisions/{POLICY_ID}/batch", json={"inputs": inputs, "version": "1.0.0"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert r.json()["policy"] == POLICY_ID and r.json()["revision"].startswith("sha256:")
    assert [x.get("status", 200) for x in results] == [200, 422, 200, 500]
    assert results[0]["output"]["tier"] == "gold" and results[0]["version"] == "1.0.0"
    assert results[1]["error"] == {
        "code": "wrong_type",
        "path": "/score",
        "message": "expected an integer, got a string",
    }
    assert results[2]["output"]["approved"] is False
    assert results[3]["error"]["code"] == "division_by_zero"
    for ok in (results[0], results[2]):
        assert client.get(f"/v1/decisions/{ok['decision_id']}").json()["output"] == ok["output"]
    assert _count(client) == before + 2
    assert client.post(f"/v1/decisions/{POLICY_ID}/batch", json={"inputs": {}}).status_code == 400
    empty = client.post(f"/v1/decisions/{POLICY_ID}/batch", json={"inputs": []})
    assert empty.status_code == 200 and empty.json()["results"] == []


def test_log_query_filters_and_pages(client: httpx.Client) -> None:
    ids = []
    for score in (95, 10, 96, 11, 97):
        r = client.post(
            f"/v1/decisions/{POLICY_ID}",
            json={"input": {"score": score, "divisor": 1}, "version": "1.0.0"},
        )
        ids.append(r.json()["decision_id"])
    first = client.get(f"/v1/decisions/{ids[0]}").json()["time"]
    seen, cursor = [], None
    for _ in range(10):
        params = {"policy": POLICY_ID, "since": first, "outcome": "approved=true", "limit": "2"}
        if cursor:
            params["after"] = cursor
        page = client.get("/v1/decisions", params=params)
        assert page.status_code == 200
        seen += [d["decision_id"] for d in page.json()["decisions"]]
        cursor = page.json()["next"]
        if not cursor:
            break
    assert seen == [ids[0], ids[2], ids[4]]
    until = client.get(
        "/v1/decisions", params={"policy": POLICY_ID, "since": first, "until": first}
    )
    assert [d["decision_id"] for d in until.json()["decisions"]] in ([], [ids[0]])
    for bad in ({"since": "soon"}, {"limit": "0"}, {"limit": "x"}, {"kind": "other"}):
        r = client.get("/v1/decisions", params=bad)
        assert r.status_code == 400, bad
        assert r.json()["error"]["code"] == "invalid_request"


def test_policies_list_and_detail(client: httpx.Client, policy_root: Path) -> None:
    listing = client.get("/v1/policies").json()
    assert listing["revision"].startswith("sha256:")
    (entry,) = listing["policies"]
    assert entry["id"] == POLICY_ID and entry["latest"] == "2.0.0"
    assert entry["in_force"] == "1.0.0"  # 2.0.0 is staged from 2030
    v1 = entry["versions"][0]
    assert v1["version"] == "1.0.0" and v1["title"] == "Score threshold"
    assert v1["source"] == "Demo terms S1-S2"
    assert v1["effective"] == {"from": "2020-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}
    assert entry["versions"][1]["effective"] == {"from": "2030-01-01T00:00:00Z", "until": None}
    detail = client.get(f"/v1/policies/{POLICY_ID}").json()
    assert detail["versions"][0]["input_schema"]["required"] == ["score", "divisor"]
    assert "approved" in detail["versions"][0]["output_schema"]["properties"]
    assert detail["versions"][1]["text"] == (policy_root / POLICY_ID / "2.0.0.cw").read_text()


def test_health_status_metrics_and_openapi(client: httpx.Client, server: Server) -> None:
    assert client.get("/health/live").json() == {"status": "live"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    status = client.get("/v1/status").json()
    assert status["revision"].startswith("sha256:") and status["loaded_at"].endswith("Z")
    assert status["last_reload"]["result"] == "ok" and status["log"]["healthy"] is True
    client.post(f"/v1/decisions/{POLICY_ID}", json={"input": {"score": 99, "divisor": 1}})
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert (
        f'clausewise_decisions_total{{outcome="approved=true",policy="{POLICY_ID}",version="1.0.0"}}'
        in text
    )
    for name in (
        "clausewise_decision_request_seconds_bucket",
        "clausewise_log_commit_seconds_bucket",
        "clausewise_log_backlog",
        "clausewise_active_revision_info",
        'clausewise_rejected_requests_total{code="invalid_json",status="400"}',
    ):
        assert name in text, name
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    assert schemas["demo.score.1.0.0.input"]["required"] == ["score", "divisor"]
    assert schemas["demo.score.2.0.0.output"]["properties"]["per_unit"] == {
        "$ref": "#/components/schemas/demo.score.2.0.0.output.decimal"
    }
    assert f"/v1/decisions/{POLICY_ID}" in doc["paths"]
    assert f"/v1/decisions/{POLICY_ID}/batch" in doc["paths"]


def test_integers_past_64_bits_come_back_exactly(client: httpx.Client) -> None:
    big = 123456789012345678901234567890
    data = {"score": 60, "divisor": 1, "note": big}  # a field the policy does not read
    r = client.post(f"/v1/decisions/{POLICY_ID}", json={"input": data, "version": "1.0.0"})
    assert r.status_code == 200, r.text
    record = client.get(f"/v1/decisions/{r.json()['decision_id']}")
    assert record.json()["input"]["note"] == big


def test_each_answer_arrives_whole_in_one_read(server: Server) -> None:
    """The head and the body of an answer leave in one send: the first read has all of it."""
    body = json.dumps({"input": GOOD}).encode()
    requests = [
        (f"POST /v1/decisions/{POLICY_ID}", body, 200),
        ("POST /v1/decisions/no/such-policy", body, 404),
        (f"POST /v1/decisions/{POLICY_ID}", b'{"input": {"a": 1, "a": 2}}', 400),
        ("GET /health/live", b"", 200),
        ("GET /v1/status", b"", 200),
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        for line, payload, status in requests:  # one keep-alive connection for all of them
            sock.sendall(
                f"{line} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            data = sock.recv(1 << 20)
            head, sep, rest = data.partition(b"\r\n\r\n")
            assert sep, data
            assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
            length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            assert len(rest) == length, (line, data)
            json.loads(rest)
