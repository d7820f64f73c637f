"""Decision input read as text is parsed strictly: CLI, `loads_input`, impact replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clausewise import InputError, InputLimits, loads_input
from tests.policy_support import run_cli

ROOT = Path(__file__).resolve().parent.parent
PID = "promotions/amazon-ads-click-credit-q4-2022"
EXAMPLE = (ROOT / "examples" / "amazon-click-credit.json").read_text(encoding="utf-8")


def _err(text: str | bytes, limits: InputLimits | None = None) -> InputError:
    with pytest.raises(InputError) as e:
        loads_input(text) if limits is None else loads_input(text, limits)
    return e.value


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"a": 1, "a": 2}', "/a"),
        ('{"a": {"b": 1, "c": 2, "b": 3}}', "/a/b"),
        ('{"xs": [{"k": 1}, {"k": 1, "k": 1}]}', "/xs/1/k"),
        ('[{}, {"a/b": 1, "a/b": 2}]', "/1/a~1b"),
        ('{"t~": 1, "t~": 1}', "/t~0"),
    ],
)
def test_duplicate_keys_are_bad_input_with_their_path(text: str, path: str) -> None:
    e = _err(text)
    assert (e.code, e.path) == ("duplicate_key", path)
    assert "more than once" in e.message


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_nesting_past_the_limit_is_bad_input(depth: int) -> None:
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        assert _err(text).code == "nesting_too_deep"


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = json.dumps({"s": "[" * 500 + "{" * 500})
    assert loads_input(text) == {"s": "[" * 500 + "{" * 500}
    assert loads_input("[" * 64 + "]" * 64) is not None


@pytest.mark.parametrize(
    "text", ["1" * 5000, "-" + "9" * 101, "[" + "1" * 200 + "]", "1." + "0" * 400]
)
def test_numbers_past_the_digit_limit_are_bad_input(text: str) -> None:
    assert _err(text).code == "number_too_long"


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]", "{", "", '{"a": 1,}'])
def test_not_json_is_bad_input(text: str) -> None:
    assert _err(text).code == "invalid_json"


def test_bytes_that_are_not_utf8_and_inputs_too_large() -> None:
    assert _err(b'{"a": "\xff"}').code == "invalid_json"
    assert _err("[1, 2, 3]", InputLimits(max_bytes=4)).code == "input_too_large"


def test_limits_are_settable() -> None:
    assert loads_input("[[[1]]]", InputLimits(max_depth=3)) == [[[1]]]
    assert _err("[[[[1]]]]", InputLimits(max_depth=3)).code == "nesting_too_deep"
    assert _err("123456", InputLimits(max_number_digits=5)).code == "number_too_long"


@pytest.mark.parametrize(
    ("text", "code", "path"),
    [
        (EXAMPLE.replace("{", '{"store": "US", ', 1), "duplicate_key", "/store"),
        ("[" * 100_000 + "]" * 100_000, "nesting_too_deep", ""),
        ('{"n": ' + "7" * 5000 + "}", "number_too_long", ""),
    ],
)
def test_cli_eval_reports_each_as_bad_input_exit_3(text: str, code: str, path: str) -> None:
    r = run_cli("eval", PID, "--input", "-", stdin=text)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    err = json.loads(r.stdout)["error"]
    assert (err["code"], err["path"]) == (code, path)


def test_impact_reports_a_duplicate_key_input_as_unreadable(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"a": 1, "a": 2}\n', encoding="utf-8")
    from clausewise.authoring.impact import read_inputs

    [(_name, data, error)] = list(read_inputs(inputs))
    assert data is None and error is not None and "more than once" in error


@pytest.mark.parametrize(
    ("text", "path"),
    [
        # the same key written two ways: equal once the escape is read
        ('{"\\u0061": 1, "a": 2}', "/a"),
        ('{"k": {"x\\u00e9": 1, "x\u00e9": 2}}', "/k/x\u00e9"),
        # spaces, tabs and new lines between a key and its colon
        ('{"a" \t: 1,\n "a"\r\n  : 2}', "/a"),
        # colons and quotes in the values beside the duplicate
        ('{"t": "12:00", "u": "\\":", "t": "13:00"}', "/t"),
        ('[{"s": ":"}, {"s": "a", "s": "b"}]', "/1/s"),
        # a key that is a number or looks like one
        ('{"1e5": 1, "1e5": 2}', "/1e5"),
    ],
)
def test_duplicate_keys_are_found_however_they_are_written(text: str, path: str) -> None:
    for raw in (text, text.encode("utf-8")):
        e = _err(raw)
        assert (e.code, e.path) == ("duplicate_key", path)


@pytest.mark.parametrize(
    "text",
    [
        '{"n": 18446744073709551616}',  # past 64 bits: still an integer, not a float
        '{"n": -9223372036854775809, "m": 9223372036854775808}',
        '["\\ud800", "\\udfff"]',  # lone surrogates, as the standard reader takes them
        '{"big": 1e400, "small": -1e-400}',
        '{"a": {"b": [1, 2.5, -0.0, true, null, "x:y", "\\"", {}]}, "c": []}',
        '{"at": "2022-10-12T09:30:00+02:00", "url": "https://example.com:8443/a"}',
        "  [1, \t2]\n",
    ],
)
def test_valid_input_reads_as_the_standard_reader_reads_it(text: str) -> None:
    expected = json.loads(text)
    for raw in (text, text.encode("utf-8")):
        got = loads_input(raw)
        assert got == expected
        assert json.dumps(got) == json.dumps(expected)  # the same types: int stays int


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(10**30), 10**30)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    ),
    st.sampled_from(["", " ", "\n\t"]),
    st.booleans(),
)
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_input_reads_as_written_and_any_repeated_key_is_refused(
    value: object, space: str, repeat: bool
) -> None:
    text = json.dumps(value, separators=("," + space, ":" + space))
    if not repeat or not isinstance(value, dict) or not value:
        if text.count("[") + text.count("{") <= 64:
            assert json.dumps(loads_input(text.encode())) == json.dumps(value)
        return
    key = next(iter(value))
    member = json.dumps(key) + ":" + space + "1"
    doubled = "{" + member + "," + space + text[1:]
    assert _err(doubled).code == "duplicate_key"
