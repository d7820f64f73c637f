"""The language's types, how they combine, and how JSON Schemas map onto them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Type:
    """A type. Scalars are instances of this class; structured types are subclasses."""

    name: str

    def __str__(self) -> str:
        return self.name


BOOL = Type("bool")
INT = Type("int")
DECIMAL = Type("decimal")
STRING = Type("string")
DATE = Type("date")
DATETIME = Type("datetime")
LOCAL_DATETIME = Type("local_datetime")
MONEY = Type("money")
DURATION = Type("duration")  # days, hours, minutes, seconds
MONTHS = Type("months")  # calendar months, for dates
ZONE = Type("zone")
NULL = Type("null")
ANY = Type("any")  # unknown: only for definitions no caller instantiates
NEVER = Type("never")  # the element type of `[]`

SCALARS = {
    t.name: t
    for t in (BOOL, INT, DECIMAL, STRING, DATE, DATETIME, MONEY, DURATION, MONTHS, ZONE, ANY)
}


@dataclass(frozen=True, slots=True)
class EnumT(Type):
    """A string restricted to known values (from the schema's `enum`)."""

    values: tuple[str, ...] = ()
    closed: bool = True  # from a schema: other values are errors; literals make open enums

    def __str__(self) -> str:
        if not self.closed and len(self.values) == 1:
            return "string"
        return "enum{" + ", ".join(f'"{v}"' for v in self.values) + "}"


@dataclass(frozen=True, slots=True)
class ListT(Type):
    elem: Type = NEVER

    def __str__(self) -> str:
        return f"list[{self.elem}]"


@dataclass(frozen=True, slots=True)
class MapT(Type):
    """An object with string keys chosen at run time (e.g. one entry per product line)."""

    value: Type = ANY

    def __str__(self) -> str:
        return f"map[{self.value}]"


@dataclass(frozen=True, slots=True)
class RecordT(Type):
    fields: tuple[tuple[str, Type], ...] = ()

    def field(self, name: str) -> Type | None:
        for k, t in self.fields:
            if k == name:
                return t
        return None

    def __str__(self) -> str:
        inner = ", ".join(f"{k}: {t}" for k, t in self.fields)
        return "{" + (inner if len(inner) < 80 else inner[:77] + "...") + "}"


@dataclass(frozen=True, slots=True)
class RangeT(Type):
    elem: Type = ANY

    def __str__(self) -> str:
        return f"range[{self.elem}]"


@dataclass(frozen=True, slots=True)
class OptT(Type):
    """`T?`: a value of T, or null."""

    inner: Type = ANY

    def __str__(self) -> str:
        return f"{self.inner}?"


def list_of(t: Type) -> ListT:
    return ListT("list", t)


def map_of(t: Type) -> MapT:
    return MapT("map", t)


def record(fields: list[tuple[str, Type]] | tuple[tuple[str, Type], ...]) -> RecordT:
    return RecordT("record", tuple(fields))


def range_of(t: Type) -> RangeT:
    return RangeT("range", t)


def enum(values: list[str] | tuple[str, ...], closed: bool = True) -> EnumT:
    return EnumT("string", tuple(values), closed)


def opt(t: Type) -> Type:
    """`t?`, flattening `t??` and `null?`."""
    if isinstance(t, OptT) or t in (NULL, ANY):
        return t
    return OptT("opt", t)


def strip(t: Type) -> Type:
    """The type without its nullability."""
    return t.inner if isinstance(t, OptT) else t


def is_nullable(t: Type) -> bool:
    return isinstance(t, OptT) or t == NULL


def is_string(t: Type) -> bool:
    return t == STRING or isinstance(t, EnumT)


def is_numeric(t: Type) -> bool:
    return t in (INT, DECIMAL)


def is_orderable(t: Type) -> bool:
    """Types `<` works on."""
    return t in (INT, DECIMAL, MONEY, DATE, DATETIME, STRING, DURATION) or isinstance(t, EnumT)


def unify(a: Type, b: Type) -> Type | None:
    """The least type both `a` and `b` fit into, or None when they do not mix."""
    if a == b:
        return a
    if a == ANY or b == ANY:
        return ANY
    if a == NEVER:
        return b
    if b == NEVER:
        return a
    if a == NULL:
        return opt(b)
    if b == NULL:
        return opt(a)
    if isinstance(a, OptT) or isinstance(b, OptT):
        inner = unify(strip(a), strip(b))
        return opt(inner) if inner is not None else None
    if is_numeric(a) and is_numeric(b):
        return DECIMAL
    if isinstance(a, EnumT) and isinstance(b, EnumT):
        return enum(tuple(dict.fromkeys(a.values + b.values)), a.closed and b.closed)
    if is_string(a) and is_string(b):
        return STRING
    if isinstance(a, ListT) and isinstance(b, ListT):
        elem = unify(a.elem, b.elem)
        return list_of(elem) if elem is not None else None
    if isinstance(a, MapT) and isinstance(b, MapT):
        value = unify(a.value, b.value)
        return map_of(value) if value is not None else None
    if isinstance(a, RangeT) and isinstance(b, RangeT):
        elem = unify(a.elem, b.elem)
        return range_of(elem) if elem is not None else None
    if isinstance(a, RecordT) and isinstance(b, RecordT):
        if sorted(k for k, _ in a.fields) != sorted(k for k, _ in b.fields):
            return None
        fields = []
        for k, ta in a.fields:
            tb = b.field(k)
            u = unify(ta, tb) if tb is not None else None
            if u is None:
                return None
            fields.append((k, u))
        return record(fields)
    return None


def has_decimal(t: Type) -> bool:
    """Whether a value of type `t` holds a decimal (itself, or in a list, map or record)."""
    t = strip(t)
    if t == DECIMAL:
        return True
    if isinstance(t, ListT):
        return has_decimal(t.elem)
    if isinstance(t, MapT):
        return has_decimal(t.value)
    if isinstance(t, RecordT):
        return any(has_decimal(ft) for _k, ft in t.fields)
    return False


def erases_decimal(actual: Type, used_as: Type) -> bool:
    """Whether a value of type `actual`, used as a value of type `used_as` (a type `unify` gave
    it), has a decimal where `used_as` has `any`: a type the value's form then no longer says."""
    actual, used_as = strip(actual), strip(used_as)
    if used_as == ANY:
        return has_decimal(actual)
    if isinstance(actual, ListT) and isinstance(used_as, ListT):
        return erases_decimal(actual.elem, used_as.elem)
    if isinstance(actual, MapT) and isinstance(used_as, MapT):
        return erases_decimal(actual.value, used_as.value)
    if isinstance(actual, RecordT) and isinstance(used_as, RecordT):
        return any(erases_decimal(ft, used_as.field(k) or ANY) for k, ft in actual.fields)
    return False


def assignable(actual: Type, expected: Type) -> bool:
    """Whether a value of `actual` may stand where `expected` is required."""
    if actual == expected or expected == ANY or actual in (ANY, NEVER):
        return True
    if actual == NULL:
        return is_nullable(expected)
    if isinstance(expected, OptT):
        return assignable(strip(actual), expected.inner)
    if isinstance(actual, OptT):
        return False
    if actual == INT and expected == DECIMAL:
        return True
    if isinstance(actual, EnumT):
        if isinstance(expected, EnumT):
            return set(actual.values) <= set(expected.values)
        return expected == STRING
    if isinstance(actual, ListT) and isinstance(expected, ListT):
        return assignable(actual.elem, expected.elem)
    if isinstance(actual, MapT) and isinstance(expected, MapT):
        return assignable(actual.value, expected.value)
    if isinstance(actual, RecordT) and isinstance(expected, RecordT):
        have = dict(actual.fields)
        return all(k in have and assignable(have[k], t) for k, t in expected.fields)
    return False


# ---- JSON Schema -> type ---------------------------------------------------------------

ANNOTATIONS = {
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentEncoding",  # content keywords only annotate in draft 2020-12
    "contentMediaType",
    "contentSchema",
}
# Keywords that only narrow which values are valid: they take no part in a value's type and
# are checked as JSON Schema says (by the validator behind the typed conversion).
VALIDATION_ONLY = {
    "multipleOf",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "minProperties",
    "maxProperties",
    "dependentRequired",
    "dependentSchemas",
    "propertyNames",
    "allOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
}
SUPPORTED = (
    ANNOTATIONS
    | VALIDATION_ONLY
    | {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "additionalProperties",
        "$ref",
        "anyOf",
    }
)


# formats that give a value its type in a policy, and the other formats draft 2020-12 defines
# (annotations): any other name is a mistake (`"data"` for `"date"`), not a plain string
TYPED_FORMATS = ("date", "date-time", "decimal", "rate", "money", "time-zone")
FORMATS = frozenset(
    {
        *TYPED_FORMATS,
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    }
)


class SchemaError(Exception):
    """The schema uses something clausewise cannot type or validate; `pointer` says where."""

    def __init__(self, pointer: str, message: str):
        self.pointer = pointer
        self.message = message
        super().__init__(f"{pointer or '/'}: {message}")


def resolve_ref(root: dict[str, Any], ref: str, pointer: str) -> dict[str, Any]:
    """Follow a local `$ref` (`#/$defs/money`)."""
    if not ref.startswith("#"):
        raise SchemaError(pointer, f"only local references (#/...) are supported, not {ref!r}")
    node: Any = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise SchemaError(pointer, f"reference {ref!r} does not resolve")
        node = node[part]
    if not isinstance(node, dict):
        raise SchemaError(pointer, f"reference {ref!r} is not a schema")
    return node


def split_nullable(
    schema: dict[str, Any], root: dict[str, Any], pointer: str
) -> tuple[dict[str, Any], bool]:
    """A schema without its null alternative, and whether null was allowed."""
    while "$ref" in schema:
        extra = {k: v for k, v in schema.items() if k != "$ref" and k not in ANNOTATIONS}
        schema = {**resolve_ref(root, schema["$ref"], pointer), **extra}
    if "anyOf" in schema:
        alts = schema["anyOf"]
        nulls = [a for a in alts if a == {"type": "null"}]
        rest = [a for a in alts if a != {"type": "null"}]
        if len(rest) != 1 or len(nulls) > 1:
            # alternatives only narrow what the rest of the schema allows: they are checked as
            # JSON Schema says, and the type is the rest's (`any` when it says nothing)
            return split_nullable({k: v for k, v in schema.items() if k != "anyOf"}, root, pointer)
        inner, inner_null = split_nullable(rest[0], root, pointer + "/anyOf/0")
        merged = {k: v for k, v in schema.items() if k != "anyOf"}
        merged.update(inner)
        return merged, bool(nulls) or inner_null
    t = schema.get("type")
    if isinstance(t, list) and "null" in t:
        rest_types = [x for x in t if x != "null"]
        s2 = dict(schema)
        s2["type"] = rest_types[0] if len(rest_types) == 1 else rest_types
        enum_vals = schema.get("enum")
        if enum_vals is not None:
            s2["enum"] = [v for v in enum_vals if v is not None]
        return s2, True
    return schema, False


# keywords whose value is a schema, an object of schemas, or a list of schemas (draft 2020-12)
_IN_ONE = (
    "items",
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
_IN_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_IN_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")


def subschemas(schema: Any) -> Iterator[tuple[str, Any]]:
    """Every schema in `schema` (itself first, then what it holds) with its JSON pointer."""
    stack = [("", schema)]
    while stack:
        here, s = stack.pop()
        yield here, s
        if not isinstance(s, dict):
            continue
        for kw in _IN_ONE:
            if kw in s:
                stack.append((f"{here}/{kw}", s[kw]))
        for kw in _IN_MAP:
            if isinstance(s.get(kw), dict):
                for k, v in s[kw].items():
                    stack.append((f"{here}/{kw}/{k.replace('~', '~0').replace('/', '~1')}", v))
        for kw in _IN_LIST:
            if isinstance(s.get(kw), list):
                for i, v in enumerate(s[kw]):
                    stack.append((f"{here}/{kw}/{i}", v))


def check_keywords(schema: Any) -> None:
    """Raise `SchemaError` at the first subschema (anywhere, typed or not, referenced or not)
    that uses a keyword clausewise does not validate."""
    for pointer, s in subschemas(schema):
        if s is True or s is False:
            continue
        if not isinstance(s, dict):
            raise SchemaError(pointer, "a schema must be an object")
        # `x-...` keywords are the conventional place for a tool's own annotations
        unknown = sorted(k for k in set(s) - SUPPORTED if not k.startswith("x-"))
        if unknown:
            raise SchemaError(f"{pointer}/{unknown[0]}", f"unsupported keyword {unknown[0]!r}")
        fmt = s.get("format")
        if isinstance(fmt, str) and fmt not in FORMATS:
            from .diagnostics import did_you_mean

            hint = did_you_mean(fmt, sorted(FORMATS))
            raise SchemaError(
                f"{pointer}/format",
                f"unknown format {fmt!r}"
                + (f": {hint}" if hint else "")
                + f" (clausewise types {', '.join(TYPED_FORMATS)}; the other draft 2020-12 "
                "formats are annotations)",
            )
        if pointer and "$id" in s:
            # references are JSON pointers from the document's root: a nested `$id` would move
            # the base they are resolved against
            raise SchemaError(f"{pointer}/$id", "`$id` is supported only at the schema's root")


def schema_type(
    schema: Any, root: dict[str, Any] | None = None, pointer: str = "", absent_is_null: bool = True
) -> Type:
    """The language type of values valid under `schema`.

    With `absent_is_null` (reading input), a property the schema does not require is nullable:
    it is null when absent. Without it (checking output), every property must be given a value.
    """
    if root is None:
        root = schema
    if schema is True or schema == {}:
        return ANY
    if not isinstance(schema, dict):
        raise SchemaError(pointer, "a schema must be an object")
    if not pointer:
        check_keywords(schema)
    s, nullable = split_nullable(schema, root, pointer)
    t = _base_type(s, root, pointer, absent_is_null)
    return opt(t) if nullable else t


def _base_type(s: dict[str, Any], root: dict[str, Any], pointer: str, absent_is_null: bool) -> Type:
    fmt = s.get("format")
    types = s.get("type")
    if fmt == "money":
        return MONEY
    if fmt in ("decimal", "rate"):
        return DECIMAL
    if fmt == "date":
        return DATE
    if fmt == "date-time":
        return DATETIME
    if fmt == "time-zone":
        return ZONE
    if isinstance(types, list):
        if sorted(types) == ["integer", "number"]:
            types = "number"
        else:
            raise SchemaError(pointer, f"a union of types {types} needs a format (decimal, rate)")
    if "enum" in s and (types in (None, "string")):
        values = s["enum"]
        if types is None and not all(isinstance(v, str) for v in values):
            return ANY  # values of several JSON types: checked as JSON Schema says, not typed
        return enum([v for v in values if isinstance(v, str)])
    if types == "string":
        return STRING
    if types == "boolean":
        return BOOL
    if types == "integer":
        return INT
    if types == "number":
        raise SchemaError(
            pointer,
            'JSON numbers are not exact: use {"type": ["string", "integer"], "format": "decimal"}',
        )
    if types == "array":
        return list_of(schema_type(s.get("items", True), root, pointer + "/items", absent_is_null))
    if types == "object":
        props = s.get("properties")
        if props is None:
            extra = s.get("additionalProperties", True)
            return map_of(
                schema_type(extra, root, pointer + "/additionalProperties", absent_is_null)
            )
        # a property the schema does not require is null when it is absent
        required = set(s.get("required", ())) if absent_is_null else set(props)
        return record(
            [
                (k, t if k in required else opt(t))
                for k, t in (
                    (k, schema_type(v, root, f"{pointer}/properties/{k}", absent_is_null))
                    for k, v in props.items()
                )
            ]
        )
    if types is None:
        return ANY
    raise SchemaError(pointer, f"unsupported type {types!r}")
