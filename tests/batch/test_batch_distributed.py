"""`clausewise.spark` and `clausewise.dask` on a real local Spark and a real Dask cluster of two
worker processes: every row equals what the embedding API decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from clausewise import Engine
from clausewise.distributed.policyset import read_policy_set
from tests.batch.support import expected, got
from tests.generators.seller_portfolio_inputs import generate_orders

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
HEALTH = "health/amazon-seller-account-health"

pytestmark = pytest.mark.distributed


def _sellers(n: int) -> list[dict[str, Any]]:
    """`n` sellers of 1 to 12 orders, two of them with a bad input."""
    rows = [generate_orders(1 + (i * 7) % 12, 1000 + i) for i in range(n)]
    rows[5]["as_of"] = "30/06/2024"
    rows[n // 2]["orders"][0]["channel"] = "drone"
    return rows


def test_spark_decides_every_row_as_the_embedding_api(spark: Any) -> None:
    from pyspark.sql.pandas.types import from_arrow_schema

    import clausewise.spark

    rows = _sellers(200)
    table = pa.Table.from_pylist(rows)
    for i, r in enumerate(rows):
        r["seller"] = i  # a key the policy ignores (its schema allows other fields)
    table = pa.Table.from_pylist(rows)
    df = spark.createDataFrame(rows, from_arrow_schema(table.schema)).repartition(3)
    engine = Engine.from_directory(POLICIES)
    result = clausewise.spark.evaluate(df, POLICIES, HEALTH, keep=["seller"])
    assert result.columns == ["seller", *engine.evaluate_batch(HEALTH, []).schema.names]
    by_key = {r["seller"]: r.asDict(recursive=True) for r in result.collect()}
    assert sorted(by_key) == list(range(len(rows)))
    arrow_rows = pa.Table.from_pylist(
        [by_key[i] for i in range(len(rows))],
        schema=engine.evaluate_batch(HEALTH, []).schema.insert(0, pa.field("seller", pa.int64())),
    ).drop_columns(["seller"])
    want = expected(engine, HEALTH, rows)
    assert got(engine, HEALTH, arrow_rows) == want
    assert sum("error" in w for w in want) == 2
    assert set(arrow_rows.column("_revision").to_pylist()) == {read_policy_set(POLICIES).digest}


def test_dask_decides_every_row_as_the_embedding_api(dask_client: Any) -> None:
    import dask.dataframe as dd
    import pandas as pd

    import clausewise.dask

    rows = _sellers(240)
    pdf = pa.Table.from_pylist(rows).to_pandas(types_mapper=pd.ArrowDtype)
    ddf = dd.from_pandas(pdf, npartitions=4)
    engine = Engine.from_directory(POLICIES)
    result = clausewise.dask.evaluate(ddf, POLICIES, HEALTH, keep=["as_of"])
    # meta is the output schema's, before anything is computed
    schema = engine.evaluate_batch(HEALTH, []).schema
    assert list(result.columns) == ["as_of", *schema.names]
    assert result.dtypes["at_risk"] == pd.ArrowDtype(pa.bool_())
    out = result.compute()
    assert list(out.index) == list(pdf.index)
    assert list(out["as_of"]) == [r["as_of"] for r in rows]
    table = pa.Table.from_pandas(out.drop(columns="as_of"), preserve_index=False, schema=schema)
    want = expected(engine, HEALTH, rows)
    assert got(engine, HEALTH, table) == want
    assert sum("error" in w for w in want) == 2
    # the set was loaded once per worker process, from its files, not from a pickled engine
    digest = read_policy_set(POLICIES).digest
    loaded = dask_client.run(_loaded_digests)
    assert len(loaded) == 2
    assert all(d == [digest] for d in loaded.values())


def _loaded_digests() -> list[str]:
    from clausewise.distributed import policyset

    return sorted(policyset._ENGINES)
