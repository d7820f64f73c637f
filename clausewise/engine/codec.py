"""JSON Schema -> generated Python: one pass that validates input and converts it to run-time
values, and one that writes run-time values back as the output's JSON.

Validation and conversion are fused so that a decision touches each input value once; the
error for a bad value names its JSON pointer. Policy text never reaches the generated source:
names and constants are passed in through the namespace or written with `repr`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ..dsl import types as T
from ..dsl.runtime import (
    CENT,
    CTX,
    DATETIME_RE,
    UTC,
    EvaluationError,
    InputError,
    Money,
    Range,
    TracedRecord,
    pointer,
    to_zone,
)
from ..dsl.typed import Comp, Compare, Expr, Member, Program, children
from .patterns import compile_pattern

# A decimal string longer than this is bad input before any arithmetic sees it: a decimal of
# 100,000 digits makes every operation on it slow (the same bound as JSON number literals).
MAX_DECIMAL_CHARS = 100


def plain_decimal(x: str) -> bool:
    """Whether `x` is a decimal string as the input takes it: ASCII digits with an optional
    fraction (`[0-9]+(\\.[0-9]+)?`), at most `MAX_DECIMAL_CHARS` long. (Cheaper than a regular
    expression: an ASCII string of digits is all that `isdigit` accepts, the dot is removed once,
    and it may be neither first nor last. The generated converters inline the same test.)"""
    return (
        len(x) <= MAX_DECIMAL_CHARS
        and x.isascii()
        and x.replace(".", "", 1).isdigit()
        and x[0] != "."
        and x[-1] != "."
    )


# The offsets an RFC 3339 datetime can have (`+HH:MM`, `-HH:MM`, under 24 hours), as the time
# between the local time and UTC: subtracting one from the local time read as UTC is the same
# instant as `astimezone(UTC)` gives, several times cheaper.
_OFFSETS = {
    f"{sign}{h:02d}:{m:02d}": (
        dt.timedelta(hours=h, minutes=m) if sign == "+" else -dt.timedelta(hours=h, minutes=m)
    )
    for sign in "+-"
    for h in range(24)
    for m in range(60)
}
_MISSING = object()
RATE_Q = Decimal("0.0001")


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def type_error(p: Any, key: Any, want: str, v: Any) -> InputError:
    code = "null_not_allowed" if v is None else "wrong_type"
    return InputError(code, pointer((p, key)), f"expected {want}, got {_describe(v)}")


def first_missing(v: dict[str, Any], p: Any, keys: tuple[str, ...]) -> InputError:
    for k in keys:
        if k not in v:
            return missing(p, k)
    raise AssertionError("no required field is missing")


def missing(p: Any, key: str) -> InputError:
    return InputError("missing_field", pointer((p, key)), f"the field `{key}` is required")


class DateTable(dict[Any, Any]):
    """Dates by their text, and the value a read of a date field gives.

    Inputs repeat a few hundred dates over thousands of records, and a dictionary hit is several
    times cheaper than checking and parsing the text again. Only valid dates go in; the size is
    bounded (dates are immutable, so sharing them is safe).

    A record of the input keeps a date field as the text that was sent (checked, see
    `raw_dates_safe`), so that the record itself is used instead of a converted copy; the
    decision reads such a field as `DATES[value]`: the date of a text, and a date (of a record
    the policy built) or null as itself.
    """

    def __missing__(self, x: Any) -> Any:
        d = dt.date.fromisoformat(x) if x.__class__ is str else x
        if len(self) < _DATES_MAX:
            self[x] = d
        return d


_DATES_MAX = 32768
DATES = DateTable({None: None})


def conv_date(x: Any, p: Any, key: Any) -> dt.date:
    if x.__class__ is str and len(x) == 10 and x[4] == "-" and x[7] == "-" and x.isascii():
        try:
            d = dt.date.fromisoformat(x)
        except ValueError:
            pass
        else:
            if len(DATES) < _DATES_MAX:
                DATES[x] = d
            return d
    if x.__class__ is not str:
        raise type_error(p, key, "a date string (YYYY-MM-DD)", x)
    raise InputError(
        "invalid_format", pointer((p, key)), f"expected a date (YYYY-MM-DD), got {x!r}"
    )


def conv_datetime(x: Any, p: Any, key: Any) -> dt.datetime:
    if x.__class__ is str and DATETIME_RE.fullmatch(x):
        try:
            # normalised to UTC once: comparing datetimes with one shared tzinfo is many times
            # faster than comparing across offsets
            t = dt.datetime.fromisoformat(x)
            return t if t.tzinfo is UTC else t.astimezone(UTC)
        except ValueError:
            pass
        except OverflowError:  # before year 1 or after 9999 in UTC
            # (`invalid_format`, as the contracts name every datetime that cannot be read)
            raise InputError(
                "invalid_format",
                pointer((p, key)),
                f"the instant {x!r} falls outside years 0001-9999 in UTC",
            ) from None
    if x.__class__ is not str:
        raise type_error(p, key, "a datetime string", x)
    if x.__class__ is str and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?", x):
        raise InputError(
            "invalid_format",
            pointer((p, key)),
            f"the datetime {x!r} has no offset: add `Z` or `+HH:MM`",
        )
    raise InputError(
        "invalid_format",
        pointer((p, key)),
        f"expected an RFC 3339 datetime with an offset (2022-10-05T16:30:00Z), got {x!r}",
    )


_DECIMAL_INT_LIMIT = 10**MAX_DECIMAL_CHARS
_DECIMAL_INT_FLOOR = -_DECIMAL_INT_LIMIT


def conv_decimal(x: Any, p: Any, key: Any) -> Decimal:
    cls = x.__class__
    if cls is str:
        if plain_decimal(x):
            return Decimal(x)
        if len(x) > MAX_DECIMAL_CHARS:
            raise InputError(
                "number_too_long",
                pointer((p, key)),
                f"a decimal string has at most {MAX_DECIMAL_CHARS} characters, "
                f"this one has {len(x)}",
            )
        raise InputError(
            "invalid_format",
            pointer((p, key)),
            f'expected a non-negative decimal string like "0.0125", got {x!r}',
        )
    if cls is int:
        if not _DECIMAL_INT_FLOOR < x < _DECIMAL_INT_LIMIT:
            raise InputError(
                "number_too_long",
                pointer((p, key)),
                f"a decimal has at most {MAX_DECIMAL_CHARS} digits",
            )
        if x >= 0:
            return Decimal(x)
        raise InputError("out_of_range", pointer((p, key)), f"must not be negative, got {x}")
    if cls is float:
        raise InputError(
            "wrong_type",
            pointer((p, key)),
            f'send decimals as strings ("{x}"), not JSON numbers with a fraction',
        )
    raise type_error(p, key, "a decimal string", x)


def conv_signed_decimal(x: Any, p: Any, key: Any) -> Decimal:
    """`conv_decimal` for a field whose schema allows negative values (see `allows_negative`)."""
    cls = x.__class__
    if cls is str and x[:1] == "-" and plain_decimal(x[1:]):
        return Decimal(x)
    if cls is int and _DECIMAL_INT_FLOOR < x < 0:
        return Decimal(x)
    return conv_decimal(x, p, key)


def allows_negative(schema: dict[str, Any]) -> bool:
    """Whether a decimal field takes negative values: its `pattern` accepts `-1` and it has no
    lower bound (a bound on a decimal string is checked only as "not negative")."""
    pattern = schema.get("pattern")
    if not isinstance(pattern, str) or "minimum" in schema or "exclusiveMinimum" in schema:
        return False
    from .patterns import compile_pattern

    try:
        return bool(compile_pattern(pattern)("-1"))
    except Exception:
        return False


def conv_money(x: Any, p: Any, key: Any, with_path: bool = False) -> Money:
    if x.__class__ is not dict:
        raise type_error(p, key, 'money ({"amount": "400.00", "currency": "USD"})', x)
    here = (p, key)
    amount = x.get("amount", _MISSING)
    if amount is _MISSING:
        raise missing(here, "amount")
    cur = x.get("currency", _MISSING)
    if cur is _MISSING:
        raise missing(here, "currency")
    if cur.__class__ is not str or not cur:
        if cur.__class__ is str:
            raise InputError(
                "invalid_format", pointer((here, "currency")), "the currency code is empty"
            )
        raise type_error(here, "currency", "a currency code string", cur)
    # the linked path of the currency (a JSON pointer only if a currency mismatch is reported)
    return Money(conv_decimal(amount, here, "amount"), cur, (here, "currency"))


def conv_zone(x: Any, p: Any, key: Any) -> Any:
    if x.__class__ is not str:
        raise type_error(p, key, "an IANA time zone name", x)
    try:
        return to_zone(x)
    except Exception:
        raise InputError("invalid_format", pointer((p, key)), f"unknown time zone {x!r}") from None


def check_int(x: Any, p: Any, key: Any) -> int:
    if x.__class__ is int:
        return int(x)
    raise type_error(p, key, "an integer", x)


def bad_enum(x: Any, p: Any, key: Any, values: tuple[str, ...]) -> InputError:
    if x.__class__ is not str:
        return type_error(p, key, "a string", x)
    return InputError(
        "unknown_enum_value", pointer((p, key)), f"{x!r} is not one of: {', '.join(values)}"
    )


def out_of_range(p: Any, key: Any, message: str) -> InputError:
    return InputError("out_of_range", pointer((p, key)), message)


def bad_pattern(x: Any, p: Any, key: Any, pattern: str) -> InputError:
    return InputError(
        "invalid_format",
        pointer((p, key)),
        _bounded(f"{x!r} does not match the pattern {pattern}"),
    )


# ---- the JSON Schema check, for what the typed conversion does not do by itself ----------

# The typed conversion below is the fast path: for the shapes it knows (a string with a pattern,
# an integer with bounds, a record of fields, ...) it accepts exactly what JSON Schema accepts,
# except for the deliberate deviations listed in docs/schemas.md (formats assert, decimals are
# strings or integers, ...). Any other keyword, or a known one in a place the fast path does not
# read it (a bound on a schema without `type`, `required` names without a property, a `$ref`
# with siblings, `additionalProperties` beside `properties`, `const`, ...), is checked first by
# a JSON Schema validator (jsonschema, with RE2 for patterns) on the value as it was sent.

_ENGINE_FORMATS = {"money", "decimal", "rate", "date", "date-time", "time-zone"}
# the JSON types each format's conversion accepts
_FORMAT_TYPES = {
    "money": {"object"},
    "decimal": {"string", "integer"},
    "rate": {"string", "integer"},
    "date": {"string"},
    "date-time": {"string"},
    "time-zone": {"string"},
}
# Patterns that every string the format's conversion accepts matches anyway, so checking them
# again would only cost time (tests/test_schema_hardening.py shows each implication).
IMPLIED_PATTERNS = {
    "decimal": {r"^[0-9]+(\.[0-9]+)?$", r"^\d+(\.\d+)?$"},
    "date": {r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", r"^\d{4}-\d{2}-\d{2}$"},
    "date-time": {
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$",
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$",
    },
}
IMPLIED_PATTERNS["rate"] = IMPLIED_PATTERNS["decimal"]
_TYPED_KEYWORDS = {
    "boolean": {"type", "format"},
    "integer": {"type", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "string": {"type", "format", "pattern", "minLength", "maxLength"},
    "array": {"type", "format", "items", "minItems", "maxItems"},
}
_SPEC_CODES = {
    "type": "wrong_type",
    "required": "missing_field",
    "enum": "unknown_enum_value",
    "const": "invalid_value",
    "pattern": "invalid_format",
    "minimum": "out_of_range",
    "maximum": "out_of_range",
    "exclusiveMinimum": "out_of_range",
    "exclusiveMaximum": "out_of_range",
    "minLength": "out_of_range",
    "maxLength": "out_of_range",
    "minItems": "out_of_range",
    "maxItems": "out_of_range",
    "additionalProperties": "unknown_field",
}


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """JSON Schema's `pattern`, matched by RE2 (jsonschema's own backtracks)."""
    if validator.is_type(instance, "string") and not compile_pattern(pattern)(instance):
        from jsonschema.exceptions import ValidationError

        yield ValidationError(f"{instance!r} does not match the pattern {pattern}")


@functools.cache
def _spec_validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"pattern": _re2_pattern})


def spec_error(error: Any, p: Any, key: Any) -> InputError:
    """A JSON Schema validation error as an input error at its JSON pointer."""
    where = pointer((p, key)) + "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in error.absolute_path
    )
    keyword = error.validator
    if keyword == "required" and isinstance(error.instance, dict):
        name = next((n for n in error.validator_value if n not in error.instance), None)
        if name is not None:
            return InputError(
                "missing_field",
                where + "/" + name.replace("~", "~0").replace("/", "~1"),
                f"the field `{name}` is required",
            )
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        name = next((k for k in error.instance if k not in known), None)
        if name is not None:
            return InputError(
                "unknown_field",
                where + "/" + name.replace("~", "~0").replace("/", "~1"),
                f"the field `{name}` is not allowed here",
            )
    if keyword == "type":
        # phrased as the typed conversion phrases it, whichever path found the fault
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        code = "null_not_allowed" if error.instance is None else "wrong_type"
        return InputError(code, where, f"expected {want}, got {_describe(error.instance)}")
    code = _SPEC_CODES.get(keyword, "invalid_value")
    return InputError(code, where, _bounded(error.message))


_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _bounded(message: str, limit: int = 300) -> str:
    """A message that quotes input is cut short: the input can be megabytes long."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _spec_check(validator: Any) -> Any:
    is_valid = validator.is_valid

    def check(x: Any, p: Any, key: Any) -> None:
        from jsonschema.exceptions import best_match

        try:
            if is_valid(x):
                return
            error = best_match(validator.iter_errors(x))
        except ValueError:  # the validator quotes an integer too long to write as text
            raise InputError(
                "number_too_long", pointer((p, key)), "a number here has too many digits"
            ) from None
        raise spec_error(error, p, key)

    return check


