"""Schemas cannot hang or break `check` or the engine, and decision input is validated as its
schema says: reference cycles, patterns RE2 cannot take, non-finite numbers, keywords the typed
conversion does not read by itself, and decimal strings too long to compute with."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clausewise import Engine, InputError
from clausewise.engine.codec import IMPLIED_PATTERNS, conv_datetime, conv_decimal
from clausewise.engine.patterns import compile_pattern

POLICY = """\
policy "shop/fees"
version "1.0.0"
title "Fees"
source "F1"
input schema "input.schema.json"
output schema "output.schema.json"

output {
  ok: true,
}
"""
OUTPUT = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def write_policy(root: Path, input_schema: Any, text: str | None = None) -> Path:
    folder = root / "shop" / "fees"
    folder.mkdir(parents=True, exist_ok=True)
    schema_text = text if text is not None else json.dumps(input_schema, indent=2)
    (folder / "input.schema.json").write_text(schema_text, encoding="utf-8")
    (folder / "output.schema.json").write_text(json.dumps(OUTPUT), encoding="utf-8")
    (folder / "1.0.0.cw").write_text(POLICY, encoding="utf-8")
    return folder / "input.schema.json"


def check(root: Path) -> tuple[int, str]:
    """`clausewise check` as a user runs it; bounded, so a hang fails instead of blocking."""
    done = subprocess.run(
        [sys.executable, "-m", "clausewise.cli", "check", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def engine_for(tmp_path: Path, properties: dict[str, Any], **extra: Any) -> Engine:
    write_policy(tmp_path, {"type": "object", "properties": properties, **extra})
    return Engine.from_directory(tmp_path)


def input_error(engine: Engine, data: Any) -> InputError:
    for trace in ("off", "full"):
        with pytest.raises(InputError) as e:
            engine.evaluate("shop/fees", data, trace=trace)
    return e.value


# ---- reference cycles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "chain"),
    [
        (
            {"type": "object", "properties": {"q": {"$ref": "#/properties/q"}}},
            ["/properties/q"],
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"$ref": "#/properties/b"}, "b": {"$ref": "#/properties/a"}},
            },
            ["/properties/a", "/properties/b"],
        ),
        (
            {
                "type": "object",
                "properties": {"n": {"$ref": "#/$defs/node"}},
                "$defs": {
                    "node": {
                        "type": "object",
                        "properties": {
                            "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}
                        },
                    }
                },
            },
            ["/$defs/node/properties/kids/items"],
        ),
        (
            {"type": "object", "properties": {"self": {"$ref": "#"}}},
            ["/properties/self"],
        ),
        (
            {
                "$defs": {
                    "a": {"$ref": "#/$defs/b"},
                    "b": {"$ref": "#/$defs/c"},
                    "c": {"$ref": "#/$defs/a"},
                }
            },
            ["/$defs/a", "/$defs/b", "/$defs/c"],
        ),
    ],
)
def test_a_reference_cycle_is_a_diagnostic_naming_the_chain(
    tmp_path: Path, schema: dict[str, Any], chain: list[str]
) -> None:
    path = write_policy(tmp_path, schema)
    code, out = check(tmp_path)
    assert code == 1, out
    assert "error[ref-cycle]" in out, out
    for at in chain:
        assert f"{at} ($ref " in out, out
    # reported in the schema file, at a reference
    found = re.search(r"input\.schema\.json:(\d+):(\d+): error\[ref-cycle\]", out)
    assert found, out
    line, col = int(found[1]), int(found[2])
    text = path.read_text().splitlines()[line - 1]
    assert '"$ref"' in text and text[col - 1] == '"', (text, col)


def test_a_reference_cycle_is_refused_by_the_embedding_api(tmp_path: Path) -> None:
    from clausewise import PolicyError

    write_policy(tmp_path, {"type": "object", "properties": {"q": {"$ref": "#/properties/q"}}})
    with pytest.raises(PolicyError) as e:
        Engine.from_directory(tmp_path)
    assert "ref-cycle" in str(e.value)


# ---- patterns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^(a+)+$"},
        {"pattern": "^(a+)+$"},  # no type: checked by the JSON Schema validator
        {"type": "string", "pattern": "^(a|aa)*$", "const": "x"},
        {"type": "string", "pattern": "^(a*)*$", "minLength": 0, "enum": ["b"]},
    ],
)
def test_a_catastrophic_pattern_is_matched_in_linear_time(
    tmp_path: Path, schema: dict[str, Any]
) -> None:
    engine = engine_for(tmp_path, {"s": schema}, required=["s"])
    # 2^100 steps for a backtracking matcher: this returns only because RE2 does not backtrack
    e = input_error(engine, {"s": "a" * 100 + "!"})
    assert e.path == "/s"
    e = input_error(engine, {"s": "a" * 100_000 + "!"})
    assert e.path == "/s" and len(e.message) <= 300  # the message does not echo the input
    assert e.code in ("invalid_format", "invalid_value", "unknown_enum_value")


@pytest.mark.parametrize(
    ("pattern", "where"),
    [
        ("^(?=a)b", "/properties/s/pattern"),
        ("(a)\\1", "/properties/s/pattern"),
        ("(?<!x)y", "/properties/s/pattern"),
        ("a{1,5000}", "/properties/s/pattern"),
        ("[", "/properties/s/pattern"),  # not a regular expression in any dialect
    ],
)
def test_a_pattern_re2_cannot_take_is_a_diagnostic_at_its_place(
    tmp_path: Path, pattern: str, where: str
) -> None:
    path = write_policy(
        tmp_path, {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    )
    code, out = check(tmp_path)
    assert code == 1
    assert "error[unsupported-pattern]" in out and where in out, out
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if '"pattern"' in t)
    assert re.search(rf"input\.schema\.json:{line}:\d+: error\[unsupported-pattern\]", out), out


def test_ecma_spellings_re2_lacks_are_translated(tmp_path: Path) -> None:
    engine = engine_for(
        tmp_path,
        {
            "letters": {"type": "string", "pattern": "^\\p{Letter}+$"},
            "a": {"type": "string", "pattern": "^\\u0041$"},
            "tab": {"pattern": "^\\cI$"},
        },
    )
    assert engine.evaluate("shop/fees", {"letters": "héllo", "a": "A", "tab": "\t"}).output
    assert input_error(engine, {"letters": "h3llo"}).path == "/letters"
    assert input_error(engine, {"a": "B"}).path == "/a"
    assert input_error(engine, {"tab": "I"}).path == "/tab"


# ---- non-finite numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            '{"type": "object", "properties": {"n": {"type": "integer", "maximum": NaN}}}',
            "/properties/n/maximum",
        ),
        (
            '{"type": "object", "properties": {"n": {"type": "integer", "minimum": -Infinity}}}',
            "/properties/n/minimum",
        ),
        ('{"type": "object", "properties": {"n": {"const": Infinity}}}', "/properties/n/const"),
        ('{"type": "object", "$defs": {"d": {"enum": [1, NaN]}}}', "/$defs/d/enum/1"),
    ],
)
def test_non_finite_numbers_in_a_schema_are_a_diagnostic(
    tmp_path: Path, text: str, where: str
) -> None:
    write_policy(tmp_path, None, text=text)
    code, out = check(tmp_path)
    assert code == 1
    assert "error[non-finite-number]" in out and where in out, out
    assert re.search(r"input\.schema\.json:1:\d+: error\[non-finite-number\]", out), out


# ---- every keyword is enforced as JSON Schema says ---------------------------------------


@pytest.mark.parametrize(
    ("properties", "extra", "good", "bad", "path", "code"),
    [
        # bounds without `type` apply to values of their type only
        ({"n": {"maximum": 3}}, {}, [{"n": 3}, {"n": "big"}], {"n": 4}, "/n", "out_of_range"),
        (
            {"s": {"maxLength": 2}},
            {},
            [{"s": "ab"}, {"s": 100}],
            {"s": "abc"},
            "/s",
            "out_of_range",
        ),
        (
            {"l": {"maxItems": 1}},
            {},
            [{"l": [1]}, {"l": "xy"}],
            {"l": [1, 2]},
            "/l",
            "out_of_range",
        ),
        (
            {"s": {"pattern": "^a"}},
            {},
            [{"s": "ab"}, {"s": 1}],
            {"s": "ba"},
            "/s",
            "invalid_format",
        ),
        ({"c": {"const": 2}}, {}, [{"c": 2}, {}], {"c": True}, "/c", "invalid_value"),
        # `required` names that are not properties are required too
        (
            {"a": {"type": "integer"}},
            {"required": ["a", "b"]},
            [{"a": 1, "b": None}],
            {"a": 1},
            "/b",
            "missing_field",
        ),
        # `additionalProperties` beside `properties`
        (
            {"a": {"type": "integer"}},
            {"additionalProperties": False},
            [{"a": 1}, {}],
            {"a": 1, "z": 2},
            "/z",
            "unknown_field",
        ),
        (
            {"a": {"type": "integer"}},
            {"additionalProperties": {"type": "boolean"}},
            [{"a": 1, "z": True}],
            {"a": 1, "z": 2},
            "/z",
            "wrong_type",
        ),
        # a reference's siblings apply beside it
        (
            {"n": {"$ref": "#/$defs/small", "minimum": 2}},
            {"$defs": {"small": {"type": "integer", "maximum": 5}}},
            [{"n": 2}, {"n": 5}],
            {"n": 1},
            "/n",
            "out_of_range",
        ),
        (
            {"n": {"$ref": "#/$defs/small", "minimum": 2}},
            {"$defs": {"small": {"type": "integer", "maximum": 5}}},
            [{"n": 3}],
            {"n": 6},
            "/n",
            "out_of_range",
        ),
        # an enum of other values than strings
        (
            {"e": {"enum": [1, "a", None]}},
            {},
            [{"e": 1}, {"e": None}],
            {"e": 2},
            "/e",
            "unknown_enum_value",
        ),
        # null where the enum does not list it
        (
            {"e": {"type": ["string", "null"], "enum": ["a"]}},
            {},
            [{"e": "a"}],
            {"e": None},
            "/e",
            "unknown_enum_value",
        ),
        # nested, inside a list of records
        (
            {
                "xs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"k": {"maximum": 1}},
                        "required": ["k", "j"],
                    },
                }
            },
            {},
            [{"xs": [{"k": 1, "j": 0}]}],
            {"xs": [{"k": 1, "j": 0}, {"k": 1}]},
            "/xs/1/j",
            "missing_field",
        ),
    ],
)
def test_keywords_the_typed_conversion_does_not_read_are_enforced(
    tmp_path: Path,
    properties: dict[str, Any],
    extra: dict[str, Any],
    good: list[Any],
    bad: Any,
    path: str,
    code: str,
) -> None:
    engine = engine_for(tmp_path, properties, **extra)
    for data in good:
        assert engine.evaluate("shop/fees", data, trace="full").output == {"ok": True}
        assert engine.evaluate("shop/fees", data).output == {"ok": True}
    e = input_error(engine, bad)
    assert (e.path, e.code) == (path, code), e


def test_a_schema_without_type_is_not_read_as_a_record(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, {"r": {"properties": {"a": {"type": "integer"}}}})
    for value in (1, "s", [1], None, {"a": 1}):
        assert engine.evaluate("shop/fees", {"r": value}).output == {"ok": True}
    assert input_error(engine, {"r": {"a": "x"}}).path == "/r/a"


@pytest.mark.parametrize(
    ("properties", "good", "bad", "path", "code"),
    [
        ({"n": {"type": "integer", "multipleOf": 3}}, [{"n": 9}], {"n": 10}, "/n", "invalid_value"),
        (
            {"l": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}},
            [{"l": [1, 2]}],
            {"l": [1, 1]},
            "/l",
            "invalid_value",
        ),
        (
            {"a": {"allOf": [{"minimum": 2}, {"maximum": 4}]}},
            [{"a": 3}, {"a": "x"}],
            {"a": 5},
            "/a",
            "out_of_range",
        ),
        ({"a": {"not": {"type": "string"}}}, [{"a": 1}], {"a": "s"}, "/a", "invalid_value"),
        (
            {"a": {"oneOf": [{"type": "integer"}, {"minimum": 2}]}},
            [{"a": 1}, {"a": 2.5}],
            {"a": 3},
            "/a",
            "invalid_value",
        ),
        (
            {"a": {"anyOf": [{"type": "integer"}, {"type": "boolean"}]}},
            [{"a": 1}, {"a": True}],
            {"a": "s"},
            "/a",
            "invalid_value",
        ),
        (
            {
                "o": {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}},
                    "dependentRequired": {"a": ["b"]},
                }
            },
            [{"o": {}}, {"o": {"a": 1, "b": 2}}],
            {"o": {"a": 1}},
            "/o",
            "invalid_value",
        ),
        (
            {
                "o": {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}},
                    "unevaluatedProperties": False,
                }
            },
            [{"o": {"a": 1}}],
            {"o": {"a": 1, "b": 2}},
            "/o",
            "invalid_value",
        ),
        (
            {
                "o": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "propertyNames": {"pattern": "^(a+)+$"},
                }
            },
            [{"o": {"aa": 1}}],
            {"o": {"a" * 60 + "!": 1}},
            "/o",
            "invalid_format",
        ),
    ],
)
def test_keywords_that_only_narrow_are_enforced(
    tmp_path: Path, properties: dict[str, Any], good: list[Any], bad: Any, path: str, code: str
) -> None:
    engine = engine_for(tmp_path, properties)
    for data in good:
        assert engine.evaluate("shop/fees", data).output == {"ok": True}
    e = input_error(engine, bad)
    assert (e.path, e.code) == (path, code), e


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"prefixItems": [{"type": "string"}]}}},
        {"type": "object", "properties": {"a": {"allOf": [{"patternProperties": {"^x": {}}}]}}},
        {"type": "object", "$defs": {"unused": {"not": {"$dynamicRef": "#x"}}}},
        {"type": "object", "properties": {"a": {"$id": "https://example.com/a"}}},
        {"type": "object", "properties": {"a": {"$anchor": "here"}}},
    ],
)
def test_a_keyword_that_is_not_enforced_is_refused_at_check_wherever_it_is(
    tmp_path: Path, schema: dict[str, Any]
) -> None:
    write_policy(tmp_path, schema)
    code, out = check(tmp_path)
    assert code == 1 and "error[invalid-schema]" in out, out


# ---- decimals too long to compute with ----------------------------------------------------

DECIMAL = {
    "type": ["string", "integer"],
    "format": "decimal",
    "pattern": "^\\d+(\\.\\d+)?$",
    "minimum": 0,
}
MONEY = {
    "type": "object",
    "format": "money",
    "properties": {"amount": DECIMAL, "currency": {"type": "string", "minLength": 1}},
    "required": ["amount", "currency"],
}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"d": "1" * 100_000}, "/d"),
        ({"d": "1" * 60 + "." + "1" * 60}, "/d"),
        ({"d": 10**150}, "/d"),
        ({"d": -(10**5000)}, "/d"),  # past the digits Python writes as text
        ({"m": {"amount": "9" * 101, "currency": "USD"}}, "/m/amount"),
        ({"ds": ["1", "2", "3" * 5000]}, "/ds/2"),
    ],
)
def test_a_decimal_string_past_the_limit_is_bad_input(
    tmp_path: Path, data: dict[str, Any], path: str
) -> None:
    engine = engine_for(
        tmp_path,
        {"d": DECIMAL, "m": MONEY, "ds": {"type": "array", "items": DECIMAL}},
    )
    e = input_error(engine, data)
    assert (e.code, e.path) == ("number_too_long", path), e


def test_an_integer_too_long_to_quote_is_bad_input(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, {"n": {"minimum": 3}, "m": {"type": "integer", "minimum": 3}})
    assert input_error(engine, {"n": -(10**5000)}).code == "number_too_long"
    assert input_error(engine, {"m": -(10**5000)}).code == "out_of_range"


def test_a_decimal_at_the_limit_is_accepted(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, {"d": DECIMAL})
    assert engine.evaluate("shop/fees", {"d": "1" * 50 + "." + "2" * 49}).output == {"ok": True}
    assert engine.evaluate("shop/fees", {"d": 10**99}).output == {"ok": True}


def test_a_long_decimal_through_the_cli_is_a_typed_input_error(tmp_path: Path) -> None:
    write_policy(tmp_path, {"type": "object", "properties": {"d": DECIMAL}})
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"d": "7" * 100_000}))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "clausewise.cli",
            "eval",
            "shop/fees",
            "--input",
            str(data),
            "--policies",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "number_too_long" in done.stdout + done.stderr and "/d" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


# ---- the patterns the formats imply --------------------------------------------------------


@given(st.from_regex(r"\A[0-9]{1,40}(\.[0-9]{1,40})?\Z"))
def test_every_decimal_the_conversion_takes_matches_the_implied_patterns(text: str) -> None:
    conv_decimal(text, None, "$")
    for pattern in IMPLIED_PATTERNS["decimal"]:
        assert compile_pattern(pattern)(text), (pattern, text)


@given(
    st.from_regex(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
    )
    | st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat())
)
def test_every_datetime_the_conversion_takes_matches_the_implied_patterns(text: str) -> None:
    try:
        conv_datetime(text, None, "$")
    except InputError:
        return
    for pattern in IMPLIED_PATTERNS["date-time"]:
        assert compile_pattern(pattern)(text), (pattern, text)


@pytest.mark.parametrize(
    "schema_text",
    [
        # an unknown keyword whose name is a lone surrogate: the diagnostic quotes it
        '{"type":"object","properties":{"a":{"type":"string","\\ud800x":"y"}},"required":["a"]}',
        # a lone surrogate in a value the checker reads (an enum)
        '{"type":"object","properties":{"a":{"type":"string","enum":["\\udc00", 1]}},'
        '"required":["a"]}',
        # and in a property name
        '{"type":"object","properties":{"\\ud83d":{"type":"string"}},"required":["\\ud83d"]}',
    ],
)
def test_a_lone_surrogate_in_a_schema_is_reported_not_a_crash(
    tmp_path: Path, schema_text: str
) -> None:
    """JSON's `\\ud800` escape puts a lone surrogate in a schema's text: `check` (with the cache
    on and off) says what is wrong or passes, in text, JSON and SARIF; it never crashes on
    writing it."""
    folder = tmp_path / "policies" / "t" / "x"
    folder.mkdir(parents=True)
    (folder / "1.0.0.cw").write_text(
        'policy "t/x"\nversion "1.0.0"\ninput schema "in.json"\noutput schema "out.json"\n'
        "output {r: 1}\n",
        encoding="utf-8",
    )
    (folder / "in.json").write_text(schema_text, encoding="utf-8")
    (folder / "out.json").write_text(
        '{"type":"object","properties":{"r":{"type":"integer"}}}', encoding="utf-8"
    )
    for cache in ("off", str(tmp_path / "cache")):
        for fmt in ("text", "json", "sarif"):
            run = subprocess.run(
                [sys.executable, "-m", "clausewise.cli", "check", "--format", fmt, "policies"],
                cwd=tmp_path,
                capture_output=True,
                env={"CLAUSEWISE_CACHE_DIR": cache, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                timeout=120,
            )
            assert run.returncode in (0, 1), run.stderr.decode(errors="replace")
            assert b"Traceback" not in run.stderr
