"""What Spark and Dask share: the policy version fixed on the driver, and the function a worker
runs on its part of the data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from ..batch import evaluate_batch, layout_of
from .policyset import PolicySet, as_policy_set, engine_for

if TYPE_CHECKING:
    from .. import Engine


@dataclass(frozen=True)
class BatchJob:
    """One policy version to apply on workers: the set's files, the policy and the options.
    Plain data: this, not an engine, is what is sent to the workers."""

    policy_set: PolicySet
    policy_id: str
    version: str
    trace: str
    explain: bool
    keep: tuple[str, ...] = ()

    def run(self, data: pa.Table | pa.RecordBatch) -> pa.Table:
        """Decide `data` in this process (the set is loaded once per process and digest); the
        `keep` columns of `data` come first in the result, as they are."""
        engine = engine_for(self.policy_set)
        out = evaluate_batch(
            engine, self.policy_id, data, self.trace, self.version, explain=self.explain
        )
        for i, name in enumerate(self.keep):
            out = out.add_column(i, data.schema.field(name), [data.column(name)])
        return out


def prepare(
    policies: PolicySet | Engine | str | Path,
    policy_id: str,
    trace: str,
    version: str | None,
    at: dt.datetime | str | None,
    explain: bool,
    keep: tuple[str, ...] = (),
) -> tuple[BatchJob, pa.Schema]:
    """The job and the schema of its results, on the driver: the version is the one in force
    now (or at `at`, or `version`) when the job is prepared, the same on every worker."""
    policy_set = as_policy_set(policies)
    engine = engine_for(policy_set)
    lp = engine.policy(policy_id, version=version, at=at)
    schema = layout_of(engine, lp).schema(trace, explain)
    check_kept(keep, schema)
    return BatchJob(policy_set, policy_id, lp.version, trace, explain, keep), schema


def check_kept(keep: Sequence[str], schema: pa.Schema) -> None:
    """Raise `ValueError` when a kept input column has the name of a result column."""
    clash = set(keep) & set(schema.names)
    if clash:
        raise ValueError(f"kept columns would hide result columns: {', '.join(sorted(clash))}")
