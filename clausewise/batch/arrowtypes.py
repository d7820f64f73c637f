"""The Arrow types of a policy's output, read from its output schema, and the conversions between
the row engine's JSON output and Arrow values (both ways).

Exact by construction: every Arrow value is made from the JSON the row engine writes, and reads
back to the same JSON.

- money: `struct<amount: decimal128(38, 2), currency: string>` (amounts are written in cents);
- a rate (`format: rate`, written at four places): `decimal128(38, 4)`;
- a decimal (`format: decimal`): a string in plain notation, as the JSON has it: its scale is not
  bounded, so no decimal128 holds every value;
- date: `date32`; date-time: `timestamp[us, tz=UTC]`; integer: `int64`; boolean: `bool`;
  string, enum, time zone: `string`;
- array: `list<item>`; object with properties: `struct` (every property); object with only
  `additionalProperties`: `map<string, value>`;
- anything the schema does not type (`{}`, alternatives): a string holding the value's JSON.

A value that does not fit its Arrow type (an integer past 64 bits, an amount past 36 digits) makes
its row an `output_out_of_range` error: no row is ever written in part.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa

from ..dsl import types as T

Convert = Callable[[Any], Any]

MONEY_TYPE = pa.struct([("amount", pa.decimal128(38, 2)), ("currency", pa.string())])
RATE_TYPE = pa.decimal128(38, 4)
DATETIME_TYPE = pa.timestamp("us", tz="UTC")
# decimal128(38, s) holds 38 - s digits before the point
_MAX_ADJUSTED = {2: 35, 4: 33}
_INT64 = (-(2**63), 2**63 - 1)


class OutOfRange(ValueError):
    """An output value that its Arrow type cannot hold."""


def _json_text(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=False, separators=(",", ":"))


def _from_json_text(v: Any) -> Any:
    return json.loads(v)


def _exact_decimal(scale: int) -> Convert:
    limit = _MAX_ADJUSTED[scale]

    def conv(v: str) -> Decimal:
        d = Decimal(v)
        if d and d.adjusted() > limit:
            raise OutOfRange(f"{v} has more digits than decimal128(38, {scale}) holds")
        return d

    return conv


def _int64(v: int) -> int:
    if not _INT64[0] <= v <= _INT64[1]:
        raise OutOfRange(f"{v} does not fit a 64-bit integer")
    return v


def _datetime(v: str) -> dt.datetime:
    return dt.datetime.fromisoformat(v)


def _fmt_datetime(v: dt.datetime) -> str:
    return v.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"


def _ident(v: Any) -> Any:
    return v


class Column:
    """How one schema's values become Arrow values and back. `text` is the Arrow type of the
    row engine's JSON for these values (decimals, dates and instants as text), from which Arrow
    casts to `type` exactly; None when the JSON must be converted value by value."""

    __slots__ = ("back", "text", "to_arrow", "type")

    def __init__(self, type_: pa.DataType, to_arrow: Convert, back: Convert, text: Any = "scalar"):
        self.type = type_
        self.to_arrow = to_arrow
        self.back = back
        if text == "scalar":  # a scalar column: decimals, dates and instants are read from text
            scalar_text = (
                pa.types.is_decimal(type_)
                or pa.types.is_date(type_)
                or pa.types.is_timestamp(type_)
            )
            text = pa.string() if scalar_text else type_
        self.text = text


def _nullable(c: Column) -> Column:
    if c.to_arrow is _ident and c.back is _ident:
        return c
    to, back = c.to_arrow, c.back
    return Column(
        c.type,
        lambda v: None if v is None else to(v),
        lambda v: None if v is None else back(v),
        c.text,
    )


_UNTYPED = Column(pa.string(), _json_text, _from_json_text, None)


def column_of(schema: Any, root: dict[str, Any], ptr: str = "") -> Column:
    """The Arrow column for the values `schema` describes (see the module's table)."""
    if schema is True or schema == {} or not isinstance(schema, dict):
        return _UNTYPED
    s, nullable = T.split_nullable(schema, root, ptr)
    try:
        t = T.strip(T.schema_type(schema, root, ptr, absent_is_null=False))
    except T.SchemaError:
        return _UNTYPED
    c = _nonnull(s, t, root, ptr)
    return _nullable(c) if nullable else c


def _nonnull(s: dict[str, Any], t: T.Type, root: dict[str, Any], ptr: str) -> Column:
    fmt = s.get("format")
    if t == T.MONEY:
        amount = _exact_decimal(2)
        return Column(
            MONEY_TYPE,
            lambda v: {"amount": amount(v["amount"]), "currency": v["currency"]},
            lambda v: {"amount": f"{v['amount']:.2f}", "currency": v["currency"]},
            pa.struct([("amount", pa.string()), ("currency", pa.string())]),
        )
    if fmt == "rate":
        return Column(RATE_TYPE, _exact_decimal(4), lambda v: f"{v:.4f}")
    if t == T.DECIMAL:
        return Column(pa.string(), _ident, _ident)
    if t == T.DATE:
        return Column(pa.date32(), dt.date.fromisoformat, dt.date.isoformat)
    if t == T.DATETIME:
        return Column(DATETIME_TYPE, _datetime, _fmt_datetime)
    if t == T.INT:
        return Column(pa.int64(), _int64, _ident)
    if t == T.BOOL:
        return Column(pa.bool_(), _ident, _ident)
    if t in (T.STRING, T.ZONE) or isinstance(t, T.EnumT):
        return Column(pa.string(), _ident, _ident)
    if isinstance(t, T.ListT):
        item = column_of(s.get("items", True), root, ptr + "/items")
        text = None if item.text is None else pa.list_(item.text)
        if item.to_arrow is _ident and item.back is _ident:
            return Column(pa.list_(item.type), _ident, _ident, text)
        ito, iback = item.to_arrow, item.back
        return Column(
            pa.list_(item.type),
            lambda v: [ito(x) for x in v],
            lambda v: [iback(x) for x in v],
            text,
        )
    if isinstance(t, T.MapT):
        value = column_of(s.get("additionalProperties", True), root, ptr + "/additionalProperties")
        vto, vback = value.to_arrow, value.back
        return Column(
            pa.map_(pa.string(), value.type),
            lambda v: [(k, vto(x)) for k, x in v.items()],
            lambda v: {k: vback(x) for k, x in v},
            # Arrow reads a JSON object as a map's entries, and casts a map's values as its type
            None if value.text is None else pa.map_(pa.string(), value.text),
        )
    if isinstance(t, T.RecordT):
        fields = [
            (k, column_of(sub, root, f"{ptr}/properties/{k}"))
            for k, sub in (s.get("properties") or {}).items()
        ]
        texts = [(k, c.text) for k, c in fields]
        return Column(
            pa.struct([(k, c.type) for k, c in fields]),
            lambda v: {k: c.to_arrow(v[k]) for k, c in fields},
            lambda v: {k: c.back(v[k]) for k, c in fields},
            None if any(t is None for _k, t in texts) else pa.struct(texts),
        )
    return _UNTYPED


def output_columns(schema: dict[str, Any] | None) -> dict[str, Column] | None:
    """The columns of an output whose schema is an object with properties (one per property,
    in the schema's order); None when the output is not such an object (it is then one column)."""
    if not isinstance(schema, dict):
        return None
    s, nullable = T.split_nullable(schema, schema, "")
    props = s.get("properties")
    if nullable or s.get("type") != "object" or not isinstance(props, dict) or not props:
        return None
    return {k: column_of(sub, schema, f"/properties/{k}") for k, sub in props.items()}
