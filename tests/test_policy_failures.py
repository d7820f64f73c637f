"""A policy's own failure is reported as the policy's, at its place: an `EvaluationError` with
its code, the `file:line:col` of the expression and the values involved, exit 4 from `eval`, a
failing case naming the policy (never an input field) from `test`, and a counterexample from
`verify`; never an input error, which is for faults of the input only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clausewise import Engine, EvaluationError
from clausewise.cli import main

MONEY = {
    "type": "object",
    "format": "money",
    "properties": {
        "amount": {"type": "string", "format": "decimal"},
        "currency": {"type": "string"},
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
}
INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "orders": {"type": "array", "items": {"$ref": "#/$defs/money"}},
        "fee": {"$ref": "#/$defs/money"},
        "n": {"type": "integer"},
        "day": {"type": "string", "format": "date"},
    },
    "required": ["orders", "fee", "n", "day"],
    "additionalProperties": False,
    "$defs": {"money": MONEY},
}

# (name, definition of `r` (a boolean or a date), the code, the values the message names)
CASES = [
    (
        "compare",
        "let r = (sum(o for o in input.orders) ?? 0 USD) > 1000 EUR",
        "currency_mismatch",
        ["1500 USD", "1000 EUR", "/orders/0/currency"],
    ),
    (
        "add",
        "let r = (input.orders[0] ?? 0 USD) + input.fee > 0 USD",
        "currency_mismatch",
        ["cannot add 1500 USD", "2 EUR (input /fee/currency)"],
    ),
    (
        "sum",
        "let r = (sum(o for o in input.orders + [input.fee]) ?? 0 USD) > 0 USD",
        "currency_mismatch",
        ["/fee/currency"],
    ),
    (
        "least",
        "let r = least(input.fee, 10 USD) > 0 USD",
        "currency_mismatch",
        ["/fee/currency", "10 USD"],
    ),
    (
        "table",
        "table cap(m) first {\n  | < 100 USD => true\n  else => false\n}\nlet r = cap(input.fee)",
        "currency_mismatch",
        ["/fee/currency", "100 USD"],
    ),
    (
        "decision",
        'decision r first {\n  rule small "A small fee." when input.fee <= 5 USD then true\n  else false\n}',
        "currency_mismatch",
        ["/fee/currency", "5 USD"],
    ),
    ("division", "let r = 10 / input.n > 1", "division_by_zero", []),
    (
        "table-division",  # a small table, expanded in place when untraced
        "table share(k: int) first {\n  | > -1 => 10 / input.n > 1\n  else => false\n}\nlet r = share(input.n)",
        "division_by_zero",
        [],
    ),
    (
        "decision-date",
        'decision r first {\n  rule late "Late." when weekday(input.day + 1 day) == "monday" then true\n  else false\n}',
        "date_out_of_range",
        [],
    ),
    ("date", 'let r = weekday(input.day + 1 day) == "monday"', "date_out_of_range", []),
]

# an input the schema takes: the orders in USD, the fee in EUR, n = 0, the last day of the calendar
DATA = {
    "orders": [{"amount": "1500", "currency": "USD"}],
    "fee": {"amount": "2", "currency": "EUR"},
    "n": 0,
    "day": "9999-12-31",
}


def write_policy(root: Path, name: str, body: str, invariant: bool = False) -> tuple[str, int]:
    """A policy `t/<name>` whose output is `r`; returns its id and the line of `r`'s text."""
    d = root / "t" / name
    d.mkdir(parents=True)
    (d / "input.schema.json").write_text(json.dumps(INPUT_SCHEMA))
    (d / "output.schema.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"r": {"type": "boolean"}},
                "required": ["r"],
                "additionalProperties": False,
            }
        )
    )
    head = (
        f'policy "t/{name}"\nversion "1.0.0"\ninput schema "input.schema.json"\n'
        'output schema "output.schema.json"\n\n'
    )
    inv = 'invariant never_fails "It decides": output.r or not output.r\n\n' if invariant else ""
    (d / "1.0.0.cw").write_text(head + body + "\n\n" + inv + "output { r: r }\n")
    return f"t/{name}", head.count("\n") + 1


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("failures") / "policies"
    for name, body, _code, _values in CASES:
        write_policy(r, name, body)
    return r


