"""Helpers for the service tests: a small policy set on disk, and a real server process.

The server is started as `python -m clausewise.cli serve --port 0 ...`; the port it bound is read
from the line it prints, so two tests never race for a port. Every wait is a bounded loop.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "policies"
START_TIMEOUT = 60.0

INPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 0, "maximum": 100},
        "divisor": {"type": "integer", "minimum": 0, "maximum": 10},
        "note": {"description": "anything: the policy does not read it"},
    },
    "required": ["score", "divisor"],
    "additionalProperties": False,
}
OUTPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "per_unit": {"$ref": "#/$defs/decimal"},
        "approved": {"type": "boolean"},
        "tier": {"type": "string", "enum": ["gold", "basic"]},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["approved", "tier", "reasons", "per_unit"],
    "$defs": {
        "decimal": {"type": "string", "format": "decimal", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
    },
}
POLICY_ID = "demo/score"


def policy_text(version: str = "1.0.0", threshold: int = 50, effective: str | None = None) -> str:
    """A small policy: approved when the score reaches the threshold; `100 / divisor` fails on 0."""
    eff = f"\neffective {effective}" if effective else ""
    return f'''policy "{POLICY_ID}"
version "{version}"
title "Score threshold"
source "Demo terms S1-S2"
input schema "input.schema.json"
output schema "output.schema.json"{eff}

let threshold = {threshold}

decision reasons collect cites S1 {{
  rule low_score cites S1 "The score is below the threshold."
    when input.score < threshold
}}

output {{
  approved: count(reasons) == 0,
  tier: if input.score >= 90 then "gold" else "basic",
  reasons: reasons,
  per_unit: 100 / input.divisor
}}
'''


BROKEN_TEXT = policy_text().replace("count(reasons) == 0", "count(reasons) == nope")


def write_policy_set(
    root: Path,
    versions: dict[str, str] | None = None,
) -> Path:
    """A policy root with `demo/score` in the given versions ({version: policy text})."""
    folder = root / POLICY_ID
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "input.schema.json").write_text(json.dumps(INPUT_SCHEMA), encoding="utf-8")
    (folder / "output.schema.json").write_text(json.dumps(OUTPUT_SCHEMA), encoding="utf-8")
    for version, text in (versions or {"1.0.0": policy_text()}).items():
        (folder / f"{version}.cw").write_text(text, encoding="utf-8")
    return root


def replace_file(path: Path, text: str) -> None:
    """Write a file in one step (a reader sees the old or the new content, never a mix)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Server:
    """One `clausewise serve` process on a loopback port."""

    def __init__(
        self,
        policies: Path,
        log_url: str,
        *args: str,
        env: dict[str, str] | None = None,
        token: str | None = None,
        workdir: Path | None = None,
    ):
        self.policies = policies
        self.log_url = log_url
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.token = token
        self.workdir = workdir or policies.parent
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.scheme = "http"
        self._stderr_path = self.workdir / f"server-{id(self)}-{time.monotonic_ns()}.err"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "clausewise.cli",
            "serve",
            "--policies",
            str(self.policies),
            "--log",
            self.log_url,
            "--port",
            "0",
            *self.args,
        ]

    def start(self, timeout: float = START_TIMEOUT) -> Server:
        """Start the process and wait (bounded) until it listens and answers /health/live."""
        self._stderr = open(self._stderr_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=self.env,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"listening on (https?)://[^:]+:(\d+)", self.stderr())
            if m:
                self.scheme, self.port = m.group(1), int(m.group(2))
                break
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.proc.returncode}:\n{self.stderr()}"
                )
            time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError(f"the server did not start in {timeout}s:\n{self.stderr()}")
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health/live", timeout=2, verify=False).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the server did not answer in {timeout}s:\n{self.stderr()}")

    def stderr(self) -> str:
        try:
            return self._stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        tok = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        options: dict[str, Any] = {"timeout": 30, "verify": False, **kw}
        return httpx.Client(base_url=self.url, headers=headers, **options)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._close()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within 15 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._close()

    def _close(self) -> None:
        stream = getattr(self, "_stderr", None)
        if stream is not None and not stream.closed:
            stream.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_cli(
    *args: str, cwd: Path | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`clausewise ARGS` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "clausewise.cli", *args],
        capture_output=True,
        cwd=cwd,
        input=input,
        timeout=120,
        check=False,
    )
