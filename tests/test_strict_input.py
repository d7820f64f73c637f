"""Decision input read as text is parsed strictly: CLI, `loads_input`, impact replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
