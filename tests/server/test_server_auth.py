"""Secure defaults: bearer tokens, the admin token, loopback-only without a token, TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .support import POLICY_ID, Server, run_cli, write_policy_set

TOKEN = "client-token-0123456789abcdef"
ADMIN = "admin-token-fedcba9876543210"
ROUTES = [
    ("POST", f"/v1/decisions/{POLICY_ID}", {"input": {"score": 1, "divisor": 1}}),
    ("POST", f"/v1/decisions/{POLICY_ID}/batch", {"inputs": []}),
    ("GET", "/v1/decisions", None),
    ("GET", "/v1/decisions/some-id", None),
    ("GET", "/v1/policies", None),
    ("GET", f"/v1/policies/{POLICY_ID}", None),
    ("GET", f"/v1/shadow/{POLICY_ID}", None),
    ("GET", "/v1/status", None),
    ("GET", "/metrics", None),
    ("GET", "/openapi.json", None),
]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("auth")
    root = write_policy_set(base / "policies")
    (base / "token").write_text(TOKEN + "\n")
    (base / "admin").write_text(ADMIN)
    server = Server(
        root,
        f"sqlite:///{base / 'log.db'}",
        "--token-file",
        str(base / "token"),
        "--admin-token-file",
        str(base / "admin"),
        "--no-watch",
        token=TOKEN,
    )
    with server:
        yield server


def test_every_route_but_health_needs_the_token(secured: Server) -> None:
    with secured.client(token="") as anon, secured.client(token="wrong-token-wrong-token") as bad:
        for method, path, body in ROUTES:
            for c in (anon, bad):
                r = c.request(method, path, json=body)
                assert r.status_code == 401, (method, path)
                assert r.json()["error"]["code"] == "unauthorized"
                assert r.headers["www-authenticate"].startswith("Bearer")
        assert anon.get("/health/live").status_code == 200
        assert anon.get("/health/ready").status_code == 200
    with secured.client() as ok:
        for method, path, body in ROUTES:
            r = ok.request(method, path, json=body)
            assert r.status_code != 401, (method, path, r.text)
        assert ok.post("/v1/admin/reload").status_code == 401  # the client token is not admin
    with secured.client(token=ADMIN) as admin:
        r = admin.post("/v1/admin/reload")
        assert r.status_code == 200 and r.json()["result"] == "unchanged"
        # the admin token is for admin routes only
        assert admin.get("/v1/status").status_code == 401
    with httpx.Client(base_url=secured.url) as raw:
        r = raw.get("/v1/status", headers={"Authorization": f"Basic {TOKEN}"})
        assert r.status_code == 401
        r = raw.get("/v1/status", headers={"Authorization": f"bearer {TOKEN}"})
        assert r.status_code == 200


def test_tokens_are_never_written_out(secured: Server) -> None:
    with secured.client() as ok:
        ok.post(f"/v1/decisions/{POLICY_ID}", json={"input": {"score": 1, "divisor": 1}})
        text = ok.get("/metrics").text + ok.get("/v1/status").text
    assert TOKEN not in text and ADMIN not in text
    assert TOKEN not in secured.stderr() and ADMIN not in secured.stderr()


def test_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    root = write_policy_set(tmp_path / "policies")
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        r = run_cli("serve", "--policies", str(root), "--host", host, "--log", "off")
        assert r.returncode == 2, r.stderr
        assert b"refusing to listen on" in r.stderr and b"without a token" in r.stderr


def test_refuses_bad_token_files(tmp_path: Path) -> None:
    root = write_policy_set(tmp_path / "policies")
    (tmp_path / "short").write_text("abc")
    for args, message in (
        (["--token-file", str(tmp_path / "short")], b"shorter than 16"),
        (["--token-file", str(tmp_path / "missing")], b"cannot read the token file"),
        (["--cert", str(tmp_path / "short")], b"needs both --cert and --key"),
    ):
        r = run_cli("serve", "--policies", str(root), "--log", "off", *args)
        assert r.returncode == 2 and message in r.stderr, r.stderr


def test_refuses_policies_that_do_not_check_and_a_bad_log(tmp_path: Path) -> None:
    root = write_policy_set(tmp_path / "policies")
    (root / POLICY_ID / "1.0.0.cw").write_text('policy "demo/score"\nversion "1.0.0"\noutput {')
    r = run_cli("serve", "--policies", str(root), "--log", "off")
    assert r.returncode == 2 and b"1.0.0.cw:" in r.stderr and b"do not check" in r.stderr
    ok = write_policy_set(tmp_path / "ok")
    r = run_cli("serve", "--policies", str(ok), "--log", "mysql://x")
    assert r.returncode == 2 and b"cannot open the decision log" in r.stderr


def test_environment_token_and_tls(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is absent: no certificate for the TLS test")
    root = write_policy_set(tmp_path / "policies")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = Server(
        root,
        "off",
        "--cert",
        str(cert),
        "--key",
        str(key),
        "--no-watch",
        env={"CLAUSEWISE_TOKEN": TOKEN},
        token=TOKEN,
    )
    with server:
        assert server.url.startswith("https://")
        with httpx.Client(
            base_url=server.url, verify=ssl.create_default_context(cafile=str(cert))
        ) as c:
            r = c.post(
                f"/v1/decisions/{POLICY_ID}",
                json={"input": {"score": 60, "divisor": 1}},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert r.status_code == 200 and r.json()["output"]["approved"] is True
            assert c.get("/v1/status").status_code == 401
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{server.port}/health/live", timeout=5)
    assert "--log off" in server.stderr()
