"""The DSL policy `promotions/amazon-ads-click-credit-q4-2022` (CONTRACTS.md section 1).

- every case of `policies/promotions/amazon-ads-click-credit-q4-2022/1.0.0.test.yaml`;
- the engine against the hand-written reference (`tests/oracles/contracts/amazon_click_credit.py`) on
  generated inputs: the same output, exactly, at every trace level; and for an input with one
  bad field, an error at the same JSON path;
- every output valid against the output schema, and the policy's invariants (total within the
  cap, one credit per ad product, ...) on every generated decision.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clausewise import InputError
from tests.generators.mutations import field_mutations, mutate, schema_fields
from tests.generators.promotion_inputs import amazon_click_credit_inputs
from tests.oracles.contracts import amazon_click_credit as reference
from tests.oracles.contracts.errors import ReferenceInputError
from tests.oracles.contracts.values import json_pointer, load_schema
from tests.policy_support import GENERATED, ShippedPolicy, run_yaml_case

P = ShippedPolicy("promotions/amazon-ads-click-credit-q4-2022", reference.decide)
POLICY = P.policy_id
CASES = P.test_cases


def assert_valid_output(out: dict[str, Any]) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in P.output_validator.iter_errors(out)]
    assert errors == []


def money(value: dict[str, str]) -> Decimal:
    return Decimal(value["amount"])


def assert_invariants(data: dict[str, Any], out: dict[str, Any]) -> None:
    """The invariants of the policy (A3, A7, A8, A10), and each launch in exactly one list."""
    cap = Decimal(1200) if data["store"] in {"FR", "IT", "ES"} else Decimal(900)
    assert money(out["total"]) <= cap, "total_within_cap"
    products = [c["ad_product"] for c in out["credits"]]
    assert len(products) == len(set(products)), "one_credit_per_product"
    assert sum((money(c["amount"]) for c in out["credits"]), Decimal(0)) == money(out["total"])
    assert out["eligible"] is bool(out["credits"])
    for credit in out["credits"]:
        applied = date.fromisoformat(credit["applied_on"])
        assert applied.weekday() == 3 and applied >= date(2022, 11, 3), "applied_on_a_thursday"
        assert date.fromisoformat(credit["expires_on"]) == applied + timedelta(days=30)
    listed = len(out["credits"]) + len(out["pending"])
    refused = [r for r in out["reasons"] if r["campaign_id"] is not None]
    if any(r["campaign_id"] is None for r in out["reasons"]):
        assert listed == 0 and not refused, "no launch is evaluated after an advertiser code"
    else:
        refused_ids = {r["campaign_id"] for r in refused}
        assert listed + len(refused_ids) <= len(data["launches"])


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


def test_every_reason_code_is_tested() -> None:
    codes = {
        reason["code"] for case in CASES for reason in case.get("expect", {}).get("reasons", [])
    }
    schema = load_schema(POLICY, "output")
    assert codes == set(schema["properties"]["reasons"]["items"]["properties"]["code"]["enum"])


def test_explanation_names_the_launch_and_the_clause() -> None:
    data = P.case("A10 the earliest")["input"]
    text = P.engine.evaluate(POLICY, data, trace="full").explain()
    assert "earns_credit for launches[1] [A10]: applies" in text
    assert "product_already_credited for launches[0] [A10]: applies" in text


# ---------------------------------------------------------------------------------------------
# The engine against the reference implementation
# ---------------------------------------------------------------------------------------------


@GENERATED
@given(data=amazon_click_credit_inputs())
def test_engine_agrees_with_the_reference(data: dict[str, Any]) -> None:
    expected = reference.decide(copy.deepcopy(data))
    for trace in ("off", "full"):
        assert P.decide(data, trace) == expected, trace
    assert_valid_output(expected)
    assert_invariants(data, expected)


@GENERATED
@given(data=st.data())
def test_one_bad_field_is_reported_at_the_same_path(data: st.DataObject) -> None:
    valid = data.draw(amazon_click_credit_inputs(), label="valid input")
    schema = load_schema(POLICY, "input")
    path, sub, nullable, in_record = data.draw(
        st.sampled_from(list(schema_fields(schema, schema, valid))), label="field"
    )
    bad, _ = data.draw(st.sampled_from(field_mutations(sub, nullable, in_record)), label="mutation")
    broken = mutate(valid, path, bad)
    with pytest.raises(ReferenceInputError) as expected:
        reference.decide(copy.deepcopy(broken))
    assert expected.value.path == json_pointer(path)
    for trace in ("off", "full"):
        with pytest.raises(InputError) as caught:
            P.decide(broken, trace)
        assert caught.value.path == expected.value.path, (trace, caught.value.message)
