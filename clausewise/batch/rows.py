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
from collections.abc import Callable
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


def _plain_type(t: pa.DataType | None) -> bool:
    """Whether Arrow gives values of type `t` as the JSON the row engine reads (as they are)."""
    return t is not None and (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_null(t)
    )


def _cleaner(
    schema: Any, root: dict[str, Any], ptr: str, atype: pa.DataType | None, depth: int = 0
) -> Clean | None:
    """The function from Arrow values of type `atype` (None: not known) to the JSON the row
    engine reads under `schema`; None when the values are that JSON already."""
    if not isinstance(schema, dict) or depth > 32:
        return None if _plain_type(atype) else _scalar
    try:
        s, _nullable = T.split_nullable(schema, root, ptr)
    except T.SchemaError:
        return _scalar
    kind = s.get("type")
    if kind == "array":
        elem = atype.value_type if atype is not None and pa.types.is_list(atype) else None
        item = _cleaner(s.get("items", True), root, ptr + "/items", elem, depth + 1)
        if item is None and elem is not None:
            return None
        each = item or _scalar
        return lambda v: [each(x) for x in v] if v.__class__ is list else _scalar(v)
    if kind == "object":
        props = s.get("properties") or {}
        required = set(s.get("required", ()))
        children = {}
        if atype is not None and pa.types.is_struct(atype):
            children = {atype.field(i).name: atype.field(i).type for i in range(atype.num_fields)}
        subs = {
            k: _cleaner(p, root, f"{ptr}/properties/{k}", children.get(k), depth + 1)
            for k, p in props.items()
        }
        extra = s.get("additionalProperties", True)
        other = _cleaner(extra, root, ptr + "/additionalProperties", None, depth + 1) or _scalar
        if (
            children
            and all(k in required for k in children)
            and all(subs[k] is None for k in children)
        ):
            return None  # every field required and read as it is: the dict is the JSON
        conv = {k: c or _ident for k, c in subs.items()}

        def obj(v: Any) -> Any:
            if v.__class__ is list and all(x.__class__ is tuple and len(x) == 2 for x in v):
                return {k: other(x) for k, x in v}  # an Arrow map
            if v.__class__ is not dict:
                return _scalar(v)
            return {
                k: conv.get(k, other)(x) for k, x in v.items() if x is not None or k in required
            }

        return obj
    if _plain_type(atype):
        return None
    return lambda v: None if v is None else _scalar(v)


def _ident(v: Any) -> Any:
    return v


def row_reader(input_schema: dict[str, Any] | None, arrow_schema: pa.Schema | None = None) -> Clean:
    """The function from one Arrow row (as `to_pylist` gives it) to the row engine's input;
    knowing the rows' `arrow_schema`, values Arrow already gives as JSON are not looked at."""
    if not input_schema:
        return _scalar
    row_type = pa.struct(list(arrow_schema)) if arrow_schema is not None else None
    return _cleaner(input_schema, input_schema, "", row_type) or _ident
