"""The seller-health policy in two versions a pull request moves between
(`tests/data/pr_tools/policies/shop/seller-health/{1.0.0,1.1.0}.cw`), what each version decides
written independently of the policies, inputs for `impact`, and a git helper."""

from __future__ import annotations

import random
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
FIXTURES = DATA / "pr_tools" / "policies"
POLICY = "shop/seller-health"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


RATES = [
    "0",
    "0.005",
    "0.0099",
    "0.01",
    "0.012",
    "0.0149",
    "0.015",
    "0.02",
    "0.039",
    "0.04",
    "0.05",
]


def expected_output(v: str, x: dict[str, Any]) -> dict[str, Any]:
    """What each version decides, written independently of the policies."""
    odr, cancel, late = (Decimal(x[k]) for k in ("odr", "cancellation_rate", "late_shipment_rate"))
    target = Decimal("0.01") if v == "1.0.0" else Decimal("0.015")
    violations = []
    if x["orders"] >= 10 and odr >= target:
        violations.append("order_defect_rate")
    if cancel >= Decimal("0.025"):
        violations.append("cancellation_rate")
    if v == "1.1.0" and late >= Decimal("0.04"):
        violations.append("late_shipment_rate")
    band = "good" if odr < Decimal("0.01") else "watch" if odr < Decimal("0.04") else "bad"
    return {"violations": violations, "at_risk": bool(violations), "band": band}


def generate_inputs(n: int, seed: int = 11) -> list[dict[str, Any] | str]:
    rng = random.Random(seed)
    out: list[dict[str, Any] | str] = []
    for i in range(n):
        x: dict[str, Any] = {
            "orders": rng.choice([0, 5, 9, 10, 11, 50, 400]),
            "odr": rng.choice(RATES),
            "cancellation_rate": rng.choice(["0", "0.01", "0.0249", "0.025", "0.03"]),
            "late_shipment_rate": rng.choice(RATES),
        }
        if i % 97 == 5:
            x["odr"] = "-0.01"  # bad input: not a decimal in the schema's pattern
        if i % 131 == 7:
            del x["orders"]  # bad input: a required field is missing
        out.append(x)
    return out


def is_bad(x: dict[str, Any]) -> bool:
    return "orders" not in x or x["odr"].startswith("-")
