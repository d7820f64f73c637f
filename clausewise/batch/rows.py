"""Arrow rows as the JSON values the row engine reads.

Arrow has no "absent": a null cell stands for an absent field where the field may be absent (a
property the schema does not require), and for JSON null where it is required (so a required
field that is null is `null_not_allowed`, or null where the schema allows it). Arrow values are
written as the JSON the input schema asks for: decimal128 as plain decimal text, date32 as
`YYYY-MM-DD`, a timestamp with a zone as RFC 3339 (a timestamp without a zone is read as UTC), a
map as an object. Any other value (a float, bytes) reaches the row engine as it is and is refused
there with the error a JSON document would get.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa

from ..dsl import types as T

Clean = Callable[[Any], Any]


def _scalar(v: Any) -> Any:
    cls = v.__class__
    if cls is Decimal:
        return format(v, "f")
    if cls is dt.datetime:
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)
        return v.isoformat().replace("+00:00", "Z")
    if cls is dt.date:
        return v.isoformat()
    if cls is list:
        return [_scalar(x) for x in v]
    if cls is dict:
        return {k: _scalar(x) for k, x in v.items()}
    return v


def _cleaner(schema: Any, root: dict[str, Any], ptr: str, depth: int = 0) -> Clean:
    if not isinstance(schema, dict) or depth > 32:
        return _scalar
    try:
        s, _nullable = T.split_nullable(schema, root, ptr)
    except T.SchemaError:
        return _scalar
    kind = s.get("type")
    if kind == "array":
        item = _cleaner(s.get("items", True), root, ptr + "/items", depth + 1)
        return lambda v: [item(x) for x in v] if v.__class__ is list else _scalar(v)
    if kind == "object":
        props = s.get("properties") or {}
        required = set(s.get("required", ()))
        subs = {k: _cleaner(p, root, f"{ptr}/properties/{k}", depth + 1) for k, p in props.items()}
        extra = s.get("additionalProperties", True)
        other = _cleaner(extra, root, ptr + "/additionalProperties", depth + 1)

        def obj(v: Any) -> Any:
            if v.__class__ is list and all(x.__class__ is tuple and len(x) == 2 for x in v):
                return {k: other(x) for k, x in v}  # an Arrow map
            if v.__class__ is not dict:
                return _scalar(v)
            return {
                k: subs.get(k, other)(x) for k, x in v.items() if x is not None or k in required
            }

        return obj
    return lambda v: None if v is None else _scalar(v)


def row_reader(input_schema: dict[str, Any] | None) -> Clean:
    """The function from one Arrow row (as `to_pylist` gives it) to the row engine's input."""
    if not input_schema:
        return _scalar
    return _cleaner(input_schema, input_schema, "")


def arrow_rows(
    data: pa.Table | pa.RecordBatch, input_schema: dict[str, Any] | None
) -> Iterator[Any]:
    """The rows of `data` as the row engine's inputs, batch by batch."""
    read = row_reader(input_schema)
    batches = data.to_batches() if isinstance(data, pa.Table) else [data]
    for batch in batches:
        for row in batch.to_pylist():
            yield read(row)
