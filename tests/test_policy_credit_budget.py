"""`budgets/google-ads-credit-budget` (CONTRACTS.md section 3, clauses B7, B12, B13).

(a) every case of the policy's `1.0.0.test.yaml` through the engine; (b) the engine against the
hand-written reference implementation on generated inputs, valid and bad; (c) every output
against the output schema, and the contract's invariants on every generated output.
"""

from __future__ import annotations

import copy
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from clausewise import Engine, InputError
from clausewise.dsl.diagnostics import ERROR
from clausewise.engine.store import PolicyStore
from tests.policy_support import JsonishLoader, fired_rules, run_yaml_case
from tests.reference import google_credit_budget as reference
from tests.reference.generators import google_credit_budget_inputs
from tests.reference.values import EXACT, CodedInputError, schema_errors

ROOT = Path(__file__).resolve().parents[1] / "policies"
POLICY = "budgets/google-ads-credit-budget"
FOLDER = ROOT / POLICY
TEST_FILE = FOLDER / "1.0.0.test.yaml"
FIELDS = ("budget", "credit_available", "spent")

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Schema-level codes where the engine's input converter and the reference's proposal differ
# (engine code -> reference code); the cross-field code must match exactly.
SCHEMA_CODE_ALIASES = {
    ("out_of_range", "negative_value"),
    ("invalid_format", "empty_string"),
}


def _load_cases() -> list[Any]:
    doc = yaml.load(TEST_FILE.read_text(encoding="utf-8"), Loader=JsonishLoader)
    assert doc["policy"] == POLICY
    return [pytest.param(case, id=case["name"]) for case in doc["cases"]]


CASES = _load_cases()


@pytest.fixture(scope="module")
def engine() -> Engine:
    # Other policies of the folder are loaded too; only this one's diagnostics must be clean.
    store = PolicyStore.load(ROOT, strict=False)
    mine = [
        d
        for d in store.diagnostics
        if d.span.source is not None and Path(str(d.span.path)).resolve().parent == FOLDER
    ]
    assert not [d for d in mine if d.severity == ERROR], "\n".join(d.render() for d in mine)
    assert not mine, "warnings:\n" + "\n".join(d.render() for d in mine)
    return Engine(store)


@pytest.fixture(scope="module")
def output_validator() -> Draft202012Validator:
    schema = json.loads((FOLDER / "output.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


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


def policy_invariants(engine: Engine, data: dict[str, Any]) -> list[str]:
    """Names of the policy's own `invariant`s that do not hold for `data`."""
    from clausewise.authoring.verify import invariant_checker

    compiled = engine.policy(POLICY).compiled
    inp = compiled.convert_input(copy.deepcopy(data))
    value = compiled.variants["off"].decide(inp, None)
    return [name for name, ok in invariant_checker(engine.policy(POLICY))(inp, value) if not ok]


# ---- (a) the policy's test file -------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_yaml_case(case: dict[str, Any], engine: Engine, output_validator: Any) -> None:
    data = case["input"]
    out, error = run_yaml_case(engine, POLICY, case, data)
    if error is not None:
        return
    output_validator.validate(out)
    check_invariants(data, out)
    assert out == reference.decide(copy.deepcopy(data))


def test_yaml_through_the_shared_runner(tmp_path: Path) -> None:
    """The same file through `clausewise.testing` (what `clausewise test` runs), with coverage.
    The policy is copied alone, so that other policies of the folder cannot stop it loading."""
    from clausewise.authoring.testing import TestRunner

    copy_ = tmp_path / POLICY
    shutil.copytree(FOLDER, copy_)
    report = TestRunner(coverage=True).run([copy_ / TEST_FILE.name])
    assert not report.errors, report.errors
    assert report.results and not report.failed, [(r.name, r.message) for r in report.failed]
    for coverage in report.coverage.values():
        assert coverage.total() == 100.0, coverage.to_json()


def test_yaml_covers_every_rule(engine: Engine) -> None:
    fired: set[str] = set()
    for param in CASES:
        case = param.values[0]
        if "error" not in case:
            fired |= fired_rules(engine.evaluate(POLICY, case["input"], trace="full"))
    assert {r.name for r in engine.policy(POLICY).program.rules} <= fired


# ---- (b) the engine against the reference -----------------------------------------------------


def _reference(data: dict[str, Any]) -> dict[str, Any] | CodedInputError:
    try:
        return reference.decide(copy.deepcopy(data))
    except CodedInputError as e:
        return e


@SETTINGS
@given(google_credit_budget_inputs())
def test_matches_reference(engine: Engine, output_validator: Any, data: dict[str, Any]) -> None:
    expected = _reference(data)
    assert not isinstance(expected, CodedInputError), expected
    out = engine.evaluate(POLICY, data).output
    assert out == expected
    output_validator.validate(out)
    assert policy_invariants(engine, data) == [], "the policy's own invariants break"
    check_invariants(data, out)
    assert engine.evaluate(POLICY, data, trace="full").output == out


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
def test_bad_input_matches_reference(engine: Engine, data: dict[str, Any]) -> None:
    expected = _reference(data)
    # Several schema violations at once: the contract does not say which is reported (the
    # reference takes the smallest path); the engine must report one of them.
    violations = {error.path for error in schema_errors(data, POLICY, "input")}
    try:
        out: Any = engine.evaluate(POLICY, data).output
    except InputError as e:
        assert isinstance(expected, CodedInputError), f"engine rejects ({e}), reference decides"
        if len(violations) > 1:
            assert e.path in violations, (e, violations)
            return
        assert e.path == expected.path, (e, expected)
        assert e.code == expected.code or (e.code, expected.code) in SCHEMA_CODE_ALIASES, (
            e,
            expected.code,
        )
        return
    assert not isinstance(expected, CodedInputError), f"engine decides, reference: {expected}"
    assert out == expected
