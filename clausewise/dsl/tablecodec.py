"""The parser's LALR tables as plain data: JSON that decodes only to dicts, lists, tuples,
strings, integers, booleans and None.

lark saves and loads its tables with pickle, which runs whatever code a tampered file names. Its
tables are plain data underneath (`Lark.memo_serialize`: lark rebuilds its objects from that data
through a closed set of its own classes), so clausewise writes that data as JSON, both for the
tables shipped in the package and for the ones kept in the user's cache, and gives lark the
decoded data. JSON has no tuples and no integer keys, so those are tagged: `{"(": [...]}` is a
tuple, `{"{i": [[1, v], ...]}` a dict with integer keys, `{"{s": [["k", v], ...]}` a dict whose
keys could be read as a tag.
"""

from __future__ import annotations

import json
from typing import Any

_TUPLE, _INT_KEYS, _STR_KEYS = "(", "{i", "{s"
_TAGS = (_TUPLE, _INT_KEYS, _STR_KEYS)


class TablesDecodeError(ValueError):
    """Saved tables that are not data this module writes."""


def _encode(x: Any) -> Any:
    if x is None or type(x) in (str, int, bool):
        return x
    if type(x) is list:
        return [_encode(v) for v in x]
    if type(x) is tuple:
        return {_TUPLE: [_encode(v) for v in x]}
    if type(x) is dict:
        if all(type(k) is str and k not in _TAGS for k in x):
            return {k: _encode(v) for k, v in x.items()}
        if all(type(k) is int for k in x):
            return {_INT_KEYS: [[k, _encode(v)] for k, v in x.items()]}
        if all(type(k) is str for k in x):
            return {_STR_KEYS: [[k, _encode(v)] for k, v in x.items()]}
    raise TypeError(f"parser tables hold a {type(x).__name__}, which has no data encoding")


def _pairs(items: Any, key_type: type) -> dict[Any, Any]:
    if type(items) is not list:
        raise TablesDecodeError("a tagged dict")
    out = {}
    for item in items:
        if type(item) is not list or len(item) != 2 or type(item[0]) is not key_type:
            raise TablesDecodeError("a tagged dict entry")
        out[item[0]] = item[1]
    return out


def _object(pairs: list[tuple[str, Any]]) -> Any:
    if len(pairs) == 1:
        key, value = pairs[0]
        if key == _TUPLE:
            if type(value) is not list:
                raise TablesDecodeError("a tagged tuple")
            return tuple(value)
        if key == _INT_KEYS:
            return _pairs(value, int)
        if key == _STR_KEYS:
            return _pairs(value, str)
    return dict(pairs)


def _no_float(text: str) -> Any:
    raise TablesDecodeError("parser tables hold no fractional numbers")


def _no_constant(text: str) -> Any:
    raise TablesDecodeError("parser tables hold no NaN or Infinity")


def encode_tables(data: Any) -> bytes:
    """lark's serialised tables (`{"data": ..., "memo": ...}`) as compact JSON."""
    return json.dumps(_encode(data), separators=(",", ":"), ensure_ascii=False).encode()


def decode_tables(raw: bytes | str) -> dict[str, Any]:
    """The data `encode_tables` wrote: plain containers and scalars only; raises
    `TablesDecodeError` for anything else."""
    try:
        data = json.loads(
            raw, object_pairs_hook=_object, parse_float=_no_float, parse_constant=_no_constant
        )
    except (ValueError, RecursionError) as e:
        if isinstance(e, TablesDecodeError):
            raise
        raise TablesDecodeError("not JSON") from None
    if type(data) is not dict or set(data) != {"data", "memo"}:
        raise TablesDecodeError("not parser tables")
    return data
