"""`Engine.evaluate_batch` gives, row for row, what `Engine.evaluate` gives: on every shipped
policy (hypothesis inputs, good and bad) and on the conformance cases, at every trace level,
from an Arrow table and from an iterable of dicts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clausewise import Engine, PolicyError
from clausewise.distributed.policyset import read_policy_set
from tests.batch.support import arrow_faithful, expected, got
from tests.generators.policies import json_from_schema
from tests.test_conformance import CASES, _layout

ROOT = Path(__file__).resolve().parents[2]
LEVELS = ("off", "rules", "full")
ENGINES = {"policies": Engine.from_directory(ROOT / "policies")}
ENGINES["bench"] = Engine.from_directory(ROOT / "bench" / "policies")
SHIPPED = [(k, pid) for k, e in ENGINES.items() for pid in e.policy_ids()]


def _spoil(value: Any, how: int) -> Any:
    """A bad row made from a good one: a field of the wrong type, or a required one gone."""
    if not isinstance(value, dict) or not value:
        return ["not", "an", "object"]
    key = sorted(value)[how % len(value)]
    bad = dict(value)
    if how % 2:
        del bad[key]
    else:
        bad[key] = {"unexpected": True}
    return bad


def _rows(schema: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    good = json_from_schema(schema, schema)
    bad = st.tuples(good, st.integers(0, 50)).map(lambda t: _spoil(*t))
    return st.lists(st.one_of(good, good, bad), min_size=1, max_size=12)


@pytest.mark.parametrize("where, pid", SHIPPED, ids=[p for _, p in SHIPPED])
@given(data=st.data())
def test_batch_matches_the_row_engine_on_shipped_policies(
    where: str, pid: str, data: st.DataObject
) -> None:
    engine = ENGINES[where]
    schema = engine.policy(pid).program.input_schema
    inputs = data.draw(_rows(schema))
    level = data.draw(st.sampled_from(LEVELS))
    want = expected(engine, pid, inputs, level)
    assert got(engine, pid, engine.evaluate_batch(pid, iter(inputs), trace=level)) == want
    table = arrow_faithful(engine, pid, inputs)
    if table is not None:
        assert got(engine, pid, engine.evaluate_batch(pid, table, trace=level)) == want


def _decision_cases() -> list[Any]:
    return [
        p
        for p in CASES
        if "input" in p.values[0] and "diagnostic" not in p.values[0] and not p.marks
    ]


@pytest.mark.parametrize("case", _decision_cases())
def test_batch_matches_the_row_engine_on_the_conformance_cases(
    case: dict[str, Any], tmp_path: Path
) -> None:
    pid, _path = _layout(case, tmp_path)
    try:
        engine = Engine.from_directory(tmp_path)
    except PolicyError:
        pytest.skip("the case's policy set does not load strictly")
    kw: dict[str, Any] = {}
    if "version" in case:
        kw["version"] = case["version"]
    if "at" in case:
        kw["at"] = case["at"]
    inputs = [case["input"]] * 2
    table = arrow_faithful(engine, pid, inputs, **kw)
    for level in LEVELS:
        want = expected(engine, pid, inputs, level, **kw)
        assert got(engine, pid, engine.evaluate_batch(pid, inputs, level, **kw), **kw) == want
        if table is not None:
            assert got(engine, pid, engine.evaluate_batch(pid, table, level, **kw), **kw) == want


def test_a_bad_row_never_stops_the_batch_nor_leaves_a_partial_output() -> None:
    engine = ENGINES["bench"]
    pid = "bench/w1-health-thresholds"
    rows = [
        {"odr": "0.02", "cancellation_rate": "0", "late_shipment_rate_10d": "0.01",
         "late_shipment_rate_30d": "0.05"},
        {"odr": "0.5%", "cancellation_rate": "0", "late_shipment_rate_10d": "0",
         "late_shipment_rate_30d": "0"},
        {"odr": "0.001", "cancellation_rate": "0"},
        {"odr": "0", "cancellation_rate": "0", "late_shipment_rate_10d": "0",
         "late_shipment_rate_30d": "0"},
    ]  # fmt: skip
    table = engine.evaluate_batch(pid, pa.Table.from_pylist(rows))
    assert table.num_rows == 4
    # Arrow has no absent field: a required field left null is null, not missing
    assert table.column("_error_code").to_pylist() == [
        None, "invalid_format", "null_not_allowed", None,
    ]  # fmt: skip
    assert table.column("_error_path").to_pylist() == [
        None, "/odr", "/late_shipment_rate_10d", None,
    ]  # fmt: skip
    # a refused row has no output at all; a decided one no error
    for name in ("violations", "at_risk"):
        assert table.column(name).null_count == 2
        assert table.column(name).is_null().to_pylist() == [False, True, True, False]
    assert table.column("violations").to_pylist()[0] == ["late_shipment_rate_30d", "odr"]
    assert set(table.column("_revision").to_pylist()) == {
        read_policy_set(ROOT / "bench" / "policies").digest
    }
    assert set(table.column("_version").to_pylist()) == {"1.0.0"}


def test_a_missing_column_is_each_row_s_missing_field() -> None:
    engine = ENGINES["bench"]
    table = pa.table({"odr": ["0.1", "0"], "cancellation_rate": ["0", "0"]})
    out = engine.evaluate_batch("bench/w1-health-thresholds", table)
    assert out.column("_error_code").to_pylist() == ["missing_field"] * 2
    assert out.column("_error_path").to_pylist() == ["/late_shipment_rate_10d"] * 2


def test_output_columns_are_typed_from_the_output_schema() -> None:
    engine = ENGINES["policies"]
    pid = "health/amazon-seller-account-health"
    schema = engine.evaluate_batch(pid, []).schema
    metric = schema.field("metrics").type.field("order_defect_rate").type
    assert metric.field("value").type == pa.decimal128(38, 4)  # a rate, at four places
    assert metric.field("numerator").type == pa.int64()
    assert metric.field("window_start").type == pa.date32()
    assert schema.field("violations").type == pa.list_(pa.string())
    assert pa.types.is_map(schema.field("by_product_line").type)
    from tests.generators.seller_portfolio_inputs import generate_orders

    inputs = [generate_orders(40, seed) for seed in range(5)]
    table = engine.evaluate_batch(pid, inputs)
    for row, want in zip(table.to_pylist(), expected(engine, pid, inputs), strict=True):
        value = row["metrics"]["late_shipment_rate_30d"]["value"]
        text = want["output"]["metrics"]["late_shipment_rate_30d"]["value"]
        assert (value is None and text is None) or (
            isinstance(value, Decimal) and value == Decimal(text)
        )
        assert row["metrics"]["order_defect_rate"]["window_end"] == dt.date.fromisoformat(
            want["output"]["metrics"]["order_defect_rate"]["window_end"]
        )


def test_money_is_decimal128_in_cents() -> None:
    engine = ENGINES["policies"]
    for pid in engine.policy_ids():
        schema = engine.evaluate_batch(pid, []).schema
        for field in schema:
            if pa.types.is_struct(field.type) and field.type.get_field_index("currency") >= 0:
                assert field.type.field("amount").type == pa.decimal128(38, 2)


def test_explain_adds_the_rules_level_explanation() -> None:
    engine = ENGINES["bench"]
    pid = "bench/w2-promotion-credit"
    import sys

    from tests.batch.support import expected as _  # noqa: F401

    sys.path.insert(0, str(ROOT / "bench"))
    from workloads import w2_inputs

    inputs = w2_inputs(20, 3)
    table = engine.evaluate_batch(pid, inputs, explain=True)
    assert "_trace" not in table.column_names
    texts = table.column("_explanation").to_pylist()
    assert texts == [engine.evaluate(pid, i, trace="rules").explain() for i in inputs]


def test_unknown_trace_level_and_policy_are_refused_before_any_row() -> None:
    engine = ENGINES["bench"]
    with pytest.raises(ValueError, match="trace must be one of"):
        engine.evaluate_batch("bench/w1-health-thresholds", [], trace="everything")
    with pytest.raises(KeyError):
        engine.evaluate_batch("bench/no-such-policy", [])
    with pytest.raises(TypeError):
        engine.evaluate_batch("bench/w1-health-thresholds", {"odr": "0"})
