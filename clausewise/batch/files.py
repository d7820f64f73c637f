"""Batch files by extension: Parquet (`.parquet`, `.pq`), Arrow IPC (`.arrow`, `.feather`,
`.ipc`), CSV (`.csv`) and JSON Lines (`.jsonl`, `.ndjson`).

- CSV has no types: each column the input schema gives a top-level property is read as that
  property's JSON type (integer, boolean, or text for strings, decimals, dates and instants), and
  an empty cell is an absent field. Output fields that are lists or records are written as JSON
  text in their cell.
- JSON Lines is read line by line as the single-decision command reads its input (the same
  limits, big integers kept exact); a line that is not JSON is that row's `invalid_json` error,
  and a blank line is skipped. Each output line holds the row's columns as JSON, values written
  as the row engine writes them.
"""

from __future__ import annotations

import csv as _csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..dsl.runtime import InputError
from ..engine.jsoninput import loads_input
from .arrowtypes import Column

READ_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


class BatchFileError(Exception):
    """A batch file that cannot be read or written: what and where."""


class BadRow:
    """A row that could not be read from its file: deciding it gives its error."""

    __slots__ = ("error",)

    def __init__(self, error: InputError):
        self.error = error


def format_of(path: str | Path) -> str:
    """The format a file's extension names; `BatchFileError` for any other."""
    ext = Path(path).suffix.lower()
    try:
        return READ_FORMATS[ext]
    except KeyError:
        known = ", ".join(sorted(READ_FORMATS))
        raise BatchFileError(
            f"{path}: unknown extension {ext or '(none)'!r}: use one of {known}"
        ) from None


def read_batch(path: str | Path, input_schema: dict[str, Any] | None) -> Any:
    """A pyarrow Table (Parquet, Arrow, CSV) or a list of rows (JSON Lines) from `path`."""
    fmt = format_of(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if fmt == "arrow":
            import pyarrow.feather as feather

            return feather.read_table(path)
        if fmt == "csv":
            return _read_csv(path, input_schema)
        return list(_read_jsonl(path))
    except OSError as e:
        raise BatchFileError(f"{path}: cannot be read: {e.strerror or e}") from None
    except (pa.ArrowException, ValueError) as e:
        raise BatchFileError(f"{path}: not a readable {fmt} file: {e}") from None


def _csv_type(schema: Any) -> pa.DataType:
    if not isinstance(schema, dict):
        return pa.string()
    t = schema.get("type")
    if isinstance(t, list):
        t = [x for x in t if x != "null"]
        t = t[0] if len(t) == 1 else None
    if t == "integer" and "format" not in schema:
        return pa.int64()
    if t == "boolean":
        return pa.bool_()
    return pa.string()


def _read_csv(path: str | Path, input_schema: dict[str, Any] | None) -> pa.Table:
    import pyarrow.csv as csv

    from ..dsl import types as T

    types: dict[str, pa.DataType] = {}
    if isinstance(input_schema, dict):
        s, _ = T.split_nullable(input_schema, input_schema, "")
        for k, sub in (s.get("properties") or {}).items():
            if isinstance(sub, dict):
                sub, _n = T.split_nullable(sub, input_schema, f"/properties/{k}")
            types[k] = _csv_type(sub)
    # a column the schema does not name is read as text, never guessed as a float
    with open(path, encoding="utf-8", newline="") as fh:
        header = next(_csv.reader(fh), [])
    for name in header:
        types.setdefault(name, pa.string())
    options = csv.ConvertOptions(
        column_types=types,
        strings_can_be_null=True,
        null_values=[""],
        true_values=["true"],
        false_values=["false"],
    )
    return csv.read_csv(path, convert_options=options)


def _read_jsonl(path: str | Path) -> Iterator[Any]:
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield loads_input(line)
            except InputError as e:
                yield BadRow(InputError(e.code, e.path, f"line {n}: {e.message}"))


def _json_value(v: Any) -> Any:
    return json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v


def write_batch(table: pa.Table, path: str | Path, columns: dict[str, Column]) -> None:
    """Write a result table to `path` in the format its extension names. `columns` are the
    output columns (how their values are written as JSON)."""
    fmt = format_of(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        elif fmt == "arrow":
            import pyarrow.feather as feather

            feather.write_feather(table, path)
        elif fmt == "csv":
            import pyarrow.csv as csv

            flat = []
            for name in table.column_names:
                col = table.column(name)
                if pa.types.is_nested(col.type):
                    back = columns[name].back
                    col = pa.array(
                        [None if v is None else _json_value(back(v)) for v in col.to_pylist()],
                        pa.string(),
                    )
                flat.append(col)
            csv.write_csv(pa.Table.from_arrays(flat, names=table.column_names), path)
        else:
            with open(path, "w", encoding="utf-8") as fh:
                for row in table.to_pylist():
                    line = {
                        k: (columns[k].back(v) if k in columns and v is not None else v)
                        for k, v in row.items()
                    }
                    fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    except OSError as e:
        raise BatchFileError(f"{path}: cannot be written: {e.strerror or e}") from None
