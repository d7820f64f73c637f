"""Batch evaluation: many decisions in one call, Arrow in and Arrow out.

`evaluate_batch(engine, policy_id, data)` (also `Engine.evaluate_batch`) decides every row of a
pyarrow Table or RecordBatch (or every dict of an iterable) with one version of a policy and
returns a pyarrow Table: the output's fields as typed columns (see `arrowtypes`), then `_version`,
`_revision`, `_error_code`, `_error_path` and `_error_message`; with a trace, `_trace` (the trace
as JSON text); with `explain`, `_explanation` (the decision explained at the `rules` level).

A row is either decided (its output columns set, its error columns null) or refused (its output
columns null, its error columns set): a bad row never stops the batch and never yields a partial
output. With `trace="off"`, the parts of a policy the columnar compiler supports are decided over
whole columns with Arrow compute (`columnar`); every other row, and every row the columnar
plan cannot decide exactly, goes through the row engine, so the result is the row engine's.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from ..dsl.runtime import DecisionError, EvaluationBudget
from ..engine.revision import read_set
from .arrowtypes import Column, OutOfRange, column_of, output_columns
from .files import BadRow
from .rows import row_reader

if TYPE_CHECKING:
    from ..engine.store import LoadedPolicy, PolicyStore


class Engine(Protocol):
    """What a batch needs of `clausewise.Engine` (which calls it from `Engine.evaluate_batch`)."""

    store: PolicyStore
    budget: EvaluationBudget | None

    def policy(
        self, policy_id: str, version: str | None = None, at: dt.datetime | str | None = None
    ) -> LoadedPolicy: ...

    def evaluate(
        self,
        policy_id: str,
        input: Any,
        trace: str = "off",
        version: str | None = None,
        at: dt.datetime | str | None = None,
        budget: EvaluationBudget | None = None,
    ) -> Any: ...


__all__ = ["META_COLUMNS", "BatchLayout", "evaluate_batch", "layout_of", "result_rows"]

TRACE_LEVELS = ("off", "rules", "full")
META_COLUMNS = ("_version", "_revision", "_error_code", "_error_path", "_error_message")
OUTPUT_COLUMN = "output"  # the one column of an output that is not an object with properties
CHUNK_ROWS = 65536
# rows the row engine decides between two Arrow conversions: their Python values (inputs and
# outputs) stay few enough to sit in the CPU's caches
ROW_CHUNK_ROWS = 2048

Progress = Callable[[int], None]


@dataclass
class BatchLayout:
    """What the batch path derives once per policy version: output columns, the row reader and
    the columnar plan (None when nothing of the policy is columnar)."""

    policy: LoadedPolicy
    columns: dict[str, Column]
    single: bool  # the output is one JSON column, not one column per field
    plan: Any

    def rows(self, batch: pa.RecordBatch) -> Iterator[Any]:
        """The rows of an Arrow batch as the row engine's inputs (see `rows`), converted when
        first asked for."""
        read = row_reader(self.policy.program.input_schema, batch.schema)
        for r in batch.to_pylist():
            yield read(r)

    def schema(self, trace: str, explain: bool) -> pa.Schema:
        fields = [pa.field(k, c.type) for k, c in self.columns.items()]
        fields += [pa.field(k, pa.string()) for k in META_COLUMNS]
        if trace != "off":
            fields.append(pa.field("_trace", pa.string()))
        if explain:
            fields.append(pa.field("_explanation", pa.string()))
        return pa.schema(fields)


def layout_of(engine: Engine, lp: LoadedPolicy) -> BatchLayout:
    """The layout of one policy version (kept on the engine)."""
    cache: dict[tuple[str, str], BatchLayout] = engine.__dict__.setdefault("_batch_layouts", {})
    key = (lp.id, lp.version)
    got = cache.get(key)
    if got is not None and got.policy is lp:
        return got
    program = lp.program
    cols = output_columns(program.output_schema)
    single = cols is None
    if cols is None:
        cols = {OUTPUT_COLUMN: column_of(True, {})}
    from .columnar import compile_plan

    layout = BatchLayout(lp, cols, single, compile_plan(program))
    cache[key] = layout
    return layout


def revision_of_engine(engine: Engine) -> str:
    """The digest of the policy set the engine was loaded from (every file, names and bytes)."""
    rev = engine.__dict__.get("_batch_revision")
    if rev is None:
        rev = engine.__dict__["_batch_revision"] = read_set(engine.store.root)[0]
    return str(rev)


def evaluate_batch(
    engine: Engine,
    policy_id: str,
    data: Any,
    trace: str = "off",
    version: str | None = None,
    at: dt.datetime | str | None = None,
    budget: EvaluationBudget | None = None,
    explain: bool = False,
    progress: Progress | None = None,
    threads: int | None = None,
) -> pa.Table:
    """Decide every row of `data` (a pyarrow Table or RecordBatch, or an iterable of dicts) with
    one version of `policy_id`: the one in force now, `version`, or the one in force at `at`.

    Raises `UnknownPolicyError` when there is no such policy or version and `ValueError` for an
    unknown trace level; never for a row: each bad row gets its error in the error columns.
    `progress`, when given, is called with the number of rows done after each chunk;
    `threads` bounds the threads a columnar plan runs on (default: one per CPU)."""
    if trace not in TRACE_LEVELS:
        raise ValueError(f"trace must be one of {', '.join(TRACE_LEVELS)}, not {trace!r}")
    lp = engine.policy(policy_id, version=version, at=at)
    layout = layout_of(engine, lp)
    if budget is None:
        budget = engine.budget
    revision = revision_of_engine(engine)
    schema = layout.schema(trace, explain)
    batches = []
    columnar = layout.plan is not None and trace == "off" and not explain and budget is None
    if columnar and isinstance(data, pa.Table | pa.RecordBatch):
        # Arrow compute releases the GIL: chunks are decided on several threads, in order
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        chunks = table.to_batches(max_chunksize=CHUNK_ROWS)
        workers = max(1, min(len(chunks), threads or os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for batch in pool.map(
                lambda c: _columnar(engine, layout, c, revision, schema, budget), chunks
            ):
                batches.append(batch)
                if progress is not None:
                    progress(batch.num_rows)
        return pa.Table.from_batches(batches, schema=schema)
    for _chunk, rows in _chunks(data, layout, ROW_CHUNK_ROWS):
        batch = _decide_rows(engine, layout, rows(), trace, explain, budget, revision, schema)
        batches.append(batch)
        if progress is not None:
            progress(batch.num_rows)
    return pa.Table.from_batches(batches, schema=schema)


def _chunks(
    data: Any, layout: BatchLayout, size: int = CHUNK_ROWS
) -> Iterator[tuple[pa.RecordBatch | None, Callable[[], Iterable[Any]]]]:
    """The input in chunks of at most `size` rows: (the Arrow chunk or None, a function giving
    its rows as inputs)."""
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        for batch in data.to_batches(max_chunksize=size):
            yield batch, _reader(batch, layout)
        return
    if isinstance(data, dict | str | bytes):
        raise TypeError("data must be a pyarrow Table or RecordBatch, or an iterable of dicts")
    chunk: list[Any] = []
    for row in data:
        chunk.append(row)
        if len(chunk) == size:
            yield None, _given(chunk)
            chunk = []
    if chunk:
        yield None, _given(chunk)


def _reader(batch: pa.RecordBatch, layout: BatchLayout) -> Callable[[], Iterable[Any]]:
    return lambda: layout.rows(batch)


def _given(rows: list[Any]) -> Callable[[], Iterable[Any]]:
    return lambda: rows


def _decide_rows(
    engine: Engine,
    layout: BatchLayout,
    rows: Iterable[Any],
    trace: str,
    explain: bool,
    budget: EvaluationBudget | None,
    revision: str,
    schema: pa.Schema,
) -> pa.RecordBatch:
    """Decide rows one by one with the row engine.

    The cyclic garbage collector is paused meanwhile: deciding allocates many objects that
    live until the chunk's columns are built, none of them in a cycle the chunk must free, and
    each collection would walk them all again."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _decide_rows_now(engine, layout, rows, trace, explain, budget, revision, schema)
    finally:
        if collecting:
            gc.enable()


