"""The DSL policy `promotions/google-ads-promo-code` (CONTRACTS.md section 2).

- every case of `policies/promotions/google-ads-promo-code/1.0.0.test.yaml`;
- the engine against the hand-written reference (`tests/oracles/contracts/google_promo_code.py`) on
  generated inputs: the same output, exactly, at every trace level; for an input with one bad
  field, or breaking the cross-field rules of INPUT_RULES.md, an error at the same JSON path;
- every output valid against the output schema, and the policy's invariants (qualified exactly
  when no reason is given, qualified_at within the spend window, ...).
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clausewise import EvaluationError, InputError
from tests.generators.mutations import field_mutations, mutate, schema_fields
from tests.generators.promotion_inputs import google_promo_code_inputs
from tests.oracles.contracts import google_promo_code as reference
from tests.oracles.contracts.errors import ReferenceInputError
from tests.oracles.contracts.values import json_pointer, load_schema, parse_datetime
from tests.policy_support import GENERATED, ShippedPolicy, run_yaml_case

P = ShippedPolicy("promotions/google-ads-promo-code", reference.decide)
POLICY = P.policy_id
CASES = P.test_cases


def assert_valid_output(out: dict[str, Any]) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in P.output_validator.iter_errors(out)]
    assert errors == []


def instant(text: str) -> datetime:
    value = parse_datetime(text)
    assert value is not None
    return value


def assert_invariants(data: dict[str, Any], out: dict[str, Any]) -> None:
    """The invariants of the policy (B3-B6, B8), as Python."""
    qualified = out["status"] == "qualified"
    assert (out["reasons"] == []) is qualified, "qualified_without_reasons"
    for field in ("qualified_at", "credit", "credit_due_by"):
        assert (out[field] is not None) is qualified, "credit_only_when_qualified"
    assert out["counted_spend"]["currency"] == data["offer"]["spend_threshold"]["currency"]
    if data["code_entered_at"] is None:
        assert Decimal(out["counted_spend"]["amount"]) == 0
    if qualified:
        entered = instant(data["code_entered_at"])
        at = instant(out["qualified_at"])
        window = timedelta(days=data["offer"]["spend_window_days"])
        assert entered <= at < entered + window or at == entered, "qualified_within_window"
    entry = [r for r in out["reasons"] if r in reference.ENTRY_CODES]
    assert not entry or entry == out["reasons"], "entry codes come alone"


# ---------------------------------------------------------------------------------------------
# The policy's test file
# ---------------------------------------------------------------------------------------------


def test_the_test_file_is_for_this_policy() -> None:
    assert CASES, "the test file names this policy, version 1.0.0, and cases with unique names"


@pytest.mark.parametrize("case", P.cases())
def test_case(case: dict[str, Any]) -> None:
    out, error = run_yaml_case(P.engine, POLICY, case, copy.deepcopy(case["input"]))
    if error is not None:
        assert error.code == case["error"]["code"], error
        return
    assert out == case["expect"]
    assert_valid_output(out)
    assert_invariants(case["input"], out)


def test_every_status_and_reason_code_is_tested() -> None:
    schema = load_schema(POLICY, "output")["properties"]
    outputs = [case["expect"] for case in CASES if "expect" in case]
    assert {out["status"] for out in outputs} == set(schema["status"]["enum"])
    assert {r for out in outputs for r in out["reasons"]} == set(schema["reasons"]["items"]["enum"])


def test_thousands_of_costs() -> None:
    """10,000 costs of 0.09 THB one minute apart, listed newest first: the running total in time
    order first reaches 750 THB at the 8,334th (750.06 THB), one minute x 8,333 after entry."""
    data = copy.deepcopy(P.case("B3 spend 750")["input"])
    start = instant(data["code_entered_at"])
    data["costs"] = [
        {
            "at": (start + timedelta(minutes=i)).isoformat(),
            "amount": {"amount": "0.09", "currency": "THB"},
        }
        for i in reversed(range(10_000))
    ]
    data["as_of"] = "2023-04-30T00:00:00Z"
    out = P.decide(data)
    assert out == reference.decide(copy.deepcopy(data))
    assert out["counted_spend"]["amount"] == "900.00"
    assert instant(out["qualified_at"]) == start + timedelta(minutes=8_333)


def test_a_credit_due_after_9999_cannot_be_written() -> None:
    """INPUT_RULES.md: no decision when credit_due_by would fall after 9999-12-31. The reference
    names the `at` of the cost that completed the requirement as bad input; the engine reports
    the date it cannot write as the policy's failure, located at its output."""
    data = copy.deepcopy(P.case("B3 spend 750")["input"])
    data["account"]["created_at"] = "9999-12-01T00:00:00Z"
    data["offer"]["code_expires_at"] = "9999-12-31T00:00:00Z"
    data["code_entered_at"] = "9999-12-10T00:00:00Z"
    data["as_of"] = "9999-12-20T00:00:00Z"
    data["costs"] = [{"at": "9999-12-15T00:00:00Z", "amount": {"amount": "750", "currency": "THB"}}]
    with pytest.raises(ReferenceInputError) as expected:
        reference.decide(copy.deepcopy(data))
    assert (expected.value.code, expected.value.path) == ("out_of_range", "/costs/0/at")
    for trace in ("off", "full"):
        with pytest.raises(EvaluationError) as caught:
            P.decide(data, trace)
        assert caught.value.code == "date_out_of_range"
        assert "google-ads-promo-code/1.0.0.cw:" in caught.value.location


