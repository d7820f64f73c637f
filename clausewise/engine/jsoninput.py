"""Strict JSON for decision input: the one reader used wherever input enters as text.

`json.loads` lets the last of two equal keys win silently, accepts `NaN` and `Infinity`, raises
`RecursionError` on deep nesting and `ValueError` on integers past Python's digit limit. Decision
input comes from anyone who can reach the host app or the service, so each of these is a typed
`InputError` instead, with the JSON pointer where one is known.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ..dsl.runtime import InputError

__all__ = ["DEFAULT_LIMITS", "InputLimits", "loads_input"]


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Bounds on decision input read as text (documented in docs/security.md)."""

    max_depth: int = 64
    max_number_digits: int = 100
    max_bytes: int = 16 * 1024 * 1024


DEFAULT_LIMITS = InputLimits()

# strings are removed before the brackets are counted, so a `[` inside a string is not nesting
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:  # the standard reader alone: the same answers, only slower
        return None


_orjson = _optional("orjson")
_SLOW = object()
_JSON_SPACE = b" \t\r\n"
# the text's outline for `_loads_fast`: JSON's spaces deleted, the characters of numbers as 0,
# quotes, colons and opening brackets kept, everything else a comma
_OUTLINE = bytes(
    48 if c in "-+.eE0123456789" else i if c in '":[{' else 44
    for i, c in ((i, chr(i)) for i in range(256))
)


class _Duplicated(dict[str, Any]):
    """An object in which a key was repeated: found again by `_find_duplicate` for its path."""

    __slots__ = ("repeated",)
    repeated: str


def loads_input(text: str | bytes, limits: InputLimits = DEFAULT_LIMITS) -> Any:
    """Parse decision input strictly. Raises `InputError` with a stable code on any fault.

    Codes: `invalid_json`, `duplicate_key` (path of the repeated key), `nesting_too_deep`,
    `number_too_long`, `input_too_large`. Numbers with a fraction or exponent stay floats, so
    that the schema conversion rejects them with their path (decimals are written as strings).
    """
    if isinstance(text, bytes | bytearray):
        if len(text) > limits.max_bytes:
            raise InputError(
                "input_too_large", "", f"the input is larger than {limits.max_bytes} bytes"
            )
        data = _loads_fast(bytes(text), limits)
        if data is not _SLOW:
            return data
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(
                "invalid_json", "", f"the input is not UTF-8: byte {e.start} is not valid"
            ) from None
    elif len(text) > limits.max_bytes:
        raise InputError(
            "input_too_large", "", f"the input is larger than {limits.max_bytes} bytes"
        )
    else:
        try:
            data = _loads_fast(text.encode("utf-8"), limits)
        except UnicodeEncodeError:  # a lone surrogate: the standard reader takes it
            data = _SLOW
        if data is not _SLOW:
            return data
    if text.count("[") + text.count("{") > limits.max_depth:
        _check_depth(text, limits.max_depth)
    found_duplicate = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found_duplicate
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        found_duplicate = True
        dup = _Duplicated(obj)
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                dup.repeated = k
                break
            seen.add(k)
        return dup

    def parse_int(s: str) -> int:
        if len(s.lstrip("-")) > limits.max_number_digits:
            raise _NumberTooLong(s)
        return int(s)

    def parse_float(s: str) -> float:
        if len(s) > limits.max_number_digits + 8:
            raise _NumberTooLong(s)
        return float(s)

    def parse_constant(s: str) -> Any:
        raise _NotJson(f"`{s}` is not a JSON number")

    try:
        data = json.loads(
            text,
            object_pairs_hook=pairs_hook,
            parse_int=parse_int,
            parse_float=parse_float,
            parse_constant=parse_constant,
        )
    except json.JSONDecodeError as e:
        raise InputError(
            "invalid_json",
            "",
            f"the input is not JSON: {e.msg} at line {e.lineno} column {e.colno}",
        ) from None
    except _NumberTooLong as e:
        digits = str(e)
        raise InputError(
            "number_too_long",
            "",
            f"a number has more than {limits.max_number_digits} digits ({digits[:20]}...)",
        ) from None
    except _NotJson as e:
        raise InputError("invalid_json", "", f"the input is not JSON: {e}") from None
    except RecursionError:  # a bound lower than max_depth was set by the host: same answer
        raise InputError(
            "nesting_too_deep", "", f"the input nests deeper than {limits.max_depth} levels"
        ) from None
    if found_duplicate:
        path, key = _find_duplicate(data, ())
        raise InputError(
            "duplicate_key",
            "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in (*path, key)),
            f"the key `{key}` appears more than once in the same object",
        )
    return data


def _loads_fast(raw: bytes, limits: InputLimits) -> Any:
    """The input read by orjson when that is sure to give what the strict reader gives, or
    `_SLOW`. orjson keeps the last of two equal keys, turns integers past 64 bits into floats
    and knows no digit limit, so it is only trusted when the input has as many object members
    as the result has keys (counted from the colons that follow a closing quote, which is never
    fewer), and no run of number characters long enough for one of those integers or for the
    digit limit. Anything else, errors included, is read again by the strict reader, which
    says what is wrong and where."""
    if _orjson is None:
        return _SLOW
    outline = raw.translate(_OUTLINE, _JSON_SPACE)
    if outline.count(b"[") + outline.count(b"{") > limits.max_depth:
        return _SLOW
    if b"0" * min(19, limits.max_number_digits + 1) in outline:
        return _SLOW
    try:
        data = _orjson.loads(raw)
        keys = _count_keys(data)
    except (_orjson.JSONDecodeError, RecursionError):
        return _SLOW
    # with the spaces gone, every member's colon directly follows its key's closing quote
    if outline.count(b'":') != keys:
        return _SLOW
    return data


def _count_keys(v: Any) -> int:
    """The keys of all objects in a value parsed from JSON."""
    n = 0
    if type(v) is dict:
        n = len(v)
        v = v.values()
    elif type(v) is not list:
        return 0
    for x in v:
        if type(x) is dict or type(x) is list:
            n += _count_keys(x)
    return n


class _NumberTooLong(Exception):
    pass


class _NotJson(Exception):
    pass


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise InputError(
                    "nesting_too_deep",
                    "",
                    f"the input nests deeper than {max_depth} levels",
                )
        else:
            depth -= 1


def _find_duplicate(v: Any, path: tuple[Any, ...]) -> Any:
    if isinstance(v, _Duplicated):
        return path, v.repeated
    if isinstance(v, dict):
        for k, x in v.items():
            r = _find_duplicate(x, (*path, k))
            if r is not None:
                return r
    elif isinstance(v, list):
        for i, x in enumerate(v):
            r = _find_duplicate(x, (*path, i))
            if r is not None:
                return r
    return None