def _decide_rows_now(
    engine: Engine,
    layout: BatchLayout,
    rows: Iterable[Any],
    trace: str,
    explain: bool,
    budget: EvaluationBudget | None,
    revision: str,
    schema: pa.Schema,
) -> pa.RecordBatch:
    lp = layout.policy
    if trace == "off" and not explain and budget is None:
        return _decide_rows_off(layout, rows, revision, schema)
    run = lp.compiled.run
    level = "rules" if explain and trace == "off" else trace
    cols = list(layout.columns.values())
    values: list[list[Any]] = [[] for _ in cols]
    codes: list[str | None] = []
    paths: list[str | None] = []
    messages: list[str | None] = []
    traces: list[str | None] = []
    explanations: list[str | None] = []
    for inp in rows:
        decision = None
        try:
            if inp.__class__ is BadRow:
                raise inp.error
            if level == "off":
                out = run(inp, "off", budget)[0]
            else:
                decision = engine.evaluate(
                    lp.id, inp, trace=level, version=lp.version, budget=budget
                )
                out = decision.output
            # values Arrow casts from their JSON are converted column by column afterwards
            if layout.single:
                row = [out if cols[0].text is not None else cols[0].to_arrow(out)]
            else:
                row = [
                    out[k] if c.text is not None else c.to_arrow(out[k])
                    for k, c in layout.columns.items()
                ]
        except DecisionError as e:
            error: tuple[str | None, str | None, str | None] = _error_of(e)
            row = [None] * len(cols)
            decision = None
        except OutOfRange as e:
            error = ("output_out_of_range", "", str(e))
            row = [None] * len(cols)
            decision = None
        else:
            error = (None, None, None)
        for vs, v in zip(values, row, strict=True):
            vs.append(v)
        codes.append(error[0])
        paths.append(error[1])
        messages.append(error[2])
        if trace != "off":
            traces.append(
                None if decision is None else json.dumps(decision.trace, ensure_ascii=False)
            )
        if explain:
            explanations.append(None if decision is None else decision.explain())
    return _assemble(
        layout,
        values,
        codes,
        paths,
        messages,
        traces if trace != "off" else None,
        explanations if explain else None,
        revision,
        schema,
    )


