"""Policies over a Dask DataFrame (the `dask` extra).

    from clausewise.dask import evaluate
    results = evaluate(ddf, "policies", "budgets/google-ads-credit-budget")

Each partition is decided with `Engine.evaluate_batch` through `map_partitions`; the result's
`meta` comes from the output schema, its columns are pandas Arrow-backed (`pd.ArrowDtype`) so
amounts stay decimal128 and lists and records stay nested, and each partition keeps its index.
The policy set travels to the workers as its files and digest (never a pickled engine) and is
loaded and compiled once per worker process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .distributed.job import BatchJob, check_kept, prepare
from .distributed.policyset import PolicySet

if TYPE_CHECKING:
    from . import Engine

__all__ = ["evaluate"]


def evaluate(
    ddf: Any,
    policies: PolicySet | Engine | str | Path,
    policy_id: str,
    trace: str = "off",
    version: str | None = None,
    at: dt.datetime | str | None = None,
    explain: bool = False,
    keep: Sequence[str] = (),
) -> Any:
    """A Dask DataFrame of the decisions of every row of `ddf` by `policy_id` (the version in
    force now, `version`, or the one in force at `at`, fixed when this is called). `policies`
    is a folder, an `Engine` (the folder it was loaded from) or a `PolicySet`. The `keep`
    columns of `ddf` (keys, say) come first in the result, as they are."""
    import pandas as pd

    job, schema = prepare(policies, policy_id, trace, version, at, explain)
    check_kept(keep, schema)
    meta = schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    meta = pd.concat([ddf._meta[list(keep)], meta], axis=1)
    return ddf.map_partitions(_decide_partition, job, list(keep), meta=meta, align_dataframes=False)


def _decide_partition(pdf: Any, job: BatchJob, keep: list[str]) -> Any:
    import pandas as pd
    import pyarrow as pa

    table = pa.Table.from_pandas(pdf, preserve_index=False)
    out = job.run(table).to_pandas(types_mapper=pd.ArrowDtype)
    out.index = pdf.index
    return pd.concat([pdf[keep], out], axis=1)