@dataclasses.dataclass(slots=True)
class _Spot:
    """Where the input converter's generator is: the schema `s` and type `t` of the value `x`
    found under `key` of the parent linked at `p`, the statements `out` written at indent `ind`,
    and the schema's JSON pointer `ptr`."""

    s: dict[str, Any]
    t: T.Type
    x: str
    p: str
    key: str
    out: list[str]
    ind: str
    ptr: str

    def emit(self, line: str) -> None:
        self.out.append(self.ind + line)


class _Gen:
    """Emits Python source for converters; constants go into `ns`."""

    def __init__(self, root: dict[str, Any], with_paths: bool, raw_dates: bool = False):
        self.root = root
        self.with_paths = with_paths
        # date fields of records are checked and keep their text (see `DateTable`)
        self.raw_dates = raw_dates and not with_paths
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {
            "_conv_date": conv_date,
            "_date_seen": DATES.get,
            "_conv_datetime": conv_datetime,
            "_conv_decimal": conv_decimal,
            "_conv_signed_decimal": conv_signed_decimal,
            "_Decimal": Decimal,
            # a checked decimal string read in the exact context: the same value and exponent as
            # `Decimal(x)` (nothing is rounded at unbounded precision), for less than the
            # constructor's argument parsing costs
            "_exact_decimal": CTX.create_decimal,
            "_conv_money": conv_money,
            "_conv_zone": conv_zone,
            "_check_int": check_int,
            "_type_error": type_error,
            "_missing": missing,
            "_bad_enum": bad_enum,
            "_out_of_range": out_of_range,
            "_bad_pattern": bad_pattern,
            "_MISSING": _MISSING,
            "_first_missing": first_missing,
            "_TracedRecord": TracedRecord,
            "_dt_ok": DATETIME_RE.fullmatch,
            "_fromiso": dt.datetime.fromisoformat,
            "_OFFSETS": _OFFSETS,
        }
        self.n = 0
        # the records converted into these variables are the input's own object when it has
        # exactly the schema's fields (nothing in them is converted)
        self.kept_records: set[str] = set()
        self.memo: dict[int, str] = {}
        self.spec_memo: dict[int, tuple[Any, str]] = {}
        self.spec_root: Any = None

    def spec_check(self, schema: Any) -> str:
        """The name of a function checking a value against `schema` as JSON Schema says."""
        known = self.spec_memo.get(id(schema))
        if known is not None:
            return known[1]
        if self.spec_root is None:
            self.spec_root = _spec_validator_class()(self.root)
        name = self.const(_spec_check(self.spec_root.evolve(schema=schema)))
        self.spec_memo[id(schema)] = (schema, name)  # kept alive: ids stay unique
        return name

    def exact(self, schema: Any, ptr: str) -> bool:
        """Whether the typed conversion alone enforces every keyword of `schema` itself (its
        subschemas are looked at where they are converted)."""
        node = schema
        while isinstance(node, dict) and "$ref" in node:
            if set(node) - T.ANNOTATIONS - {"$ref"}:
                return False  # siblings of a reference apply beside it
            node = T.resolve_ref(self.root, node["$ref"], ptr)
        if not isinstance(node, dict):
            return False
        keys = set(node) - T.ANNOTATIONS
        if "anyOf" in keys:
            rest = [a for a in node["anyOf"] if a != {"type": "null"}]
            return keys == {"anyOf"} and len(rest) == 1 and self.exact(rest[0], ptr)
        declared = node.get("type")
        types = declared if isinstance(declared, list) else [declared] if declared else []
        nullable = "null" in types
        base = {t for t in types if t != "null"}
        if "number" in base:
            base.add("integer")
        fmt = node.get("format")
        if fmt in _ENGINE_FORMATS:
            # the format's conversion must not let through a type the schema does not
            if base and not _FORMAT_TYPES[fmt] <= base:
                return False
            allowed = {"type", "format"}
            if node.get("pattern") in IMPLIED_PATTERNS.get(fmt, ()):
                allowed.add("pattern")
            if fmt in ("decimal", "rate"):
                allowed.add("maximum")
                bound = node.get("minimum", 0)
                if isinstance(bound, int | float) and bound <= 0:
                    allowed.add("minimum")
            if fmt == "money":
                return keys <= allowed | {"properties", "required"} and self._plain_money(node, ptr)
            return keys <= allowed
        if "enum" in keys:
            values = node["enum"]
            return (
                keys <= {"type", "enum", "format"}
                and base <= {"string"}
                and all(isinstance(v, str) for v in values if v is not None)
                and (not nullable or None in values)
            )
        if not base:
            return keys <= {"type", "format"}
        if len(base) != 1:
            return False
        (kind,) = base
        if kind in _TYPED_KEYWORDS:
            return keys <= _TYPED_KEYWORDS[kind]
        if kind == "object":
            extra = node.get("additionalProperties", True)
            if "properties" not in node:
                return keys <= {"type", "format", "additionalProperties"}
            return (
                keys <= {"type", "format", "properties", "required", "additionalProperties"}
                and (extra is True or extra == {})
                and set(node.get("required", ())) <= set(node["properties"])
            )
        return False

    def _plain_money(self, node: dict[str, Any], ptr: str) -> bool:
        """A money schema whose `amount` and `currency` say no more than money's conversion."""
        props = node.get("properties", {})
        if not set(props) <= {"amount", "currency"}:
            return False
        if not set(node.get("required", ())) <= {"amount", "currency"}:
            return False
        amount = props.get("amount", True)
        if amount is not True and amount != {}:
            resolved, _ = T.split_nullable(amount, self.root, ptr)
            if resolved.get("format") not in ("decimal", "rate") or "null" in str(
                resolved.get("type")
            ):
                return False
            if not self.exact(amount, ptr + "/properties/amount"):
                return False
        currency = props.get("currency", True)
        if currency is not True and currency != {}:
            if not isinstance(currency, dict) or set(currency) - T.ANNOTATIONS - {
                "type",
                "minLength",
            }:
                return False
            if currency.get("type", "string") != "string" or currency.get("minLength", 0) > 1:
                return False
        return True

    def const(self, value: Any) -> str:
        self.n += 1
        name = f"_k{self.n}"
        self.ns[name] = value
        return name

    def fn(self, schema: Any, pointer_: str) -> str:
        """A function `f(v, pp, pk)` converting a value found under key `pk` of the parent
        whose linked path is `pp`."""
        key = id(schema)
        if key in self.memo:
            return self.memo[key]
        self.n += 1
        name = f"_c{self.n}"
        self.memo[key] = name
        body: list[str] = []
        out = self.leaf(schema, "v", "pp", "pk", body, "    ", pointer_)
        self.lines.append(f"def {name}(v, pp, pk):")
        self.lines.extend(body)
        self.lines.append(f"    return {out}")
        return name

    def leaf(
        self, schema: Any, x: str, p: str, key: str, out: list[str], ind: str, ptr: str
    ) -> str:
        """Statements checking/converting `x`; returns the expression of the converted value."""
        if schema is True or schema == {}:
            return x
        if not self.exact(schema, ptr):
            out.append(f"{ind}{self.spec_check(schema)}({x}, {p}, {key})")
        s, nullable = T.split_nullable(schema, self.root, ptr)
        t = T.schema_type(schema, self.root, ptr)
        if nullable:
            self.n += 1
            r = f"_r{self.n}"
            out.append(f"{ind}if {x} is None:")
            out.append(f"{ind}    {r} = None")
            out.append(f"{ind}else:")
            inner: list[str] = []
            v = self._nonnull(s, T.strip(t), x, p, key, inner, ind + "    ", ptr)
            out.extend(inner)
            out.append(f"{ind}    {r} = {v}")
            return r
        return self._nonnull(s, t, x, p, key, out, ind, ptr)

    def _nonnull(
        self,
        s: dict[str, Any],
        t: T.Type,
        x: str,
        p: str,
        key: str,
        out: list[str],
        ind: str,
        ptr: str,
    ) -> str:
        """Statements checking/converting `x`, never null, of type `t` (schema `s`); returns
        the expression of the converted value. Each type has its method (`_WRITERS`)."""
        write = _WRITERS.get(t if type(t) is T.Type else type(t))
        if write is None:
            return x
        return write(self, _Spot(s, t, x, p, key, out, ind, ptr))

    def _name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def _money(self, at: _Spot) -> str:
        return f"_conv_money({at.x}, {at.p}, {at.key}, {self.with_paths})"

    def _decimal(self, at: _Spot) -> str:
        s, x, p, key = at.s, at.x, at.p, at.key
        conv = "_conv_signed_decimal" if allows_negative(s) else "_conv_decimal"
        if "maximum" in s:
            mx = self.const(Decimal(str(s["maximum"])))
            r = self._name("_r")
            at.emit(f"{r} = {conv}({x}, {p}, {key})")
            at.emit(
                f"if {r} > {mx}: raise _out_of_range({p}, {key}, 'must be at most ' + str({mx}))"
            )
            return r
        r = self._name("_r")
        # fast path for the common case, a plain decimal string; everything else (integers,
        # errors) goes through the full conversion
        plain = (
            f"len({x}) <= {MAX_DECIMAL_CHARS} and {x}.isascii() and {x}.replace('.', '', 1).isdigit()"
            f" and {x}[0] != '.' and {x}[-1] != '.'"
        )  # plain_decimal, inlined
        at.emit(
            f"{r} = _exact_decimal({x}) if {x}.__class__ is str and {plain}"
            f" else {conv}({x}, {p}, {key})"
        )
        return r

    def _date(self, at: _Spot) -> str:
        x, p, key = at.x, at.p, at.key
        # a date seen before is looked up (a miss, or anything but a string, is converted);
        # checked here, in the schema's order, as the date fields whose text is kept are
        r = self._name("_r")
        at.emit(
            f"{r} = (_date_seen({x}) if {x}.__class__ is str else None) or _conv_date({x}, {p}, {key})"
        )
        return r

    def _datetime(self, at: _Spot) -> str:
        x, p, key = at.x, at.p, at.key
        # the common case inline; anything unusual (and every error) goes through the full path
        r = self._name("_r")
        at.emit(f"{r} = None")
        at.emit(f"if {x}.__class__ is str and _dt_ok({x}):")
        at.emit("    try:")
        # in UTC: the time read as if in UTC, less its offset (an offset no table holds, and
        # every error, go through the full path)
        at.emit(
            f"        {r} = _fromiso({x}) if {x}[-1] == 'Z' else _fromiso({x}[:-6] + '+00:00') - _OFFSETS[{x}[-6:]]"
        )
        at.emit("    except (ValueError, OverflowError, KeyError):")  # overflow: before year 1
        at.emit(f"        {r} = None")
        at.emit(f"if {r} is None:")
        at.emit(f"    {r} = _conv_datetime({x}, {p}, {key})")
        return r

    def _zone(self, at: _Spot) -> str:
        return f"_conv_zone({at.x}, {at.p}, {at.key})"

    def _bool(self, at: _Spot) -> str:
        x = at.x
        at.emit(
            f"if {x}.__class__ is not bool: raise _type_error({at.p}, {at.key}, 'a boolean', {x})"
        )
        return x

    def _int(self, at: _Spot) -> str:
        s, x, p, key = at.s, at.x, at.p, at.key
        # (an integer is its own run-time value: only checked, so its record need not be copied)
        at.emit(f"if {x}.__class__ is not int: _check_int({x}, {p}, {key})")
        for kw, op, word in (
            ("minimum", "<", "at least"),
            ("maximum", ">", "at most"),
            ("exclusiveMinimum", "<=", "more than"),
            ("exclusiveMaximum", ">=", "less than"),
        ):
            if kw in s:
                c = self.const(s[kw])
                at.emit(
                    f"if {x} {op} {c}: raise _out_of_range({p}, {key}, 'must be {word} ' + str({c}))"
                )
        return x

    def _enum(self, at: _Spot) -> str:
        x, t = at.x, at.t
        assert isinstance(t, T.EnumT)
        vals = self.const(frozenset(t.values))
        tup = self.const(t.values)
        at.emit(
            f"if {x}.__class__ is not str or {x} not in {vals}: raise _bad_enum({x}, {at.p}, {at.key}, {tup})"
        )
        return x

    def _string(self, at: _Spot) -> str:
        s, x, p, key = at.s, at.x, at.p, at.key
        at.emit(f"if {x}.__class__ is not str: raise _type_error({p}, {key}, 'a string', {x})")
        if "pattern" in s:
            rx = self.const(compile_pattern(s["pattern"]))
            pat = self.const(s["pattern"])
            at.emit(f"if not {rx}({x}): raise _bad_pattern({x}, {p}, {key}, {pat})")
        if "minLength" in s:
            c = self.const(s["minLength"])
            at.emit(
                f"if len({x}) < {c}: raise _out_of_range({p}, {key}, 'must have at least ' + str({c}) + ' characters')"
            )
        if "maxLength" in s:
            c = self.const(s["maxLength"])
            at.emit(
                f"if len({x}) > {c}: raise _out_of_range({p}, {key}, 'must have at most ' + str({c}) + ' characters')"
            )
        return x

    def _list(self, at: _Spot) -> str:
        s, x, p, key, ptr = at.s, at.x, at.p, at.key, at.ptr
        items = s.get("items", True)
        r = self._name("_r")
        at.emit(f"if {x}.__class__ is not list: raise _type_error({p}, {key}, 'an array', {x})")
        for kw, op, word in (("minItems", "<", "at least"), ("maxItems", ">", "at most")):
            if kw in s:
                c = self.const(s[kw])
                at.emit(
                    f"if len({x}) {op} {c}: raise _out_of_range({p}, {key}, 'must have {word} ' + str({c}) + ' items')"
                )
        here = self._name("_h")
        at.emit(f"{here} = ({p}, {key})")
        if self._flat_record(items, ptr + "/items"):
            # records of plain fields are converted in the loop itself, without a call each
            self.n += 1
            i, item = f"_i{self.n}", f"_x{self.n}"
            body: list[str] = []
            conv = self.leaf(items, item, here, i, body, at.ind + "    ", ptr + "/items")
            if conv == item:  # the items are only checked: the list itself
                at.emit(f"for {i}, {item} in enumerate({x}):")
                at.out.extend(body or [at.ind + "    pass"])
                at.emit(f"{r} = {x}")
                return r
            if conv in self.kept_records:
                # the list itself for as long as every record is the input's own (a new list
                # from the first that is not): a long list is not copied
                at.emit(f"{r} = {x}")
                at.emit(f"for {i}, {item} in enumerate({x}):")
                at.out.extend(body)
                at.emit(f"    if {r} is not {x}:")
                at.emit(f"        {r}.append({conv})")
                at.emit(f"    elif {conv} is not {item}:")
                at.emit(f"        {r} = {x}[:{i}]")
                at.emit(f"        {r}.append({conv})")
                return r
            at.emit(f"{r} = []")
            at.emit(f"for {i}, {item} in enumerate({x}):")
            at.out.extend(body)
            at.emit(f"    {r}.append({conv})")
            return r
        f = self.fn(items, ptr + "/items")
        at.emit(f"{r} = [{f}(_x, {here}, _i) for _i, _x in enumerate({x})]")
        return r

    def _map(self, at: _Spot) -> str:
        x, p, key = at.x, at.p, at.key
        vals = at.s.get("additionalProperties", True)
        f = self.fn(vals, at.ptr + "/additionalProperties")
        self.n += 1
        r, here = f"_r{self.n}", f"_h{self.n}"
        at.emit(f"if {x}.__class__ is not dict: raise _type_error({p}, {key}, 'an object', {x})")
        at.emit(f"{here} = ({p}, {key})")
        at.emit(f"{r} = {{_k: {f}(_x, {here}, _k) for _k, _x in {x}.items()}}")
        return r

    def _record(self, at: _Spot) -> str:
        s, x, p, key, ind, ptr = at.s, at.x, at.p, at.key, at.ind, at.ptr
        props = s.get("properties", {})
        required = set(s.get("required", ()))
        r = self._name("_r")
        at.emit(f"if {x}.__class__ is not dict: raise _type_error({p}, {key}, 'an object', {x})")
        # the link to this record's path is built only when something needs it: an error,
        # a nested list or record, or a traced decision
        here = f"({p}, {key})"
        needs_link = self.with_paths or any(
            isinstance(
                T.strip(T.schema_type(sub, self.root, f"{ptr}/properties/{n}")),
                T.ListT | T.RecordT | T.MapT,
            )
            for n, sub in props.items()
        )
        if needs_link:
            link = self._name("_h")
            at.emit(f"{link} = {here}")
            here = link
        parts = []
        fields = {name: self._name("_f") for name in props}
        req = [n for n in props if n in required]
        if req:
            # required fields: one subscript each; a missing one is found after the fact
            at.emit("try:")
            for name in req:
                at.emit(f"    {fields[name]} = {x}[{name!r}]")
            at.emit("except KeyError:")
            at.emit(f"    raise _first_missing({x}, {here}, {self.const(tuple(req))}) from None")
        changed: list[tuple[str, str]] = []  # fields whose run-time value is not the JSON one
        # each field's statements, and whether it is only checked (a boolean, a string...)
        steps: list[tuple[list[str], bool]] = []
        quick: list[str] = []
        for name, sub in props.items():
            stmts, conv, ok, is_changed = self._record_field(
                name, sub, name in required, fields[name], x, here, ind, f"{ptr}/properties/{name}"
            )
            if ok is not None:
                quick.append(ok)
            steps.append((stmts, ok is not None))
            if is_changed:
                changed.append((repr(name), conv))
            parts.append(f"{name!r}: {conv}")
        if len(quick) > 1:
            # The fields that are only checked are tested in one condition; when it fails,
            # every field is checked in order, so that the first bad one is reported.
            at.emit(f"if not ({' and '.join(quick)}):")
            at.out.extend("    " + ln for stmts, _ in steps for ln in stmts)
            at.out.extend(ln for stmts, only_checked in steps if not only_checked for ln in stmts)
        else:
            at.out.extend(ln for stmts, _ in steps for ln in stmts)
        record = f"{{{', '.join(parts)}}}"
        if not self.with_paths and len(changed) == len(props):
            # every field converted: nothing of the object is kept, the record is built at once
            at.emit(f"{r} = {record}")
            return r
        # When the object has exactly the schema's fields, copying it and replacing the few
        # converted values is much cheaper than building the record field by field.
        exact = [f"len({x}) == {len(props)}"] + [
            f"{fields[n]} is not _MISSING" for n in props if n not in required
        ]
        at.emit(f"if {' and '.join(exact)}:")
        # (nothing converted: the object itself, which the decision only reads; with paths, a
        # record that knows its path is made of it at once)
        if self.with_paths:
            at.emit(f"    {r} = _TracedRecord({x})")
        else:
            at.emit(f"    {r} = {x}.copy()" if changed else f"    {r} = {x}")
            if not changed:
                self.kept_records.add(r)
        for kname, conv in changed:
            at.emit(f"    {r}[{kname}] = {conv}")
        at.emit("else:")
        at.emit(f"    {r} = _TracedRecord({record})" if self.with_paths else f"    {r} = {record}")
        if self.with_paths:
            at.emit(f"{r}.path = {here}")
        return r

    def _record_field(
        self, name: str, sub: Any, required: bool, fv: str, x: str, here: str, ind: str, ptr: str
    ) -> tuple[list[str], str, str | None, bool]:
        """The statements of one field `name` (read into `fv`) of the record `x`: the
        statements, the expression of its run-time value, the condition that it is only checked
        and fine (`_quick_ok`, required fields), and whether its value is not the JSON one."""
        kname = repr(name)
        stmts: list[str] = []
        if required:
            conv = self._field(sub, fv, here, kname, stmts, ind, ptr)
            ok = self._quick_ok(sub, fv, ptr)
            if ok is not None:
                conv = fv
            return stmts, conv, ok, conv != fv
        stmts.append(f"{ind}{fv} = {x}.get({kname}, _MISSING)")
        ov = self._name("_o")
        stmts.append(f"{ind}if {fv} is _MISSING:")
        stmts.append(f"{ind}    {ov} = None")
        stmts.append(f"{ind}else:")
        conv_i = self._field(sub, fv, here, kname, stmts, ind + "    ", ptr)
        stmts.append(f"{ind}    {ov} = {conv_i}")
        return stmts, ov, None, conv_i != fv

    def _field(
        self, sub: Any, fv: str, here: str, kname: str, out: list[str], ind: str, ptr: str
    ) -> str:
        """`leaf` for a field of a record; a date field keeps its text when `raw_dates`."""
        if not self.raw_dates or not self.exact(sub, ptr):
            return self.leaf(sub, fv, here, kname, out, ind, ptr)
        t = T.schema_type(sub, self.root, ptr)
        if T.strip(t) != T.DATE:
            return self.leaf(sub, fv, here, kname, out, ind, ptr)
        # checked as `_date` converts it (the same errors), the text kept
        test = f"{fv}.__class__ is not str or _date_seen({fv}) is None"
        if isinstance(t, T.OptT):
            test = f"{fv} is not None and ({test})"
        out.append(f"{ind}if {test}: _conv_date({fv}, {here}, {kname})")
        return fv

    def _flat_record(self, schema: Any, ptr: str) -> bool:
        """A record (never null) whose fields hold no list, record or map."""
        if schema is True or schema == {}:
            return False
        s, nullable = T.split_nullable(schema, self.root, ptr)
        t = T.schema_type(schema, self.root, ptr)
        if nullable or not isinstance(t, T.RecordT):
            return False
        return not any(
            isinstance(
                T.strip(T.schema_type(sub, self.root, f"{ptr}/properties/{n}")),
                T.ListT | T.RecordT | T.MapT,
            )
            for n, sub in s.get("properties", {}).items()
        )

    def _quick_ok(self, schema: Any, x: str, ptr: str) -> str | None:
        """For a value that is only checked, never converted: a condition that holds exactly
        when `leaf` would accept it (None for anything else)."""
        if schema is True or schema == {} or not self.exact(schema, ptr):
            return None
        s, nullable = T.split_nullable(schema, self.root, ptr)
        t = T.strip(T.schema_type(schema, self.root, ptr))
        if t == T.BOOL:
            test = f"{x}.__class__ is bool"
        elif isinstance(t, T.EnumT):
            test = f"({x}.__class__ is str and {x} in {self.const(frozenset(t.values))})"
        elif t == T.STRING and not {"pattern", "minLength", "maxLength"} & s.keys():
            test = f"{x}.__class__ is str"
        elif t == T.INT and not {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & (
            s.keys()
        ):
            test = f"{x}.__class__ is int"
        else:
            return None
        return f"({x} is None or {test})" if nullable else test


# The input converter's method for each type: scalar types by value, the others by their class.
_WRITERS: dict[Any, Callable[[_Gen, _Spot], str]] = {
    T.MONEY: _Gen._money,
    T.DECIMAL: _Gen._decimal,
    T.DATE: _Gen._date,
    T.DATETIME: _Gen._datetime,
    T.ZONE: _Gen._zone,
    T.BOOL: _Gen._bool,
    T.INT: _Gen._int,
    T.STRING: _Gen._string,
    T.EnumT: _Gen._enum,
    T.ListT: _Gen._list,
    T.MapT: _Gen._map,
    T.RecordT: _Gen._record,
}


def build_input_converter(
    schema: dict[str, Any], with_paths: bool = False, raw_dates: bool = False
) -> Any:
    """A function `convert(json_value) -> run-time value` that raises `InputError`. With
    `raw_dates` (for a program where `raw_dates_safe` holds), the date fields of records keep
    their text, and records and lists with nothing else to convert are the input's own."""
    if not schema:
        return lambda v: v
    g = _Gen(schema, with_paths, raw_dates)
    body: list[str] = []
    out = g.leaf(schema, "v", "None", "'$'", body, "    ", "")
    src = "\n".join([*g.lines, "def convert(v):", *body, f"    return {out}", ""])
    ns = dict(g.ns)
    exec(compile(src, "<clausewise input converter>", "exec"), ns)
    return ns["convert"]


def _holds_dated_record(t: T.Type) -> bool:
    """Whether a value of type `t` is or holds a record with a date field."""
    t = T.strip(t)
    if isinstance(t, T.ListT):
        return _holds_dated_record(t.elem)
    if isinstance(t, T.MapT):
        return _holds_dated_record(t.value)
    if isinstance(t, T.RecordT):
        return any(T.strip(ft) == T.DATE or _holds_dated_record(ft) for _n, ft in t.fields)
    return False


def _compares_dated_records(node: Expr) -> bool:
    """Whether `node` compares or hashes whole values that hold records with date fields
    (`==`, `in`, `distinct`, `unique`, or a `group` key)."""
    if isinstance(node, Compare):
        return _holds_dated_record(node.left.type) or _holds_dated_record(node.right.type)
    if isinstance(node, Member):
        return _holds_dated_record(node.item.type) or _holds_dated_record(node.container.type)
    if isinstance(node, Comp):
        agg, elem, by = node.agg, node.elem, node.by
        looked_at = [by] if by is not None else [elem] if agg in ("distinct", "unique") else []
        return agg in ("distinct", "unique", "group") and any(
            _holds_dated_record(n.type) for n in looked_at
        )
    return False


def raw_dates_safe(prog: Program) -> bool:
    """Whether the decisions of `prog` may see the date fields of input records as their text
    (`build_input_converter(raw_dates=True)`): every read of a date field goes through
    `DATES` (the compiler writes it so), and the output writer and `to_json` write a date's
    text as it is; what remains is an operation comparing or hashing whole records, where a
    record of the input (text) could meet one the policy built (a date), and a reason that
    shows a whole record. A program with none of those (most: records are filtered, counted,
    grouped by a field) is safe."""
    roots: list[Any] = [d.body for d in prog.definitions.values()]
    roots += [f.body for f in prog.functions.values()]
    roots += [(r.fors, r.cond) for r in prog.requirements]
    roots += [i.body for i in prog.invariants]
    roots += [m.placeholders for m in prog.rules]
    roots.append(prog.output)
    if any(_holds_dated_record(n.type) for m in prog.rules for n in m.placeholders):
        return False  # a reason shows a whole record's fields as they are
    stack = roots
    while stack:
        x = stack.pop()
        if isinstance(x, Expr):
            if _compares_dated_records(x):
                return False
            stack.extend(children(x))  # type: ignore[arg-type]
        elif isinstance(x, tuple | list):
            stack.extend(x)
    return True


# ---- output -----------------------------------------------------------------------------


# An integer the output can hold: 4,000 digits (JSON writers refuse longer ones).
INT_LIMIT = 10**4000
INT_FLOOR = -INT_LIMIT  # (negating the limit at each test would copy its 4,000 digits)


def int_too_large() -> Any:
    raise EvaluationError(
        "number_out_of_range", "an integer of more than 4,000 digits cannot be written"
    )


def fmt_date(x: Any) -> str:
    """A date, or a date field of an input record kept as its (checked) text."""
    return x if x.__class__ is str else x.isoformat()


def fmt_datetime(x: dt.datetime) -> str:
    return x.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def fmt_money(m: Money) -> dict[str, str]:
    return {
        "amount": str(m.amount.quantize(CENT, rounding=ROUND_HALF_EVEN, context=CTX)),
        "currency": m.currency,
    }


def fmt_decimal(x: Any) -> str:
    """A decimal in plain notation (`0.0000001`, never `1E-7`), as the decimal pattern wants."""
    return format(x, "f") if isinstance(x, Decimal) else str(x)


_quantize = CTX.quantize  # (rounds half-even, as the exact context does)


def fmt_rate(x: Decimal) -> str:
    if x.__class__ is Decimal:
        return str(_quantize(x, RATE_Q))
    return str(Decimal(x).quantize(RATE_Q, rounding=ROUND_HALF_EVEN, context=CTX))


def fmt_duration(d: dt.timedelta) -> str:
    """A duration in ISO 8601 (`P3D`, `PT3H`, `P1DT2H30M`, `PT0.5S`, `-PT3H`): days are the
    language's days (24 hours on an instant), so no part is ever months or years."""
    sign = "-" if d < dt.timedelta(0) else ""
    d = abs(d)
    hours, rest = divmod(d.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if seconds or d.microseconds:
        frac = f".{d.microseconds:06d}".rstrip("0") if d.microseconds else ""
        time += f"{seconds}{frac}S"
    days = f"{d.days}D" if d.days else ""
    if not days and not time:
        return "PT0S"
    return f"{sign}P{days}" + (f"T{time}" if time else "")


def to_json(x: Any) -> Any:
    """Any run-time value as JSON (for traces and untyped output)."""
    if isinstance(x, Money):
        return fmt_money(x)
    if isinstance(x, dt.datetime):
        return fmt_datetime(x)
    if isinstance(x, dt.date):
        return x.isoformat()
    if isinstance(x, Decimal):
        return fmt_decimal(x)
    if isinstance(x, Range):
        return {"start": to_json(x.start), "end": to_json(x.end), "end_included": not x.half_open}
    if isinstance(x, dt.timedelta):
        return fmt_duration(x)
    if isinstance(x, dict):
        return {k: to_json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_json(v) for v in x]
    if isinstance(x, int) and not INT_FLOOR < x < INT_LIMIT:
        int_too_large()
    if x is None or isinstance(x, bool | int | str):
        return x
    return str(x)


class _OutGen:
    """Generates the output writer. The schema says how each value is written; where it says
    nothing (`{}`, `true`, no schema at all) the value's static type does, so that a decimal
    is written as a decimal string also when it holds a whole number (`least(1, 2.5)`)."""

    def __init__(self, root: dict[str, Any]):
        self.root = root
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {
            "_fmt_date": fmt_date,
            "_fmt_datetime": fmt_datetime,
            "_fmt_money": fmt_money,
            "_fmt_rate": fmt_rate,
            "_fmt_decimal": fmt_decimal,
            "_to_json": to_json,
            "_INT_LIMIT": INT_LIMIT,
            "_INT_FLOOR": INT_FLOOR,
            "_int_too_large": int_too_large,
        }
        self.n = 0
        self.memo: dict[tuple[int, T.Type | None], str] = {}
        # the schemas memoised by id are kept alive: a `$ref` resolves to a new dict each time,
        # and the id of a freed dict can be reused by another schema
        self.alive: list[Any] = []

    def _new_fn(self, schema: Any, st: T.Type | None) -> tuple[str, bool]:
        key = (id(schema), st)
        if key in self.memo:
            return self.memo[key], False
        self.n += 1
        name = f"_w{self.n}"
        self.memo[key] = name
        self.alive.append(schema)
        return name, True

    def fn(self, schema: Any, ptr: str, st: T.Type | None = None) -> str:
        name, new = self._new_fn(schema, st)
        if new:
            expr = self.expr(schema, "v", ptr, st)
            self.lines.append(f"def {name}(v):")
            self.lines.append(f"    return {expr}")
        return name

    def expr(self, schema: Any, x: str, ptr: str, st: T.Type | None = None) -> str:
        if schema is True or schema == {}:
            return self.static(st, x) if st is not None else f"_to_json({x})"
        s, nullable = T.split_nullable(schema, self.root, ptr)
        t = T.strip(T.schema_type(schema, self.root, ptr))
        inner = self._nonnull(s, t, x, ptr, T.strip(st) if st is not None else None)
        if nullable and inner != x:
            return f"(None if {x} is None else {inner})"
        return inner

    def static(self, t: T.Type, x: str) -> str:
        """How a value of static type `t` is written when no schema says."""
        inner = self._nonnull({}, T.strip(t), x, "", T.strip(t))
        if isinstance(t, T.OptT) and inner != x:
            return f"(None if {x} is None else {inner})"
        return inner

    def _nonnull(
        self, s: dict[str, Any], t: T.Type, x: str, ptr: str, st: T.Type | None = None
    ) -> str:
        fmt = s.get("format")
        if t == T.MONEY:
            return f"_fmt_money({x})"
        if fmt == "rate":
            return f"_fmt_rate({x})"
        if t == T.DECIMAL:
            return f"_fmt_decimal({x})"
        if t == T.DATE:
            return f"_fmt_date({x})"
        if t == T.DATETIME:
            return f"_fmt_datetime({x})"
        if t == T.ZONE:
            return f"str({x})"
        if t == T.INT:
            # (JSON libraries, Python's among them, refuse integers past ~4,300 digits)
            return f"({x} if _INT_FLOOR < {x} < _INT_LIMIT else _int_too_large())"
        if t in (T.BOOL, T.STRING) or isinstance(t, T.EnumT):
            return x
        if isinstance(t, T.ListT):
            items = s.get("items", True)
            elem = st.elem if isinstance(st, T.ListT) else None
            probe = self.expr(items, "_x", ptr + "/items", elem)
            if probe == "_x":
                return f"list({x})"
            f = self.fn(items, ptr + "/items", elem)
            return f"[{f}(_x) for _x in {x}]"
        if isinstance(t, T.MapT):
            value = st.value if isinstance(st, T.MapT) else None
            extra = s.get("additionalProperties", True)
            f = self.fn(extra, ptr + "/additionalProperties", value)
            return f"{{_k: {f}(_x) for _k, _x in {x}.items()}}"
        if isinstance(t, T.RecordT):
            f = self._record_fn(s, ptr, st if isinstance(st, T.RecordT) else None)
            return f"{f}({x})"
        if isinstance(t, T.RangeT):  # no schema describes a range: its ends go by their type
            f = self.fn(True, ptr, t.elem)
            return (
                f'{{"start": {f}({x}.start), "end": {f}({x}.end), '
                f'"end_included": not {x}.half_open}}'
            )
        return f"_to_json({x})"

    def _record_fn(self, s: dict[str, Any], ptr: str, st: T.RecordT | None) -> str:
        name, new = self._new_fn(s, st)
        if not new:
            return name
        parts = []
        props = s.get("properties")
        if props is None and st is not None:  # no schema: the fields of the static type
            props = {k: {} for k, _t in st.fields}
        for k, sub in (props or {}).items():
            ft = st.field(k) if st is not None else None
            parts.append(f"{k!r}: {self.expr(sub, f'v[{k!r}]', f'{ptr}/properties/{k}', ft)}")
        self.lines.append(f"def {name}(v):")
        self.lines.append(f"    return {{{', '.join(parts)}}}")
        return name


def build_output_writer(schema: dict[str, Any], static: T.Type | None = None) -> Any:
    """A function `write(run-time value) -> JSON value` following the output schema's formats,
    and where the schema says nothing, the output's static type `static` (when known)."""
    if not schema and static is None:
        return to_json
    g = _OutGen(schema)
    expr = g.expr(schema, "v", "", static)
    src = "\n".join([*g.lines, "def write(v):", f"    return {expr}", ""])
    ns = dict(g.ns)
    exec(compile(src, "<clausewise output writer>", "exec"), ns)
    # `write` that only calls one function is that function
    inner = expr.removesuffix("(v)")
    if inner != expr and inner.isidentifier() and callable(ns.get(inner)):
        return ns[inner]
    return ns["write"]
