"""`budgets/amazon-ads-portfolio-cap` (CONTRACTS.md section 5, clauses D1-D9).

(a) every case of the policy's `1.0.0.test.yaml` through the engine; (b) the engine against the
hand-written reference implementation on generated inputs, valid and bad; (c) every output
against the output schema, and the contract's invariants on every generated output.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.generators.seller_portfolio_inputs import portfolio_cap_inputs
from tests.oracles.contracts import portfolio_cap as reference
from tests.oracles.contracts.values import CodedInputError
from tests.policy_support import ShippedPolicy, fired_rules, run_yaml_case

P = ShippedPolicy("budgets/amazon-ads-portfolio-cap", reference.decide)
POLICY = P.policy_id
CASES = P.cases()
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Schema-level codes where the engine's input converter and the reference's proposal differ
# (engine code -> reference code); cross-field rule codes must match exactly.
SCHEMA_CODE_ALIASES = {
    ("out_of_range", "negative_value"),
    ("invalid_format", "empty_string"),
    ("invalid_format", "datetime_without_offset"),
    ("invalid_format", "invalid_datetime"),
}


def check_invariants(out: dict[str, Any]) -> None:
    """The contract's invariants, on the JSON output."""

    def amt(money: dict[str, str]) -> Decimal:
        return Decimal(money["amount"])

    billing, portfolio = out["billing"], out["portfolio"]
    assert amt(billing["charge"]) <= amt(billing["spend"]), "charge above spend"
    # exact before rounding; each amount is then rounded on its own, so allow one cent
    gap = amt(billing["charge"]) + amt(billing["over_delivery_credit"]) - amt(billing["spend"])
    assert abs(gap) <= Decimal("0.01")
    remaining = portfolio["remaining"]
    assert remaining is None or amt(remaining) >= 0, "negative remaining"
    # exhausted is about the exact remaining; a remaining of 0.004 is written "0.00"
    assert not portfolio["exhausted"] or (remaining is not None and amt(remaining) == 0)
    assert remaining is not None or not portfolio["cap_active"]
    for c in out["campaigns"]:
        assert c["delivering"] == (c["reason"] == "delivering")
        if not c["delivering"]:
            assert amt(c["spendable"]) == 0, f"{c['id']} spends while not delivering"
        if remaining is not None:
            assert amt(c["spendable"]) <= amt(remaining)
        if portfolio["exhausted"] or portfolio["ended"]:
            assert not c["delivering"]


# ---- (a) the policy's test file -------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_yaml_case(case: dict[str, Any]) -> None:
    data = case["input"]
    out, error = run_yaml_case(P.engine, POLICY, case, data)
    if error is not None:
        return
    P.output_validator.validate(out)
    check_invariants(out)
    assert out == reference.decide(copy.deepcopy(data))


def test_yaml_through_the_shared_runner(tmp_path: Path) -> None:
    P.check_test_file_with_the_runner(tmp_path)


def test_yaml_covers_every_rule_and_reason() -> None:
    """Every rule fires in some case, and every reason code appears."""
    fired: set[str] = set()
    reasons: set[str] = set()
    errors: set[str] = set()
    for param in CASES:
        case = param.values[0]
        if "error" in case:
            errors.add(case["error"].get("code", ""))
            continue
        decision = P.engine.evaluate(POLICY, case["input"], trace="full")
        fired |= {n for n in fired_rules(decision) if "." not in n}
        reasons |= {c["reason"] for c in decision.output["campaigns"]}
    program = P.engine.policy(POLICY).program
    assert {r.name for r in program.rules} <= fired
    assert reasons == {
        "paused_by_user",
        "campaign_ended",
        "portfolio_date_range_ended",
        "portfolio_cap_reached",
        "campaign_budget_exhausted",
        "delivering",
    }
    assert set(reference.INPUT_RULE_CODES) <= errors


# ---- (b) the engine against the reference -----------------------------------------------------


@SETTINGS
@given(portfolio_cap_inputs())
def test_matches_reference(data: dict[str, Any]) -> None:
    expected = P.expected(data)
    assert not isinstance(expected, CodedInputError), expected
    out = P.decide(data)
    assert out == expected
    P.output_validator.validate(out)
    assert P.broken_invariants(data) == [], "the policy's own invariants break"
    check_invariants(out)
    assert P.decide(data, "full") == out


