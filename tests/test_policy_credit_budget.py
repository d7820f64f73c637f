"""`budgets/google-ads-credit-budget` (CONTRACTS.md section 3, clauses B7, B12, B13).

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

from tests.generators.promotion_inputs import google_credit_budget_inputs
from tests.oracles.contracts import google_credit_budget as reference
from tests.oracles.contracts.values import EXACT, CodedInputError
from tests.policy_support import ShippedPolicy, run_yaml_case

P = ShippedPolicy("budgets/google-ads-credit-budget", reference.decide)
POLICY = P.policy_id
CASES = P.cases()
FIELDS = ("budget", "credit_available", "spent")

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Schema-level codes where the engine's input converter and the reference's proposal differ
# (engine code -> reference code); the cross-field code must match exactly.
SCHEMA_CODE_ALIASES = {
    ("out_of_range", "negative_value"),
    ("invalid_format", "empty_string"),
}


def check_invariants(data: dict[str, Any], out: dict[str, Any]) -> None:
    """The contract's invariants, on exact input amounts and the rounded output."""
    budget, credit, spent = (Decimal(str(data[f]["amount"])) for f in FIELDS)
    used, charge, carried = (
        Decimal(out[f]["amount"]) for f in ("credit_used", "charge", "credit_carried_over")
    )
    cent = Decimal("0.01")

    def rounded(x: Decimal) -> Decimal:
        return x.quantize(cent, context=EXACT)  # half-even, never losing digits

    assert charge <= rounded(budget), "charge above the budget"
    assert charge <= rounded(spent), "charge above the spend"
    assert min(used, charge, carried) >= 0
    # exact before rounding: credit_used + carried over = credit_available
    exact_used = min(spent, credit)
    assert used == rounded(exact_used)
    assert carried == rounded(EXACT.subtract(credit, exact_used))
    assert abs(EXACT.subtract(EXACT.add(used, carried), credit)) <= cent
    assert Decimal(out["effective_budget"]["amount"]) == rounded(EXACT.add(budget, credit))
    assert {out[f]["currency"] for f in out} == {data["budget"]["currency"]}


# ---- (a) the policy's test file -------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_yaml_case(case: dict[str, Any]) -> None:
    data = case["input"]
    out, error = run_yaml_case(P.engine, POLICY, case, data)
    if error is not None:
        return
    P.output_validator.validate(out)
    check_invariants(data, out)
    assert out == reference.decide(copy.deepcopy(data))


def test_yaml_through_the_shared_runner(tmp_path: Path) -> None:
    P.check_test_file_with_the_runner(tmp_path)


def test_yaml_covers_every_rule() -> None:
    assert {r.name for r in P.engine.policy(POLICY).program.rules} <= P.fired_by_cases()


# ---- (b) the engine against the reference -----------------------------------------------------


@SETTINGS
@given(google_credit_budget_inputs())
def test_matches_reference(data: dict[str, Any]) -> None:
    expected = P.expected(data)
    assert not isinstance(expected, CodedInputError), expected
    out = P.decide(data)
    assert out == expected
    P.output_validator.validate(out)
    assert P.broken_invariants(data) == [], "the policy's own invariants break"
    check_invariants(data, out)
    assert P.decide(data, "full") == out


@st.composite
def bad_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid input with one or two fields broken: currencies, amounts, shapes."""
    data = draw(google_credit_budget_inputs())
    for field in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True)):
        kind = draw(st.sampled_from(["currency", "currency", "amount", "shape"]))
        if kind == "currency":
            data[field]["currency"] = draw(st.sampled_from(["XXX", "thb", "usd", "", 5, None]))
        elif kind == "amount":
            data[field]["amount"] = draw(
                st.sampled_from([-1, "-1", "1.", ".5", "1e3", 1.5, 2.0, "１", "12\n", None, True])
            )
        else:
            shape = draw(st.sampled_from(["missing", "null", "string", "no_amount"]))
            if shape == "missing":
                del data[field]
            elif shape == "null":
                data[field] = None
            elif shape == "string":
                data[field] = "100 THB"
            else:
                del data[field]["amount"]
    return data


@SETTINGS
@given(bad_inputs())
def test_bad_input_matches_reference(data: dict[str, Any]) -> None:
    P.check_bad_input(data, SCHEMA_CODE_ALIASES)
