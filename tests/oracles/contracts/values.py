"""Value formats and input checks shared by the reference implementations of every contract.

Covers the contract's "Common value formats" (CONTRACTS.md): strict RFC 3339 datetimes with a
required offset, exact decimals, money, IANA zones, half-even output rounding, and validation of
an input against its policy's JSON Schema, reporting the offending field as a JSON pointer.

Every error raised here is a ``CodedInputError``: a ``ReferenceInputError`` that also carries a
proposed stable error code, so tests can compare codes as well as paths with the engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

from tests.oracles.contracts.errors import ReferenceInputError

POLICIES = Path(__file__).resolve().parents[3] / "policies"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS_PER_DAY = 86_400_000_000

# Exact decimal arithmetic: a context so wide that sums and products of input amounts never
# round (the default context keeps 28 digits and would silently round long amounts).
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_HALF_EVEN)
_CENT = Decimal("0.01")

_DECIMAL_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME_RE = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2})"
    r"(?::(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,6}))?)?"
    r"(?:(?P<z>Z)|(?P<sign>[+-])(?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))"
)
# The same shape with the offset left out: recognised only to name the error precisely.
_LOCAL_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
)


class CodedInputError(ReferenceInputError):
    """Bad input with a proposed stable error code (``currency_mismatch``, ``missing_field``...)."""

    def __init__(self, path: str, message: str, code: str) -> None:
        super().__init__(path, message)
        self.code = code


# ---------------------------------------------------------------------------------------------
# Parsing and formatting
# ---------------------------------------------------------------------------------------------


def parse_datetime(text: object) -> datetime | None:
    """Parse a contract datetime into an aware datetime (its own offset); None when invalid.

    Accepted: ``YYYY-MM-DDTHH:MM[:SS[.f{1,6}]]`` then ``Z`` or ``+HH:MM`` / ``-HH:MM``, ASCII
    digits, upper-case ``T`` and ``Z``. Choices where the contract is silent: one to six
    fraction digits (more cannot be kept exactly in microseconds, and rounding them would be a
    guess); no leap second (``:60``); offsets up to ``23:59``; the instant must also be
    writable on output, i.e. fall in years 0001-9999 in UTC.
    """
    if not isinstance(text, str):
        return None
    match = _DATETIME_RE.fullmatch(text)
    if match is None:
        return None
    if match["z"]:
        offset = timedelta(0)
    else:
        hours, minutes = int(match["oh"]), int(match["om"])
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        if match["sign"] == "-":
            offset = -offset
    try:
        value = datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"] or 0),
            int((match["f"] or "0").ljust(6, "0")),
            tzinfo=timezone(offset),
        )
        value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return value


def is_local_datetime(text: object) -> bool:
    """True for a datetime written without an offset (``2022-10-05T16:30:00``)."""
    return isinstance(text, str) and _LOCAL_DATETIME_RE.fullmatch(text) is not None


def parse_decimal(value: object) -> Decimal | None:
    """A non-negative ASCII decimal string or non-negative JSON integer as a Decimal, else None.

    Python's ``re`` lets the schema pattern's ``\\d`` match any Unicode digit and its ``$``
    match before a final newline; the contract means ASCII digits and no blanks, so the value
    is matched again here in full.
    """
    if type(value) is int:
        return Decimal(value) if value >= 0 else None
    if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        return Decimal(value)
    return None


def micros(instant: datetime) -> int:
    """An aware datetime as whole microseconds since the Unix epoch (exact, never overflows)."""
    return (instant - _EPOCH) // timedelta(microseconds=1)


def format_datetime(instant: datetime) -> str:
    """Output datetime: UTC, ``Z``, seconds always, six fraction digits only when non-zero."""
    utc = instant.astimezone(UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def format_date(day: date) -> str:
    """Output date: ``YYYY-MM-DD``."""
    return day.isoformat()


def format_money(amount: Decimal, currency: str) -> dict[str, str]:
    """Output money: the exact amount rounded half-even to two decimals, with its currency."""
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_EVEN, context=EXACT)
    if rounded.is_zero():
        rounded = abs(rounded)  # never write "-0.00"
    return {"amount": f"{rounded:f}", "currency": currency}


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_zone_name(value: object) -> bool:
    """True for an IANA zone name that this machine's tz database (or tzdata) knows."""
    return isinstance(value, str) and value in _zone_names()


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo of a validated IANA name."""
    return ZoneInfo(name)


# ---------------------------------------------------------------------------------------------
# Schema validation with JSON pointers
# ---------------------------------------------------------------------------------------------

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_datetime(instance: object) -> bool:
    return not isinstance(instance, str) or parse_datetime(instance) is not None


@_FORMATS.checks("date")
def _is_date(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if not _DATE_RE.fullmatch(instance):
        return False
    try:
        date.fromisoformat(instance)
    except ValueError:
        return False
    return True


@_FORMATS.checks("decimal")
@_FORMATS.checks("rate")
def _is_decimal(instance: object) -> bool:
    if isinstance(instance, str):
        return parse_decimal(instance) is not None
    return True  # a negative integer is ``minimum``'s error, other types ``type``'s


@_FORMATS.checks("time-zone")
def _is_time_zone(instance: object) -> bool:
    return not isinstance(instance, str) or is_zone_name(instance)


@_FORMATS.checks("money")
def _is_money(instance: object) -> bool:
    return True  # the def's properties carry the checks


# A JSON number with a fraction or exponent (``1.0``, ``1e2``) is bad input even when integral:
# only Python ints (parsed from JSON integers) are integers, and bools are never numbers.
_StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, instance: type(instance) is int
    ),
)


def json_pointer(parts: Iterable[str | int]) -> str:
    """Build a JSON pointer (RFC 6901) from path components."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@cache
