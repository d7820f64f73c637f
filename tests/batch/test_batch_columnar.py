"""The columnar plan decides exactly as the row engine: Arrow tables of good, bad and borderline
values (texts the decimal format refuses, decimals too long for the plan, out-of-range integers,
impossible dates, nulls, missing columns) give, row for row, what `Engine.evaluate` gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from clausewise import Engine
from clausewise.batch import layout_of
from clausewise.batch.rows import row_reader
from tests.batch.support import expected, got

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ENGINE = Engine.from_directory(HERE / "policies")
PID = "t/columnar"
W1 = "bench/w1-health-thresholds"
BENCH = Engine.from_directory(ROOT / "bench" / "policies")


@st.composite
def _cells(draw: Any, good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> list[Any]:
    """Twelve values: each a good one, but one time in twelve a bad or borderline one, or null
    (the positions chosen by a random generator hypothesis seeds)."""
    goods = draw(st.lists(good, min_size=12, max_size=12))
    bads = draw(st.lists(st.one_of(bad, st.none()), min_size=12, max_size=12))
    rnd = draw(st.randoms(use_true_random=False))
    return [b if rnd.random() < 1 / 12 else g for g, b in zip(goods, bads, strict=True)]


def _cell(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
    return (good, bad)


def _texts(cell: Any) -> st.SearchStrategy[tuple[pa.DataType, list[Any]]]:
    return _cells(*cell).map(lambda v: (pa.string(), v))


def _ints(cell: Any) -> st.SearchStrategy[tuple[pa.DataType, list[Any]]]:
    return _cells(*cell).map(lambda v: (pa.int64(), v))


DECIMAL_EDGES = st.sampled_from(
    ["10.005", "10.0050", "1000.50", "1000.5", "500", "0.125", "0.1249", "0", "00.5",
     ".5", "5.", "1e3", "-1", " 1", "١", "", "1" * 19, "0." + "0" * 18 + "1",
     "9" * 18 + ".5", "1" * 101, "100000", "100000.0001", "0.99999", "1"]
)  # fmt: skip


def _decimals(top: int, places: int) -> st.SearchStrategy[str]:
    return st.decimals(min_value=0, max_value=top, places=places, allow_nan=False).map(
        lambda d: format(d, "f")
    )


def _column(kind: str) -> st.SearchStrategy[tuple[pa.DataType, list[Any]]]:
    if kind == "decimal":
        good = st.one_of(_decimals(2000, 3), _decimals(100_000, 1), DECIMAL_EDGES)
        return st.one_of(
            _texts(_cell(good, DECIMAL_EDGES)),
            _ints(_cell(st.integers(0, 2000), st.integers(-5, 200_000))),
        )
    if kind == "rate":
        good = st.one_of(_decimals(1, 5), DECIMAL_EDGES)
        as_text = _texts(_cell(good, DECIMAL_EDGES))
        # a text-only field: an integer column goes to the row engine
        return st.one_of(*[as_text] * 6, _ints(_cell(st.integers(0, 1), st.integers(-2, 2))))
    if kind == "count":
        return _ints(_cell(st.integers(0, 12), st.integers(-(2**63), 2**63 - 1)))
    if kind == "country":
        countries = st.sampled_from(["US", "CA", "FR", "IT", "DE"])
        return _texts(_cell(countries, st.sampled_from(["us", "XX", ""])))
    if kind == "tag":
        return _texts(_cell(st.one_of(st.text(max_size=3), st.just("x")), st.text(min_size=4)))
    if kind == "vip":
        return _cells(st.booleans(), st.booleans()).map(lambda v: (pa.bool_(), v))
    if kind == "shipped":
        days = st.dates(dt.date(2024, 2, 20), dt.date(2024, 3, 10))
        bad_days = st.sampled_from(
            ["2024-02-30", "0000-01-01", "2024-3-01", "2024-03-01T00:00:00Z", "20240301", ""]
        )
        return st.one_of(
            _texts(_cell(days.map(dt.date.isoformat), bad_days)),
            _cells(days, days).map(lambda v: (pa.date32(), v)),
        )
    assert kind == "note"
    return _texts(_cell(st.text(max_size=3), st.text()))


COLUMNS = {
    "amount": "decimal",
    "ratio": "rate",
    "count": "count",
    "country": "country",
    "tag": "tag",
    "vip": "vip",
    "shipped": "shipped",
    "note": "note",
}


@st.composite
def _tables(draw: Any) -> pa.Table:
    arrays, names = [], []
    for name, kind in COLUMNS.items():
        if not draw(st.sampled_from([True] * 8 + [False] + [True] * 8)):
            continue  # a missing column now and then
        t, values = draw(_column(kind))
        arrays.append(pa.array(values, t))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def _rows_of(engine: Engine, pid: str, table: pa.Table) -> list[Any]:
    read = row_reader(engine.policy(pid).program.input_schema)
    return [read(r) for r in table.to_pylist()]


def test_the_policies_here_are_decided_by_a_plan() -> None:
    assert layout_of(ENGINE, ENGINE.policy(PID)).plan is not None
    assert layout_of(BENCH, BENCH.policy(W1)).plan is not None


@given(table=_tables())
def test_columnar_plan_matches_the_row_engine(table: pa.Table) -> None:
    plan = layout_of(ENGINE, ENGINE.policy(PID)).plan
    decided, _ = plan.run(table.combine_chunks().to_batches()[0]) if table.num_rows else (0, 0)
    if decided is None:
        event("rows decided by the plan: all")
    elif table.num_rows:
        share = "none" if decided.true_count == 0 else "some"
        event(f"rows decided by the plan: {share}")
    want = expected(ENGINE, PID, _rows_of(ENGINE, PID, table))
    assert got(ENGINE, PID, ENGINE.evaluate_batch(PID, table)) == want


@given(
    data=st.data(),
    names=st.permutations(["odr", "cancellation_rate", "late_shipment_rate_10d",
                           "late_shipment_rate_30d"]),
)  # fmt: skip
def test_w1_plan_matches_the_row_engine(data: st.DataObject, names: list[str]) -> None:
    cols = {name: data.draw(_column("decimal")) for name in names}
    table = pa.table({k: pa.array(v, t) for k, (t, v) in cols.items()})
    want = expected(BENCH, W1, _rows_of(BENCH, W1, table))
    assert got(BENCH, W1, BENCH.evaluate_batch(W1, table)) == want


@pytest.mark.parametrize("rows", [1, 70_000])
def test_chunks_keep_the_input_order(rows: int) -> None:
    values = [str(i % 97) + ".0" + str(i % 7) if i % 13 else "x" for i in range(rows)]
    table = pa.table({k: values for k in ("odr", "cancellation_rate", "late_shipment_rate_10d",
                                          "late_shipment_rate_30d")})  # fmt: skip
    out = BENCH.evaluate_batch(W1, table)
    assert out.num_rows == rows
    sample = range(0, rows, max(1, rows // 500))
    inputs = [{k: values[i] for k in table.column_names} for i in sample]
    assert got(BENCH, W1, out.take(list(sample))) == expected(BENCH, W1, inputs)
