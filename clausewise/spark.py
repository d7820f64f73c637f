"""Policies over a Spark DataFrame (the `spark` extra).

    from clausewise.spark import evaluate
    results = evaluate(df, "policies", "health/amazon-seller-account-health")

Each partition is decided with `Engine.evaluate_batch` through `DataFrame.mapInArrow`. The policy
set travels to the executors as its files and digest (never a pickled engine) and is loaded and
compiled once per executor process. The result has the columns `evaluate_batch` gives, typed
from the output schema (see docs/batch.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .distributed.job import BatchJob, prepare
from .distributed.policyset import PolicySet

if TYPE_CHECKING:
    import pyarrow as pa

    from . import Engine

__all__ = ["evaluate"]


def evaluate(
    df: Any,
    policies: PolicySet | Engine | str | Path,
    policy_id: str,
    trace: str = "off",
    version: str | None = None,
    at: dt.datetime | str | None = None,
    explain: bool = False,
    keep: Sequence[str] = (),
) -> Any:
    """A Spark DataFrame of the decisions of every row of `df` by `policy_id` (the version in
    force now, `version`, or the one in force at `at`, fixed when this is called). `policies`
    is a folder, an `Engine` (the folder it was loaded from) or a `PolicySet`. The `keep`
    columns of `df` (keys, say) come first in the result, as they are."""
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StructType

    job, schema = prepare(policies, policy_id, trace, version, at, explain, tuple(keep))
    fields = [df.schema[name] for name in keep] + list(from_arrow_schema(schema).fields)
    return df.mapInArrow(_partition(job), StructType(fields))


def _partition(job: BatchJob) -> Any:
    def decide(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from job.run(batch).to_batches()

    return decide