def load_schema(policy_id: str, kind: str) -> dict[str, Any]:
    """Load ``policies/<policy_id>/<kind>.schema.json`` (kind: ``input`` or ``output``)."""
    with (POLICIES / policy_id / f"{kind}.schema.json").open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@cache
def _validator(policy_id: str, kind: str) -> Any:
    schema = load_schema(policy_id, kind)
    _StrictValidator.check_schema(schema)
    return _StrictValidator(schema, format_checker=_FORMATS)


def _leaf_errors(error: ValidationError) -> Iterator[ValidationError]:
    """Descend into ``anyOf`` (money or null): report the non-null branch's own errors."""
    if error.validator == "anyOf" and error.context and error.instance is not None:
        branches: list[Any] = list(error.validator_value)  # type: ignore[arg-type]
        inner = [
            e for e in error.context if branches[int(e.relative_schema_path[0])] != {"type": "null"}
        ]
        if inner:
            for e in inner:
                yield from _leaf_errors(e)
            return
    yield error


def _error_path(error: ValidationError) -> list[str | int]:
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        missing = [name for name in required if name not in error.instance]
        if missing:
            path.append(missing[0])
    return path


def _error_code(error: ValidationError) -> str:
    keyword = error.validator
    if keyword == "required":
        return "missing_field"
    if keyword == "type":
        return "null_not_allowed" if error.instance is None else "wrong_type"
    if keyword == "enum":
        return "unknown_enum_value"
    if keyword == "minimum":
        return "negative_value"
    if keyword == "format" and error.validator_value == "date-time":
        return (
            "datetime_without_offset" if is_local_datetime(error.instance) else "invalid_datetime"
        )
    if keyword == "format" and error.validator_value == "time-zone":
        return "unknown_time_zone"
    if keyword in ("format", "pattern"):
        return "invalid_format"
    if keyword == "minLength":
        return "empty_string"
    return "schema_violation"


def _path_key(path: list[str | int]) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in path)


# When one field breaks several keywords, the most telling one is reported: a datetime without
# an offset breaks both ``pattern`` and ``format``, and ``format`` names the problem.
_KEYWORD_RANK = {"required": 0, "type": 1, "enum": 2, "format": 3, "minimum": 4, "pattern": 5}


def schema_errors(instance: object, policy_id: str, kind: str) -> list[CodedInputError]:
    """Every schema violation of ``instance``, first (smallest JSON path) first."""
    found = [
        (_error_path(leaf), leaf)
        for error in _validator(policy_id, kind).iter_errors(instance)
        for leaf in _leaf_errors(error)
    ]
    found.sort(
        key=lambda item: (
            _path_key(item[0]),
            _KEYWORD_RANK.get(str(item[1].validator), len(_KEYWORD_RANK)),
            item[1].message,
        )
    )
    return [
        CodedInputError(json_pointer(path), leaf.message, _error_code(leaf)) for path, leaf in found
    ]


def first_error(errors: list[CodedInputError]) -> CodedInputError:
    """The error with the smallest JSON path (array indices compared as numbers)."""

    def key(error: CodedInputError) -> tuple[tuple[int, int | str], ...]:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in error.path.split("/")[1:]]
        return _path_key([int(p) if p.isdigit() else p for p in parts])

    return min(errors, key=key)


def validate(instance: object, policy_id: str, kind: str = "input") -> None:
    """Raise the first schema violation of ``instance`` as a CodedInputError.

    "First" is the smallest JSON path (array indices numerically, keys alphabetically), the
    rule ``seller_health`` uses too; a missing field's path names the field itself. Among
    several violations of one field, ``required``, ``type``, ``enum``, ``format``, ``minimum``
    then ``pattern``.
    """
    errors = schema_errors(instance, policy_id, kind)
    if errors:
        raise errors[0]


# ---------------------------------------------------------------------------------------------
# Reading validated input
# ---------------------------------------------------------------------------------------------


def instant(value: str) -> datetime:
    """A datetime field that the schema has already validated."""
    parsed = parse_datetime(value)
    assert parsed is not None, value
    return parsed


def amount(value: str | int) -> Decimal:
    """A decimal field that the schema has already validated."""
    parsed = parse_decimal(value)
    assert parsed is not None, value
    return parsed
