"""Test data changed a little: policy texts with characters deleted, inserted or duplicated (the
parser must fail cleanly on them) and valid inputs with one bad field (it must be reported at its
own path, with the code the contract gives)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.generators.policies import SAMPLE_POLICY, TOKENS

ROOT = Path(__file__).resolve().parent.parent.parent


# ---- policy texts --------------------------------------------------------------------------


def shipped_policies() -> list[tuple[Path, Path]]:
    """Every shipped policy file (benchmarks' and `policies/`), with the folder it is under."""
    out: list[tuple[Path, Path]] = []
    for root in (ROOT / "bench" / "policies", ROOT / "policies"):
        if root.is_dir():
            out.extend((p, root) for p in sorted(root.rglob("*.cw")))
    return out


@st.composite
def mutated_policies(draw: st.DrawFn, extra: tuple[str, ...] = ()) -> str:
    """A sample or shipped policy (or one of `extra`) with a few characters deleted, inserted,
    duplicated, or the text cut short."""
    sources = [SAMPLE_POLICY, *extra]
    sources += [p.read_text() for p, _root in shipped_policies()[:6]]
    text = draw(st.sampled_from(sources))
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        how = draw(st.sampled_from(["delete", "insert", "insert", "truncate", "duplicate"]))
        if how == "delete":
            j = draw(st.integers(i, min(n, i + 12)))
            text = text[:i] + text[j:]
        elif how == "insert":
            token = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)))
            text = text[:i] + token + text[i:]
        elif how == "truncate":
            text = text[:i]
        else:
            j = draw(st.integers(i, min(n, i + 30)))
            text = text[:j] + text[i:j] + text[j:]
    return text


# ---- inputs ----------------------------------------------------------------------------------


def resolve_schema(schema: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Follow a local $ref and unwrap an or-null anyOf; return (schema, nullable)."""
    if "$ref" in schema:
        return resolve_schema(root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root)
    if "anyOf" in schema:
        (branch,) = [b for b in schema["anyOf"] if b != {"type": "null"}]
        return resolve_schema(branch, root)[0], True
    types = schema.get("type", [])
    return schema, "null" in (types if isinstance(types, list) else [types])


def schema_fields(
    schema: dict[str, Any], root: dict[str, Any], value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any], bool, bool]]:
    """Every field of a valid ``value``: (path, schema, nullable, is_a_record_field)."""
    if value is None:
        return
    if "properties" in schema:
        for name in schema["required"]:
            sub, nullable = resolve_schema(schema["properties"][name], root)
            yield (*path, name), sub, nullable, True
            yield from schema_fields(sub, root, value[name], (*path, name))
    if "items" in schema:
        sub, nullable = resolve_schema(schema["items"], root)
        for i, item in enumerate(value):
            yield (*path, i), sub, nullable, False
            yield from schema_fields(sub, root, item, (*path, i))


def field_mutations(
    schema: dict[str, Any], nullable: bool, in_record: bool
) -> list[tuple[Any, str]]:
    """(bad value, expected error code) for a field; ``DELETE`` removes the field."""
    types = schema.get("type", [])
    types = types if isinstance(types, list) else [types]
    out: list[tuple[Any, str]] = []
    if in_record:
        out.append((DELETE, "missing_field"))
    if not nullable:
        out.append((None, "null_not_allowed"))
    if "object" in types:
        out.append(([], "wrong_type"))
    elif "array" in types:
        out.append(({}, "wrong_type"))
    elif "boolean" in types:
        out.append(("true", "wrong_type"))
    elif "integer" in types and "string" in types:
        out += [
            (1.5, "wrong_type"),
            (100.0, "wrong_type"),
            (False, "wrong_type"),
            (-3, "negative_value"),
            ("-1", "invalid_format"),
            ("1e3", "invalid_format"),
            (" 1", "invalid_format"),
            ("1.", "invalid_format"),
            (".5", "invalid_format"),
            ("+1", "invalid_format"),
            ("1,5", "invalid_format"),
        ]
    elif "integer" in types:
        out += [("30", "wrong_type"), (30.0, "wrong_type"), (-1, "negative_value")]
    elif "string" in types:
        out.append((7, "wrong_type"))
    if "enum" in schema:
        out.append(("not_a_known_value", "unknown_enum_value"))
    if schema.get("format") == "date-time":
        out += [
            ("2022-10-05T16:30:00", "datetime_without_offset"),
            ("2022-10-05T16:30", "datetime_without_offset"),
            ("2022-10-05T24:30:00Z", "invalid_datetime"),
            ("2022-02-29T16:30:00Z", "invalid_datetime"),
            ("2022-10-05T16:30:00+24:00", "invalid_datetime"),
            ("2022-10-05t16:30:00z", "invalid_datetime"),
            ("2022-10-05", "invalid_datetime"),
        ]
    if schema.get("format") == "time-zone":
        out += [("Mars/Olympus", "unknown_time_zone"), ("asia/bangkok", "unknown_time_zone")]
    if schema.get("minLength") == 1:
        out.append(("", "empty_string"))
    return out


DELETE = object()


def mutate(data: Any, path: tuple[str | int, ...], bad: Any) -> Any:
    data = copy.deepcopy(data)
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    if bad is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = bad
    return data