def _assemble(
    layout: BatchLayout,
    values: list[list[Any]],
    codes: list[str | None],
    paths: list[str | None],
    messages: list[str | None],
    traces: list[str | None] | None,
    explanations: list[str | None] | None,
    revision: str,
    schema: pa.Schema,
) -> pa.RecordBatch:
    """The record batch of decided rows: the output columns, the version and revision, each
    row's error, and the trace and explanation columns when asked for."""
    cols = list(layout.columns.values())
    n = len(codes)
    bad: dict[int, str] = {}
    arrays = [_column(vs, c, bad) for vs, c in zip(values, cols, strict=True)]
    if bad:
        # a value its Arrow type cannot hold: its row becomes an error, with no output at all
        for i, message in bad.items():
            for vs in values:
                vs[i] = None
            codes[i], paths[i], messages[i] = "output_out_of_range", "", message
            if traces is not None:
                traces[i] = None
            if explanations is not None:
                explanations[i] = None
        arrays = [_column(vs, c, {}) for vs, c in zip(values, cols, strict=True)]
    arrays += _meta(layout.policy.version, revision, n)
    arrays += [pa.array(codes, pa.string()), pa.array(paths, pa.string())]
    arrays.append(pa.array(messages, pa.string()))
    if traces is not None:
        arrays.append(pa.array(traces, pa.string()))
    if explanations is not None:
        arrays.append(pa.array(explanations, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _decide_rows_off(
    layout: BatchLayout, rows: Iterable[Any], revision: str, schema: pa.Schema
) -> pa.RecordBatch:
    """`_decide_rows_now` untraced, without an explanation or a budget: the loop only decides
    each row (`CompiledPolicy.run_off`), and the columns are built from the outputs afterwards."""
    run_off = layout.policy.compiled.run_off
    outs: list[Any] = []
    errors: dict[int, tuple[str, str, str]] = {}
    keep = outs.append
    for inp in rows:
        try:
            if inp.__class__ is BadRow:
                raise inp.error
            out = run_off(inp)
        except DecisionError as e:
            errors[len(outs)] = _error_of(e)
            out = None
        keep(out)
    values: list[list[Any]] = []
    unfit: list[int] = []  # rows with an output value its column cannot hold
    for k, c in layout.columns.items():
        got = outs if layout.single else [None if o is None else o[k] for o in outs]
        if c.text is None:  # values Arrow cannot cast from their JSON: one by one
            column: list[Any] = []
            for i, (o, v) in enumerate(zip(outs, got, strict=True)):
                try:
                    column.append(None if o is None else c.to_arrow(v))
                except OutOfRange as e:
                    column.append(None)
                    errors[i] = ("output_out_of_range", "", str(e))
                    unfit.append(i)
            got = column
        values.append(got)
    for i in unfit:
        for vs in values:
            vs[i] = None
    n = len(outs)
    codes: list[str | None] = [None] * n
    paths: list[str | None] = [None] * n
    messages: list[str | None] = [None] * n
    for i, (code, path, message) in errors.items():
        codes[i], paths[i], messages[i] = code, path, message
    return _assemble(layout, values, codes, paths, messages, None, None, revision, schema)


def _error_of(e: DecisionError) -> tuple[str, str, str]:
    """A row's error columns: its code, its input path, its message with its place."""
    where = getattr(e, "location", "")
    message = str(getattr(e, "message", e)) + (f" ({where})" if where else "")
    return e.code, getattr(e, "path", ""), message


def _column(values: list[Any], c: Column, bad: dict[int, str]) -> pa.Array:
    """One output column. A column Arrow casts from the JSON's text is cast whole; when the cast
    fails (a value too large, or a null record whose fields Arrow casts all the same), its values
    are converted one by one, and those that do not fit are added to `bad` by row."""
    if c.text is None:
        return pa.array(values, type=c.type)
    try:
        return pa.array(values, type=c.text).cast(c.type)
    except (pa.ArrowException, OverflowError, ValueError):
        pass
    converted = []
    for i, v in enumerate(values):
        try:
            converted.append(None if v is None else c.to_arrow(v))
        except (OutOfRange, OverflowError, ValueError) as e:
            bad[i] = str(e)
            converted.append(None)
    return pa.array(converted, type=c.type)


def _meta(version: str, revision: str, n: int) -> list[pa.Array]:
    return [pa.repeat(pa.scalar(version), n), pa.repeat(pa.scalar(revision), n)]


def _columnar(
    engine: Engine,
    layout: BatchLayout,
    batch: pa.RecordBatch,
    revision: str,
    schema: pa.Schema,
    budget: EvaluationBudget | None,
) -> pa.RecordBatch:
    """Decide a chunk with the columnar plan; the rows it leaves go through the row engine, and
    the two parts are put back in the input's order."""
    import pyarrow.compute as pc

    decided, outputs = layout.plan.run(batch)
    n = batch.num_rows
    if not outputs:  # the plan reads none of this chunk: the row engine decides every row
        rows = layout.rows(batch)
        return _decide_rows(engine, layout, rows, "off", False, budget, revision, schema)
    nerr = len(schema) - len(layout.columns) - 2
    if decided is None:  # every row
        arrays = list(outputs) + _meta(layout.policy.version, revision, n)
        arrays += [pa.nulls(n, pa.string())] * nerr
        return pa.RecordBatch.from_arrays(arrays, schema=schema)
    rest = pc.invert(decided)
    fast_idx = pc.indices_nonzero(decided)
    slow_idx = pc.indices_nonzero(rest)
    nfast = len(fast_idx)
    fast_cols = [pc.take(a, fast_idx) for a in outputs]
    fast_cols += _meta(layout.policy.version, revision, nfast)
    fast_cols += [pa.nulls(nfast, pa.string())] * nerr
    fast = pa.RecordBatch.from_arrays(fast_cols, schema=schema)
    slow_rows = batch.filter(rest)
    slow = _decide_rows(
        engine,
        layout,
        layout.rows(slow_rows),
        "off",
        False,
        budget,
        revision,
        schema,
    )
    both = pa.Table.from_batches([fast, slow])
    order = pc.sort_indices(pa.concat_arrays([fast_idx, slow_idx]))
    return both.take(order).combine_chunks().to_batches()[0] if n else fast


def result_rows(table: pa.Table, layout_policy_output_schema: dict[str, Any] | None) -> list[Any]:
    """The rows of a result table as JSON: `{"output": ...}` for a decided row (the output as the
    row engine writes it), `{"error": {"code", "path", "message"}}` for a refused one; with
    `_trace` / `_explanation`, those too."""
    cols = output_columns(layout_policy_output_schema)
    single = cols is None
    if cols is None:
        cols = {OUTPUT_COLUMN: column_of(True, {})}
    names = table.column_names
    out = []
    for r in table.to_pylist():
        if r["_error_code"] is not None:
            item: dict[str, Any] = {
                "error": {
                    "code": r["_error_code"],
                    "path": r["_error_path"],
                    "message": r["_error_message"],
                }
            }
        elif single:
            item = {"output": cols[OUTPUT_COLUMN].back(r[OUTPUT_COLUMN])}
        else:
            item = {"output": {k: c.back(r[k]) for k, c in cols.items()}}
        item["version"] = r["_version"]
        if "_trace" in names and r["_trace"] is not None:
            item["trace"] = json.loads(r["_trace"])
        if "_explanation" in names and r["_explanation"] is not None:
            item["explanation"] = r["_explanation"]
        out.append(item)
    return out
