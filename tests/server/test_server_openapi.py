"""schemathesis against /openapi.json of a server deciding with the shipped policies.

No answer is a 5xx and every answer matches the document (status code, content type, body
schema, with each policy's own output schema). Bounded: a fixed seed and a few examples per
operation; `make soak` runs more.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from .support import SHIPPED, Server

TOKEN = "client-token-0123456789abcdef"
EXAMPLES = os.environ.get("CLAUSEWISE_SCHEMATHESIS_EXAMPLES", "3")
POLICIES = (
    ("promotions/amazon-ads-click-credit-q4-2022", "budgets/google-ads-credit-budget")
    if "CLAUSEWISE_SCHEMATHESIS_EXAMPLES" not in os.environ
    else tuple(p.parent.relative_to(SHIPPED).as_posix() for p in sorted(SHIPPED.rglob("*.cw")))
)


def test_openapi_document_matches_the_service(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    # two shipped policies of different shapes keep the run bounded; `make soak` takes them all
    for pid in POLICIES:
        shutil.copytree(SHIPPED / pid, root / pid)
    server = Server(
        root,
        f"sqlite:///{tmp_path / 'log.db'}",
        "--no-watch",
        env={"CLAUSEWISE_TOKEN": TOKEN},
        token=TOKEN,
    )
    with server:
        doc = httpx.get(
            f"{server.url}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
        for pid in (
            "promotions/amazon-ads-click-credit-q4-2022",
            "budgets/google-ads-credit-budget",
        ):
            op = doc["paths"][f"/v1/decisions/{pid}"]["post"]
            assert {"200", "400", "401", "404", "413", "422", "500", "503"} <= set(op["responses"])
        r = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,"
                "response_schema_conformance",
                "--phases",
                "coverage,fuzzing",
                "--max-examples",
                EXAMPLES,
                "--seed",
                "1",
                "--workers",
                "2",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--request-timeout",
                "30",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
