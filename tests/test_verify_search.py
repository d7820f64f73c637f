"""`clausewise verify` finds counterexamples a schema-only generator misses (count floors,
period edges, inputs the policy's `require` rules turn away), with its default settings, and
says what its inputs covered."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from clausewise.cli import main

SHIPPED = Path(__file__).resolve().parent.parent / "policies"
HEALTH = "health/amazon-seller-account-health"
PORTFOLIO = "budgets/amazon-ads-portfolio-cap"


def copy_policy(tmp_path: Path, pid: str, invariants: dict[str, str], tests: bool = True) -> Path:
    """A policy root holding a copy of one shipped policy, with invariants added."""
    root = tmp_path / "policies"
    shutil.copytree(SHIPPED / pid, root / pid)
    cw = root / pid / "1.0.0.cw"
    text = cw.read_text(encoding="utf-8")
    for name, body in invariants.items():
        text += f'\ninvariant {name} "Deliberately false":\n  {body}\n'
    cw.write_text(text, encoding="utf-8")
    if not tests:
        for f in (root / pid).glob("*.test.yaml"):
            f.unlink()
    return root


def verify(root: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["verify", str(root), *args], catch_exceptions=False)
    return r.exit_code, r.output


def broken(out: str) -> set[str]:
    return set(re.findall(r"invariant (\w+) does not hold", out))


# the seller health analogue of "never top rated": a missed order defect rate over at least
# 100 orders (a count floor), and a cancellation in the last 7 days (a period edge)
HEALTH_FALSE = {
    "never_at_risk": "not output.at_risk",
    "no_cancellation_violation": 'not ("cancellation_rate" in output.violations)',
    "odr_never_missed_on_100_orders": "output.metrics.order_defect_rate.denominator < 100"
    " or output.metrics.order_defect_rate.meets == true",
}
# "there is never an over-delivery credit"
PORTFOLIO_FALSE = {"no_over_delivery_credit": "output.billing.over_delivery_credit.amount == 0"}


@pytest.mark.parametrize("seed", ["1", "2"])
def test_false_invariants_of_seller_health_are_found(tmp_path: Path, seed: str) -> None:
    root = copy_policy(tmp_path, HEALTH, HEALTH_FALSE)
    code, out = verify(root, "--seed", seed)
    assert code == 1
    assert broken(out) == set(HEALTH_FALSE)
    assert "1 policy version(s) verified, 1 failed" in out
    # the shipped invariants still hold on everything tried
    assert not broken(out) & {"at_risk_iff_violations", "channels_add_up", "rates_are_fractions"}


@pytest.mark.parametrize("seed", ["1", "2"])
def test_no_over_delivery_credit_is_found_without_any_test_case(tmp_path: Path, seed: str) -> None:
    root = copy_policy(tmp_path, PORTFOLIO, PORTFOLIO_FALSE, tests=False)
    code, out = verify(root, "--seed", seed)
    assert code == 1
    assert broken(out) == {"no_over_delivery_credit"}
    # the counterexample is a valid input the policy decides, shrunk, and explained
    block = out.split("counterexample input:\n", 1)[1].split("  explanation:", 1)[0]
    data = json.loads(block)
    assert data["portfolio"]["cap"]["type"] != "none"
    assert "over_delivery_credited" in out
    assert "(from" not in out.split("coverage:")[1].splitlines()[0]  # no test case to start from


def test_count_floor_found_without_test_cases(tmp_path: Path) -> None:
    root = copy_policy(tmp_path, HEALTH, HEALTH_FALSE, tests=False)
    code, out = verify(root, "--seed", "2")
    assert code == 1
    assert "odr_never_missed_on_100_orders" in broken(out)


SCHEMA_IN = {
    "type": "object",
    "properties": {
        "as_of": {"type": "string", "format": "date"},
        "transactions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "on": {"type": "string", "format": "date"},
                    "defect": {"type": "boolean"},
                    "late": {"type": "boolean"},
                },
                "required": ["id", "on", "defect", "late"],
            },
        },
    },
    "required": ["as_of", "transactions"],
}
SCHEMA_OUT = {
    "type": "object",
    "properties": {
        "level": {"type": "string", "enum": ["top_rated", "above_standard", "below_standard"]},
        "transactions_in_period": {"type": "integer"},
    },
    "required": ["level", "transactions_in_period"],
}
LEVELS = """\
policy "shop/seller-levels"
version "1.0.0"
title "Seller levels"
source "Seller performance terms L1-L4"
input schema "input.schema.json"
output schema "output.schema.json"

