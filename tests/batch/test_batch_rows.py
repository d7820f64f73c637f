"""The row engine's part of a batch: rows decided in chunks with the cyclic garbage collector
paused, from Arrow columns of every type a row can be read from, bad rows included; every row
equal to what `Engine.evaluate` gives for the same row."""

from __future__ import annotations

import datetime as dt
import gc
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import clausewise.batch as batch_api
from clausewise import Engine
from clausewise.batch.rows import row_reader
from tests.batch.support import expected, got

ROOT = Path(__file__).resolve().parents[2]
BENCH = Engine.from_directory(ROOT / "bench" / "policies")
SHIPPED = Engine.from_directory(ROOT / "policies")
W1 = "bench/w1-health-thresholds"
W2 = "bench/w2-promotion-credit"
HEALTH = "health/amazon-seller-account-health"
UTC = dt.UTC


def _as_rows(engine: Engine, pid: str, table: pa.Table) -> list[Any]:
    """The rows of `table` as the JSON inputs the batch path reads them as."""
    read = row_reader(engine.policy(pid).program.input_schema, table.schema)
    return [read(r) for r in table.to_pylist()]


def _same_as_row_engine(engine: Engine, pid: str, table: pa.Table, trace: str = "off") -> Any:
    out = engine.evaluate_batch(pid, table, trace=trace)
    assert got(engine, pid, out) == expected(engine, pid, _as_rows(engine, pid, table), trace)
    return out


def _launch(at: Any, days: Any = 10, product: Any = "sponsored_display") -> dict[str, Any]:
    return {"ad_product": product, "launched_at": at, "active_days": days, "first_time": True}