def test_explanation_cites_the_clauses() -> None:
    data = P.case("B6 a cost at the window's end")["input"]
    text = P.engine.evaluate(POLICY, data, trace="full").explain()
    assert "requirement_codes › spend_window_elapsed [B6]: applies" in text
    assert "status › window_elapsed [B6]: applies" in text


# ---------------------------------------------------------------------------------------------
# The engine against the reference implementation
# ---------------------------------------------------------------------------------------------


@GENERATED
@given(data=google_promo_code_inputs())
def test_engine_agrees_with_the_reference(data: dict[str, Any]) -> None:
    expected = reference.decide(copy.deepcopy(data))
    for trace in ("off", "full"):
        assert P.decide(data, trace) == expected, trace
    assert_valid_output(expected)
    assert_invariants(data, expected)


def _raises_at_the_same_path(broken: dict[str, Any]) -> None:
    with pytest.raises(ReferenceInputError) as expected:
        reference.decide(copy.deepcopy(broken))
    for trace in ("off", "full"):
        with pytest.raises(InputError) as caught:
            P.decide(broken, trace)
        assert caught.value.path == expected.value.path, (trace, caught.value.message)


@GENERATED
@given(data=st.data())
def test_one_bad_field_is_reported_at_the_same_path(data: st.DataObject) -> None:
    valid = data.draw(google_promo_code_inputs(), label="valid input")
    schema = load_schema(POLICY, "input")
    path, sub, nullable, in_record = data.draw(
        st.sampled_from(list(schema_fields(schema, schema, valid))), label="field"
    )
    bad, _ = data.draw(st.sampled_from(field_mutations(sub, nullable, in_record)), label="mutation")
    broken = mutate(valid, path, bad)
    with pytest.raises(ReferenceInputError) as expected:
        reference.decide(copy.deepcopy(broken))
    assert expected.value.path == json_pointer(path)
    _raises_at_the_same_path(broken)


@GENERATED
@given(data=st.data())
def test_cross_field_rules_are_reported_at_the_smallest_path(data: st.DataObject) -> None:
    """INPUT_RULES.md: currencies of the credit, costs and payments, and a code entered before
    the account exists; one or several broken at once."""
    broken = copy.deepcopy(data.draw(google_promo_code_inputs(), label="valid input"))
    other = data.draw(
        st.sampled_from(["XXX", "thb", "usd", "EUR", "THB ", "USD"]), label="currency"
    )
    currency = broken["offer"]["spend_threshold"]["currency"]
    if other == currency:
        other = other.lower()
    kinds = ["credit"]
    if broken["code_entered_at"] is not None:
        kinds.append("entered")
    kinds += ["costs"] * bool(broken["costs"]) + ["payments"] * bool(broken["payments"])
    chosen = data.draw(st.sets(st.sampled_from(kinds), min_size=1), label="rules broken")
    if "credit" in chosen:
        broken["offer"]["credit"]["currency"] = other
    if "entered" in chosen:
        created = instant(broken["account"]["created_at"])
        step = data.draw(st.sampled_from([1, 1_000_000, 86_400_000_000]), label="microseconds")
        broken["code_entered_at"] = (created - timedelta(microseconds=step)).isoformat()
    for key in ("costs", "payments"):
        if key in chosen:
            i = data.draw(st.integers(0, len(broken[key]) - 1), label=f"{key} index")
            broken[key][i]["amount"]["currency"] = other
    _raises_at_the_same_path(broken)
