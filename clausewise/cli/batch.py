"""`clausewise eval POLICY_ID --batch IN --out OUT`: a file of inputs decided into a file of
results, with a progress bar on a terminal and a summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import click

from ..batch import evaluate_batch, layout_of
from ..batch.files import BatchFileError, format_of, read_batch, write_batch

if TYPE_CHECKING:
    import datetime as dt

    from .. import Engine, EvaluationBudget

EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_EVALUATION = 0, 2, 3, 4


def run_batch(
    engine: Engine,
    policy_id: str,
    in_path: str,
    out_path: str,
    trace: str,
    explain: bool,
    version: str | None,
    at: dt.datetime | None,
    budget: EvaluationBudget | None,
) -> int:
    """Decide the rows of `in_path` into `out_path`; print the summary. The exit status: 0 when
    every row was decided, 3 when a row's input was refused, 4 when the policy failed on a row
    (the output file is written in every case); 2 when a file cannot be read or written."""
    try:
        format_of(out_path)
        lp = engine.policy(policy_id, version=version, at=at)
        data = read_batch(in_path, lp.program.input_schema)
    except BatchFileError as e:
        click.echo(f"error: {e}", err=True)
        return EXIT_USAGE
    total = data.num_rows if hasattr(data, "num_rows") else len(data)
    start = time.perf_counter()
    bar = _progress_bar(total)
    try:
        table = evaluate_batch(
            engine,
            policy_id,
            data,
            trace=trace,
            version=lp.version,
            budget=budget,
            explain=explain,
            progress=bar.update if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    try:
        write_batch(table, out_path, layout_of(engine, lp).columns)
    except BatchFileError as e:
        click.echo(f"error: {e}", err=True)
        return EXIT_USAGE
    codes = Counter(c for c in table.column("_error_code").to_pylist() if c is not None)
    errors = sum(codes.values())
    click.echo(f"{policy_id} {lp.version}: {in_path} -> {out_path}")
    click.echo(f"rows: {table.num_rows}")
    click.echo(f"decisions: {table.num_rows - errors}")
    click.echo(f"errors: {errors}")
    for code, n in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])):
        click.echo(f"  {code}: {n}")
    rate = table.num_rows / elapsed if elapsed > 0 else 0.0
    click.echo(f"time: {elapsed:.3f} s ({rate:,.0f} rows/s)")
    if not errors:
        return EXIT_OK
    from ..dsl.runtime import EVALUATION_ERRORS

    return EXIT_EVALUATION if any(c in EVALUATION_ERRORS for c in codes) else EXIT_INPUT


def _progress_bar(total: int) -> Any:
    """A tqdm bar on standard error when it is a terminal; None otherwise."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="rows", unit_scale=True, file=sys.stderr, leave=False)