def cli(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


@pytest.mark.parametrize(("name", "body", "code", "values"), CASES, ids=[c[0] for c in CASES])
def test_the_policy_checks_and_fails_as_the_policys_bug(
    root: Path, name: str, body: str, code: str, values: list[str]
) -> None:
    checked = cli("check", str(root))
    assert checked.exit_code == 0, checked.output
    engine = Engine.from_directory(root)
    for level in ("off", "rules", "full"):
        with pytest.raises(EvaluationError) as caught:
            engine.evaluate(f"t/{name}", DATA, trace=level)
        e = caught.value
        assert (e.code, e.path) == (code, "")
        # the location is the policy text that failed: in the lines of `r`'s definition
        file, line, col = e.location.rsplit(":", 2)
        assert file.endswith(f"t/{name}/1.0.0.cw")
        assert 6 <= int(line) <= 6 + body.count("\n"), e.location
        assert int(col) >= 1
        for v in values:
            assert v in e.message, (v, e.message)
        if level == "off":
            off = e.location
        assert e.location == off, f"{level}: {e.location}, off: {off}"  # one place at every level
    # the command line: exit 4 (not 3, bad input), the error as JSON on stdout
    done = cli("eval", f"t/{name}", "--policies", str(root), "--input", "-", stdin=json.dumps(DATA))
    assert done.exit_code == 4, done.output
    error = json.loads(done.output)["error"]
    assert (error["code"], error["path"]) == (code, "")
    assert error["location"].endswith(f"t/{name}/1.0.0.cw:" + off.split(".cw:")[1])
    text = cli(
        "eval",
        f"t/{name}",
        "--policies",
        str(root),
        "--format",
        "text",
        "--input",
        "-",
        stdin=json.dumps(DATA),
    )
    assert text.exit_code == 4
    assert f"the policy failed on this input: {code}" in text.output


def test_a_valid_input_with_one_currency_decides(root: Path) -> None:
    """The class is the policy's failure on some inputs: on others it decides."""
    one = {**DATA, "fee": {"amount": "2", "currency": "USD"}, "n": 1, "day": "2026-01-05"}
    engine = Engine.from_directory(root)
    for name in ("add", "sum", "least", "table", "decision", "division", "date"):
        assert isinstance(engine.evaluate(f"t/{name}", one).output["r"], bool)


def test_the_test_runner_blames_the_policy_not_an_input_field(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    pid, _ = write_policy(root, "compare", CASES[0][1])
    (root / pid / "1.0.0.test.yaml").write_text(
        "policy: t/compare\ncases:\n"
        f"  - name: orders in dollars\n    input: {json.dumps(DATA)}\n    expect: {{r: true}}\n"
        f"  - name: expected as bad input\n    input: {json.dumps(DATA)}\n"
        "    error: {code: currency_mismatch}\n"
    )
    done = cli("test", str(root))
    assert done.exit_code == 1, done.output
    assert done.output.count("the policy failed: currency_mismatch at ") == 2, done.output
    assert "t/compare/1.0.0.cw:6:" in done.output
    assert "(expected input error" in done.output
    assert "unexpected input error" not in done.output
    assert "/orders/0/currency:" not in done.output  # no input field is blamed


def test_verify_reports_the_failure_as_a_counterexample(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    write_policy(root, "mixed", "let r = input.fee > 1000 EUR", invariant=True)
    done = cli("verify", str(root), "--seed", "1")
    assert done.exit_code == 1, done.output
    assert "the policy fails on a valid input: currency_mismatch at " in done.output
    assert "t/mixed/1.0.0.cw:6:" in done.output
    assert "counterexample input:" in done.output
    assert "every generated input was rejected" not in done.output


@pytest.mark.parametrize("data", [[1], None, "x", {"channel": "amazon", "rate": "0.02"}])
def test_a_call_evaluates_its_arguments_at_every_trace_level(tmp_path: Path, data: Any) -> None:
    """A call is strict: an argument that fails (a field of an untyped input that is not an
    object) fails the decision even where the table does not read it, at every trace level, as
    the traced call does; the untraced one expands small tables in place and must not skip it."""
    d = tmp_path / "t" / "band"
    d.mkdir(parents=True)
    (d / "input.schema.json").write_text('{"required": ["channel"]}')  # no type: untyped input
    (d / "output.schema.json").write_text("{}")
    (d / "1.0.0.cw").write_text(
        'policy "t/band"\nversion "1.0.0"\ninput schema "input.schema.json"\n'
        'output schema "output.schema.json"\n'
        "table band(rate: decimal, channel) first {\n"
        '  | < 0.01        | -        => "good"\n'
        '  | 0.01 ..< 0.04 | "seller" => "watch"\n'
        '  else => "unknown"\n'
        "}\n"
        "output { low: band(0.005, input.channel), mid: band(0.02, input.channel) }\n"
    )
    engine = Engine.from_directory(tmp_path)
    outcomes = []
    for level in ("off", "rules", "full"):
        try:
            outcomes.append(("ok", engine.evaluate("t/band", data, trace=level).output))
        except EvaluationError as e:
            outcomes.append(("error", e.code, e.location))
    assert outcomes[0] == outcomes[1] == outcomes[2], outcomes
    if isinstance(data, dict):
        assert outcomes[0] == ("ok", {"low": "good", "mid": "unknown"})
    else:
        assert outcomes[0][:2] == ("error", "type_mismatch")
        assert str(outcomes[0][2]).endswith(
            "t/band/1.0.0.cw:10:27"
        )  # `input.channel` in the first call