def _money_paths(data: dict[str, Any]) -> list[list[str | int]]:
    """The amounts of `data` that are still amounts (an earlier breakage may have removed or
    replaced one, or the object holding it)."""
    paths: list[list[str | int]] = [
        ["portfolio", "spent_in_period"],
        ["portfolio", "cap", "amount"],
    ]
    portfolio = data["portfolio"]
    for i, _ in enumerate(portfolio["cap_changes"]):
        paths += [["portfolio", "cap_changes", i, k] for k in ("from", "to", "spent_at_change")]
    for i, _ in enumerate(data["campaigns"]):
        paths += [["campaigns", i, k] for k in ("budget", "spent")]
    return [p for p in paths if isinstance(_get(data, p), dict)]


def _get(data: Any, path: list[str | int]) -> Any:
    """The value at `path`, or None when it is not there."""
    for p in path:
        if isinstance(data, dict) and isinstance(p, str):
            data = data.get(p)
        elif isinstance(data, list) and isinstance(p, int) and p < len(data):
            data = data[p]
        else:
            return None
    return data


def _at(data: Any, path: list[str | int]) -> Any:
    for p in path:
        data = data[p]
    return data


@st.composite
def bad_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid input with one or two things broken: cross-field rules and schema violations."""
    data = draw(portfolio_cap_inputs())
    cap = data["portfolio"]["cap"]
    for _ in range(draw(st.integers(1, 2))):
        kinds = ["currency", "currency", "cap_null", "start_null", "end_null", "swap", "schema"]
        kind = draw(st.sampled_from([*kinds, "at"] if data["portfolio"]["cap_changes"] else kinds))
        if kind == "currency":
            paths = _money_paths(data)
            if not paths:
                continue
            path = draw(st.sampled_from(paths))
            _at(data, path)["currency"] = draw(st.sampled_from(["XXX", "usd", "USD ", "EUR"]))
        elif not isinstance(cap, dict) or cap is not data["portfolio"].get("cap"):
            continue  # the cap itself was broken by an earlier step
        elif kind == "cap_null":
            cap["type"] = draw(st.sampled_from(["monthly_recurring", "date_range"]))
            cap["amount"] = None
        elif kind in ("start_null", "end_null"):
            cap["type"] = "date_range"
            cap["start_date" if kind == "start_null" else "end_date"] = None
        elif kind == "at":
            change = draw(st.sampled_from(data["portfolio"]["cap_changes"]))
            change["at"] = draw(
                st.sampled_from(
                    [
                        "2024-03-10T12:00:00",  # no offset
                        "0001-01-01T00:00+01:00",  # before the year 1 in UTC
                        "2024-03-10T24:00Z",
                        "2024-03-10T12:00:00.1234567Z",
                        "2024-03-10 12:00Z",
                    ]
                )
            )
        elif kind == "swap":
            cap["type"] = "date_range"
            cap["start_date"], cap["end_date"] = "2024-03-02", "2024-03-01"
        else:
            path = draw(st.sampled_from([*_money_paths(data), ["as_of"], ["portfolio", "cap"]]))
            target = _at(data, path[:-1])
            key = path[-1]
            breakage = draw(st.sampled_from(["missing", "null", "wrong", "negative", "bad_date"]))
            if breakage == "missing":
                del target[key]
            elif breakage == "null":
                target[key] = None
            elif breakage == "wrong":
                target[key] = [] if key != "as_of" else 20240320
            elif breakage == "negative" and isinstance(target[key], dict):
                target[key]["amount"] = draw(st.sampled_from([-1, "-1", "1e3", 1.5, "１"]))
            else:
                data["as_of"] = draw(
                    st.sampled_from(["2023-02-29", "2024-3-1", "", "2024-03-20T00:00Z"])
                )
    return data


@SETTINGS
@given(bad_inputs())
def test_bad_input_matches_reference(data: dict[str, Any]) -> None:
    P.check_bad_input(data, SCHEMA_CODE_ALIASES)