require transaction_after_evaluation for t in input.transactions:
  t.on <= input.as_of
  at t.on "A transaction cannot be dated after the evaluation day."

let period = window(input.as_of, 365 days)

let in_period = [t for t in input.transactions where t.on in period]

let defects = count(t for t in in_period where t.defect)

let late = count(t for t in in_period where t.late)

decision level first cites L1 {
  rule top_rated cites L2
    "At least 100 transactions in the last 12 months, under 0.5% with a defect and under 3% late."
    when count(in_period) >= 100 and defects / count(in_period) < 0.5%
      and late / count(in_period) < 3%
    then "top_rated"
  rule above_standard cites L3 "Under 2% of the transactions of the last 12 months had a defect."
    when count(in_period) == 0 or defects / count(in_period) < 2%
    then "above_standard"
  else "below_standard"
}

output {
  level: level,
  transactions_in_period: count(in_period),
}

invariant counted_within_input cites L4 "Only the seller's own transactions count":
  output.transactions_in_period <= count(input.transactions)
"""
NEVER_TOP_RATED = """
invariant never_top_rated cites L2 "Deliberately false":
  output.level != "top_rated"
"""


def levels_root(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "policies"
    folder = root / "shop" / "seller-levels"
    folder.mkdir(parents=True)
    (folder / "input.schema.json").write_text(json.dumps(SCHEMA_IN))
    (folder / "output.schema.json").write_text(json.dumps(SCHEMA_OUT))
    (folder / "1.0.0.cw").write_text(text)
    return root


@pytest.mark.parametrize("seed", ["1", "3"])
def test_top_rated_behind_a_count_floor_and_a_require_is_found(tmp_path: Path, seed: str) -> None:
    # no test case to start from: 100 transactions in the period, none defective, few late,
    # none dated after the evaluation day (the `require` turns those inputs away)
    root = levels_root(tmp_path, LEVELS + NEVER_TOP_RATED)
    code, out = verify(root, "--seed", seed)
    assert code == 1, out
    assert broken(out) == {"never_top_rated"}
    block = out.split("counterexample input:\n", 1)[1].split("  explanation:", 1)[0]
    data = json.loads(block)
    assert len(data["transactions"]) >= 100
    # inputs the `require` turned away were repaired rather than only skipped
    assert re.search(r"\d+ rejected as bad input \((\d+) of them repaired\)", out)
    assert "coverage: rules fired 2/2 (100%)" in out


def test_true_invariants_hold_and_the_coverage_is_reported(tmp_path: Path) -> None:
    root = levels_root(tmp_path, LEVELS)
    code, out = verify(root, "--seed", "1", "--max-examples", "300")
    assert code == 0, out
    assert re.search(
        r"ok    shop/seller-levels 1.0.0: 1 invariant\(s\) held \(\d+ input\(s\) tried, 300 valid",
        out,
    )
    assert re.search(
        r"  coverage: rules fired \d/2 \(\d+%\), conditions both ways \d+/\d+ \(\d+%\), "
        r"\d+% of inputs rejected",
        out,
    )


def test_low_coverage_is_a_warning(tmp_path: Path) -> None:
    # a rule no valid input can reach: the report says so next to "held"
    text = LEVELS.replace(
        '  else "below_standard"',
        '  rule impossible cites L3 "Never." when count(input.transactions) < 0 then "below_standard"\n'
        '  else "below_standard"',
    )
    root = levels_root(tmp_path, text)
    code, out = verify(root, "--seed", "1", "--max-examples", "100")
    assert code == 0, out
    warning = next(ln for ln in out.splitlines() if "rules never fired" in ln)
    assert warning.startswith("  warning: low coverage: rules never fired: ")
    assert "level.impossible" in warning


def test_the_shipped_invariants_hold(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    for pid in (HEALTH, PORTFOLIO):
        shutil.copytree(SHIPPED / pid, root / pid)
    code, out = verify(root, "--seed", "5")
    assert code == 0, out
    assert out.count("invariant(s) held (") == 2
    assert "from 37 test case input(s)" in out and "from 31 test case input(s)" in out
    assert "warning" not in out
