"""`health/amazon-seller-account-health` (CONTRACTS.md section 4, clauses C1-C15).

(a) every case of the policy's `1.0.0.test.yaml` through the engine; (b) the engine against the
hand-written reference implementation on generated inputs, valid and bad; (c) every output
against the output schema, and the policy's invariants on every generated input.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.generators.seller_portfolio_inputs import (
    AT_TARGET,
    at_target_input,
    generate_orders,
    seller_health_inputs,
)
from tests.oracles.contracts import seller_health as reference
from tests.oracles.contracts import seller_health_fast
from tests.oracles.contracts.values import CodedInputError
from tests.policy_support import ShippedPolicy, case_input, run_yaml_case

P = ShippedPolicy("health/amazon-seller-account-health", reference.decide)
POLICY = P.policy_id
CASES = P.cases()


def check_output(data: Any, out: dict[str, Any]) -> None:
    """The output schema, the policy's invariants, and the reference and floor outputs."""
    P.output_validator.validate(out)
    assert P.broken_invariants(data) == []
    assert out == reference.decide(copy.deepcopy(data))
    assert out == seller_health_fast.decide(copy.deepcopy(data))


# ---- (a) the policy's test file -------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_yaml_case(case: dict[str, Any]) -> None:
    data = case_input(P.folder, case)
    out, error = run_yaml_case(P.engine, POLICY, case, data)
    if error is not None:
        want = case["error"]
        assert error.code == want["code"], error
        with pytest.raises(CodedInputError) as ref:
            reference.decide(copy.deepcopy(data))
        assert ref.value.path == want["path"], ref.value
        assert ref.value.code == want["code"], ref.value
        return
    check_output(data, out)


def test_yaml_covers_every_rule_and_clause() -> None:
    fired = P.fired_by_cases()
    program = P.engine.policy(POLICY).program
    never = {r.name for r in program.rules} - fired
    assert not never, f"rules never fired by the test file: {sorted(never)}"
    cited = {c for r in program.rules if r.name in fired for c in r.cites}
    out_of_scope = {o.clause for o in program.header.out_of_scope}
    assert cited | out_of_scope >= {f"C{i}" for i in range(1, 16)}


def test_yaml_covers_every_error_code() -> None:
    codes = {param.values[0]["error"]["code"] for param in CASES if "error" in param.values[0]}
    assert codes >= {
        "missing_field",
        "null_not_allowed",
        "wrong_type",
        "unknown_enum_value",
        "invalid_format",
    }


# ---- (b) the engine against the reference -----------------------------------------------------


@given(seller_health_inputs())
def test_matches_reference(data: dict[str, Any]) -> None:
    expected = P.expected(data)
    assert not isinstance(expected, CodedInputError), expected
    out = P.decide(data)
    assert out == expected
    P.output_validator.validate(out)
    assert P.broken_invariants(data) == []
    assert P.decide(data, "full") == out


@pytest.mark.parametrize("metric", sorted(AT_TARGET))
@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_rates_at_and_beside_their_targets(metric: str, delta: int) -> None:
    for as_of in (date(2022, 10, 20), date(2024, 2, 29), date(2023, 1, 1)):
        data = at_target_input(metric, as_of, delta)
        out = P.decide(data)
        assert out == P.expected(data)
        P.output_validator.validate(out)
        meets = out["metrics"][metric]["meets"]
        assert meets is (delta == 1), (metric, delta, out["metrics"][metric])


def test_large_generated_input_matches_the_floor() -> None:
    data = generate_orders(3000, 11)
    out = P.decide(data)
    assert out == seller_health_fast.decide(copy.deepcopy(data))
    assert out == reference.decide(copy.deepcopy(data))
    P.output_validator.validate(out)


ORDER_FIELDS = (
    "id",
    "placed_on",
    "channel",
    "product_line",
    "negative_feedback",
    "feedback_removed",
    "az_claim",
    "chargeback",
    "cancelled_by_seller",
    "cancel_requested_by_buyer",
    "expected_ship_date",
    "ship_confirmed_on",
    "tracking_valid",
    "estimated_delivery_date",
    "delivered_on",
)
RETURN_FIELDS = (
    "id",
    "requested_on",
    "negative_feedback",
    "answered_within_48h",
    "wrongly_rejected",
)
BAD_VALUES = [
    None,
    "",
    "x",
    "SELLER",
    "granted ",
    "20221020",
    "2022-W40-3",
    "2022-02-30",
    "2022-10-20T00:00:00Z",
    "２０２２-１０-２０",
    " 2022-10-20",
    0,
    1,
    1.5,
    True,
    [],
    {},
]


@st.composite
def bad_inputs(draw: st.DrawFn) -> Any:
    """A valid input with one or two things broken: a field's value, a missing field, a shape."""
    data = draw(seller_health_inputs(max_orders=8))
    for _ in range(draw(st.integers(1, 2))):
        where = draw(st.sampled_from(["order", "order", "return", "top"]))
        orders, returns = data.get("orders"), data.get("return_requests")
        if where == "order" and isinstance(orders, list) and orders:
            item = draw(st.sampled_from(orders))
            field = draw(st.sampled_from(ORDER_FIELDS))
        elif where == "return" and isinstance(returns, list) and returns:
            item = draw(st.sampled_from(returns))
            field = draw(st.sampled_from(RETURN_FIELDS))
        else:
            item = data
            field = draw(st.sampled_from(["as_of", "orders", "return_requests"]))
        if draw(st.integers(0, 5)) == 0:
            item.pop(field, None)
        else:
            item[field] = draw(st.sampled_from(BAD_VALUES))
    if draw(st.integers(0, 9)) == 0:
        data = draw(st.sampled_from([None, [], "x", {"as_of": "2022-10-20"}]))
    return data


@given(bad_inputs())
def test_bad_input_matches_reference(data: Any) -> None:
    P.check_bad_input(data)


# ---- (c) the explanation ------------------------------------------------------------------------


def test_explanation_names_the_clauses() -> None:
    data = at_target_input("order_defect_rate", date(2022, 10, 20))
    decision = P.engine.evaluate(POLICY, data, trace="rules")
    text = decision.explain()
    assert "violations › order_defect_rate [C1, C2, C13]: applies" in text
    assert "The order defect rate is 1% or more" in text
    assert "defective for orders[0] [C2, C3]: applies" in text
    why = decision.explain(why_not="at_risk")
    assert "at_risk" in why