def _w2_table(at_type: pa.DataType) -> pa.Table:
    launch = pa.struct(
        [
            ("ad_product", pa.string()),
            ("launched_at", at_type),
            ("active_days", pa.int64()),
            ("first_time", pa.bool_()),
        ]
    )
    schema = pa.schema([("marketplace", pa.string()), ("launches", pa.list_(launch))])
    t0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    stamp = t0 if at_type != pa.string() else "2026-03-01T12:00:00Z"
    rows = [
        {"marketplace": "US", "launches": [_launch(stamp), _launch(stamp, 3)]},
        {"marketplace": None, "launches": [_launch(stamp)]},  # null in a required field
        {"marketplace": "DE", "launches": [_launch(stamp, -1)]},  # below the minimum
        {"marketplace": "DE", "launches": None},  # a required list that is null
        {"marketplace": "FR", "launches": [_launch(None)]},  # a required instant that is null
        {"marketplace": "FR", "launches": []},
    ]
    return pa.Table.from_pylist(rows * 3, schema=schema)  # several chunks with small ones


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Row-engine chunks of four rows: bad rows fall on both sides of chunk boundaries."""
    monkeypatch.setattr(batch_api, "ROW_CHUNK_ROWS", 4)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    "at_type",
    [pa.string(), pa.timestamp("us", tz="UTC"), pa.timestamp("ms", tz="+02:00")],
    ids=["text", "utc", "offset"],
)
@pytest.mark.parametrize("trace", ["off", "rules"])
def test_bad_rows_get_the_row_engine_s_error_code_and_path(at_type: Any, trace: str) -> None:
    out = _same_as_row_engine(BENCH, W2, _w2_table(at_type), trace)
    codes = out.column("_error_code").to_pylist()[:6]
    paths = out.column("_error_path").to_pylist()[:6]
    assert codes == [
        None, "null_not_allowed", "out_of_range", "null_not_allowed", "null_not_allowed", None,
    ]  # fmt: skip
    assert paths == [
        None, "/marketplace", "/launches/0/active_days", "/launches", "/launches/0/launched_at",
        None,
    ]  # fmt: skip
    assert out.column("_error_code").to_pylist()[6:12] == codes  # the same in the next chunks


@pytest.mark.usefixtures("small_chunks")
def test_a_timestamp_without_a_zone_is_read_as_utc() -> None:
    naive = _w2_table(pa.timestamp("us"))
    aware = _w2_table(pa.timestamp("us", tz="UTC"))
    out = _same_as_row_engine(BENCH, W2, naive)
    assert out.drop_columns(["_revision"]).equals(
        BENCH.evaluate_batch(W2, aware).drop_columns(["_revision"])
    )
    assert _as_rows(BENCH, W2, naive)[0]["launches"][0]["launched_at"] == "2026-03-01T12:00:00Z"


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("days_type", [pa.float64(), pa.string()], ids=["float", "text"])
def test_a_column_of_the_wrong_arrow_type_is_each_row_s_type_error(days_type: Any) -> None:
    table = _w2_table(pa.string()).cast(
        pa.schema(
            [
                ("marketplace", pa.string()),
                (
                    "launches",
                    pa.list_(
                        pa.struct(
                            [
                                ("ad_product", pa.string()),
                                ("launched_at", pa.string()),
                                ("active_days", days_type),
                                ("first_time", pa.bool_()),
                            ]
                        )
                    ),
                ),
            ]
        )
    )
    out = _same_as_row_engine(BENCH, W2, table)
    codes = out.column("_error_code").to_pylist()
    paths = out.column("_error_path").to_pylist()
    assert codes[0] == "wrong_type" and paths[0] == "/launches/0/active_days"


@pytest.mark.parametrize("trace", ["off", "rules"])
def test_decimal_columns_in_and_out_of_range(trace: str) -> None:
    dec = pa.decimal128(20, 6)
    names = ["odr", "cancellation_rate", "late_shipment_rate_10d", "late_shipment_rate_30d"]
    values = [Decimal("0.005"), Decimal("0.5"), Decimal("-0.000001"), Decimal("99999999999999")]
    table = pa.table(
        {n: pa.array([values[(i + k) % 4] for k in range(4)], dec) for i, n in enumerate(names)}
    )
    table = pa.concat_tables([table, pa.table({n: pa.array([None], dec) for n in names})])
    out = _same_as_row_engine(BENCH, W1, table, trace)
    codes = out.column("_error_code").to_pylist()
    paths = out.column("_error_path").to_pylist()
    # a negative rate is refused at its field: its pattern has no sign
    assert [c for c in codes if c is not None]
    assert {p for p in paths if p} <= {f"/{n}" for n in names}
    assert codes[-1] == "null_not_allowed" and paths[-1] == "/odr"


@pytest.mark.usefixtures("small_chunks")
def test_account_health_map_column_and_chunks_equal_the_row_engine() -> None:
    from tests.generators.seller_portfolio_inputs import generate_orders

    inputs = [generate_orders(1 + i % 9, i) for i in range(11)]
    table = pa.Table.from_pylist(inputs)
    out = _same_as_row_engine(SHIPPED, HEALTH, table)
    assert pa.types.is_map(out.schema.field("by_product_line").type)
    value = out.schema.field("by_product_line").type.item_type
    assert value.field("order_defect_rate").type.field("value").type == pa.decimal128(38, 4)
    assert got(SHIPPED, HEALTH, SHIPPED.evaluate_batch(HEALTH, iter(inputs))) == expected(
        SHIPPED, HEALTH, inputs
    )


def test_more_rows_than_a_chunk() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from workloads import w2_inputs

    inputs = w2_inputs(batch_api.ROW_CHUNK_ROWS + 37, 5)
    inputs[batch_api.ROW_CHUNK_ROWS] = {"marketplace": "US", "launches": "none"}
    out = BENCH.evaluate_batch(W2, inputs)
    assert got(BENCH, W2, out) == expected(BENCH, W2, inputs)
    assert out.num_rows == len(inputs)
    assert out.column("_error_code")[batch_api.ROW_CHUNK_ROWS].as_py() == "wrong_type"
    good = [i for i in inputs if isinstance(i["launches"], list)]
    table = pa.Table.from_pylist(good)
    assert got(BENCH, W2, BENCH.evaluate_batch(W2, table)) == expected(BENCH, W2, good)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        if enabled:
            gc.enable()
        else:
            gc.disable()
        BENCH.evaluate_batch(W2, _w2_table(pa.string()))
        assert gc.isenabled() is enabled
        with pytest.raises(KeyError):
            BENCH.evaluate_batch("bench/no-such-policy", _w2_table(pa.string()))
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


@pytest.mark.parametrize("trace", ["off", "rules"])
def test_an_output_value_its_column_cannot_hold_makes_that_row_an_error(
    tmp_path: Path, trace: str
) -> None:
    """A row-decided policy (it reads a list) whose integer output passes 64 bits on some rows:
    those rows are `output_out_of_range` errors with no output at all; the others are written."""
    d = tmp_path / "t" / "big"
    d.mkdir(parents=True)
    (d / "input.schema.json").write_text(
        '{"type": "object", "properties": {"xs": {"type": "array", "items": {"type": "integer"}}},'
        ' "required": ["xs"]}'
    )
    (d / "output.schema.json").write_text(
        '{"type": "object", "properties": {"n": {"type": "integer"}, "big": {"type": "integer"}},'
        ' "required": ["n", "big"]}'
    )
    (d / "1.0.0.cw").write_text(
        'policy "t/big"\nversion "1.0.0"\ninput schema "input.schema.json"\n'
        'output schema "output.schema.json"\n'
        "output { n: count(input.xs), big: sum(x for x in input.xs) * 1000000000000 }\n"
    )
    engine = Engine.from_directory(tmp_path)
    rows = [{"xs": [1, 2]}, {"xs": [10_000_000]}, {"xs": []}, {"xs": [9_999_999, 1]}]
    out = engine.evaluate_batch("t/big", rows, trace=trace)
    assert out.column("n").to_pylist() == [2, None, 0, None]
    assert out.column("big").to_pylist() == [3_000_000_000_000, None, 0, None]
    assert out.column("_error_code").to_pylist() == [
        None,
        "output_out_of_range",
        None,
        "output_out_of_range",
    ]
    assert "64-bit" in out.column("_error_message").to_pylist()[1]
