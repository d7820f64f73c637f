"""`health/amazon-seller-account-health` (CONTRACTS.md section 4, clauses C1-C15).

(a) every case of the policy's `1.0.0.test.yaml` through the engine; (b) the engine against the
hand-written reference implementation on generated inputs, valid and bad; (c) every output
against the output schema, and the policy's invariants on every generated input.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from clausewise import Engine, InputError
from clausewise.dsl.diagnostics import ERROR
from clausewise.engine.store import PolicyStore
from clausewise.authoring.verify import invariant_checker
from tests.policy_support import JsonishLoader, fired_rules, run_yaml_case
from tests.reference import seller_health as reference
from tests.reference import seller_health_fast
from tests.reference.generators_cd import (
    AT_TARGET,
    at_target_input,
    generate_orders,
    seller_health_inputs,
)
from tests.reference.values import CodedInputError, schema_errors

ROOT = Path(__file__).resolve().parents[1] / "policies"
POLICY = "health/amazon-seller-account-health"
FOLDER = ROOT / POLICY
TEST_FILE = FOLDER / "1.0.0.test.yaml"


def _load_cases() -> list[Any]:
    doc = yaml.load(TEST_FILE.read_text(encoding="utf-8"), Loader=JsonishLoader)
    assert doc["policy"] == POLICY
    return [pytest.param(case, id=case["name"]) for case in doc["cases"]]


CASES = _load_cases()


def case_input(case: dict[str, Any]) -> Any:
    if "input_file" in case:
        return json.loads((FOLDER / case["input_file"]).read_text(encoding="utf-8"))
    return case["input"]


@pytest.fixture(scope="module")
def store() -> PolicyStore:
    # Other policies of the folder are loaded too; only this one's diagnostics must be clean.
    store = PolicyStore.load(ROOT, strict=False)
    mine = [
        d
        for d in store.diagnostics
        if d.span.source is not None and Path(str(d.span.path)).resolve().parent == FOLDER
    ]
    assert not [d for d in mine if d.severity == ERROR], "\n".join(d.render() for d in mine)
    assert not mine, "warnings:\n" + "\n".join(d.render() for d in mine)
    return store


@pytest.fixture(scope="module")
def engine(store: PolicyStore) -> Engine:
    return Engine(store)


@pytest.fixture(scope="module")
def output_validator() -> Draft202012Validator:
    schema = json.loads((FOLDER / "output.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture(scope="module")
def invariants(store: PolicyStore) -> Any:
    """`check(data) -> [names of broken invariants]`."""
    lp = store.get(POLICY)
    check = invariant_checker(lp)
    compiled = lp.compiled

    def broken(data: Any) -> list[str]:
        inp = compiled.convert_input(copy.deepcopy(data))
        value = compiled.variants["off"].decide(inp, None)
        return [name for name, ok in check(inp, value) if not ok]

    return broken


def check_output(data: Any, out: dict[str, Any], output_validator: Any, invariants: Any) -> None:
    """The output schema, the policy's invariants, and the reference and floor outputs."""
    output_validator.validate(out)
    assert invariants(data) == []
    assert out == reference.decide(copy.deepcopy(data))
    assert out == seller_health_fast.decide(copy.deepcopy(data))


# ---- (a) the policy's test file -------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_yaml_case(
    case: dict[str, Any], engine: Engine, output_validator: Any, invariants: Any
) -> None:
    data = case_input(case)
    out, error = run_yaml_case(engine, POLICY, case, data)
    if error is not None:
        want = case["error"]
        assert error.code == want["code"], error
        with pytest.raises(CodedInputError) as ref:
            reference.decide(copy.deepcopy(data))
        assert ref.value.path == want["path"], ref.value
        assert ref.value.code == want["code"], ref.value
        return
    check_output(data, out, output_validator, invariants)


def test_yaml_covers_every_rule_and_clause(engine: Engine) -> None:
    fired: set[str] = set()
    for param in CASES:
        case = param.values[0]
        if "error" not in case:
            fired |= fired_rules(engine.evaluate(POLICY, case_input(case), trace="full"))
    program = engine.policy(POLICY).program
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


def _reference(data: Any) -> dict[str, Any] | CodedInputError:
    try:
        return reference.decide(copy.deepcopy(data))
    except CodedInputError as e:
        return e


@given(seller_health_inputs())
def test_matches_reference(
    engine: Engine, output_validator: Any, invariants: Any, data: dict[str, Any]
) -> None:
    expected = _reference(data)
    assert not isinstance(expected, CodedInputError), expected
    out = engine.evaluate(POLICY, data).output
    assert out == expected
    output_validator.validate(out)
    assert invariants(data) == []
    assert engine.evaluate(POLICY, data, trace="full").output == out


@pytest.mark.parametrize("metric", sorted(AT_TARGET))
@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_rates_at_and_beside_their_targets(
    engine: Engine, output_validator: Any, metric: str, delta: int
) -> None:
    for as_of in (date(2022, 10, 20), date(2024, 2, 29), date(2023, 1, 1)):
        data = at_target_input(metric, as_of, delta)
        out = engine.evaluate(POLICY, data).output
        assert out == _reference(data)
        output_validator.validate(out)
        meets = out["metrics"][metric]["meets"]
        assert meets is (delta == 1), (metric, delta, out["metrics"][metric])


def test_large_generated_input_matches_the_floor(engine: Engine, output_validator: Any) -> None:
    data = generate_orders(3000, 11)
    out = engine.evaluate(POLICY, data).output
    assert out == seller_health_fast.decide(copy.deepcopy(data))
    assert out == reference.decide(copy.deepcopy(data))
    output_validator.validate(out)


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
def test_bad_input_matches_reference(engine: Engine, data: Any) -> None:
    expected = _reference(data)
    try:
        out: Any = engine.evaluate(POLICY, copy.deepcopy(data)).output
    except InputError as e:
        assert isinstance(expected, CodedInputError), f"engine rejects ({e}), reference decides"
        # Several violations at once: the contract does not say which is reported (the
        # reference takes the smallest path); the engine must report one of them, with its code.
        violations = {(v.path, v.code) for v in schema_errors(data, POLICY, "input")}
        if len({path for path, _ in violations}) > 1:
            assert e.path in {path for path, _ in violations}, (e, violations)
            return
        assert (e.path, e.code) == (expected.path, expected.code), (e, expected)
        return
    assert not isinstance(expected, CodedInputError), f"engine decides, reference: {expected}"
    assert out == expected


# ---- (c) the explanation ------------------------------------------------------------------------


def test_explanation_names_the_clauses(engine: Engine) -> None:
    data = at_target_input("order_defect_rate", date(2022, 10, 20))
    decision = engine.evaluate(POLICY, data, trace="rules")
    text = decision.explain()
    assert "violations › order_defect_rate [C1, C2, C13]: applies" in text
    assert "The order defect rate is 1% or more" in text
    assert "defective for orders[0] [C2, C3]: applies" in text
    why = decision.explain(why_not="at_risk")
    assert "at_risk" in why
