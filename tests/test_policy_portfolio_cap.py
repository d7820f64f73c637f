"""`budgets/amazon-ads-portfolio-cap` (CONTRACTS.md section 5, clauses D1-D9).

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
from tests.reference import portfolio_cap as reference
from tests.reference.generators_cd import portfolio_cap_inputs
from tests.reference.values import CodedInputError, schema_errors

ROOT = Path(__file__).resolve().parents[1] / "policies"
POLICY = "budgets/amazon-ads-portfolio-cap"
FOLDER = ROOT / POLICY
TEST_FILE = FOLDER / "1.0.0.test.yaml"

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Schema-level codes where the engine's input converter and the reference's proposal differ
# (engine code -> reference code); cross-field rule codes must match exactly.
SCHEMA_CODE_ALIASES = {
    ("out_of_range", "negative_value"),
    ("invalid_format", "empty_string"),
    ("invalid_format", "datetime_without_offset"),
    ("invalid_format", "invalid_datetime"),
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
    check_invariants(out)
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


def test_yaml_covers_every_rule_and_reason(engine: Engine) -> None:
    """Every rule fires in some case, and every reason code appears."""
    fired: set[str] = set()
    reasons: set[str] = set()
    errors: set[str] = set()
    for param in CASES:
        case = param.values[0]
        if "error" in case:
            errors.add(case["error"].get("code", ""))
            continue
        decision = engine.evaluate(POLICY, case["input"], trace="full")
        fired |= {n for n in fired_rules(decision) if "." not in n}
        reasons |= {c["reason"] for c in decision.output["campaigns"]}
    program = engine.policy(POLICY).program
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


def _reference(data: dict[str, Any]) -> dict[str, Any] | CodedInputError:
    try:
        return reference.decide(copy.deepcopy(data))
    except CodedInputError as e:
        return e


@SETTINGS
@given(portfolio_cap_inputs())
def test_matches_reference(engine: Engine, output_validator: Any, data: dict[str, Any]) -> None:
    expected = _reference(data)
    assert not isinstance(expected, CodedInputError), expected
    out = engine.evaluate(POLICY, data).output
    assert out == expected
    output_validator.validate(out)
    assert policy_invariants(engine, data) == [], "the policy's own invariants break"
    check_invariants(out)
    assert engine.evaluate(POLICY, data, trace="full").output == out


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
