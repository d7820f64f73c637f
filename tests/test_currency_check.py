"""`clausewise check` reports what it can of a currency mix before any decision: a currency the
input schema pins (`const`, a one-value `enum`) or an input rule pins (`require ...:
x.currency == "USD"`) is known, and mixing it with another known currency is a check error at
the expression; unpinned amounts, one currency, and a choice between currencies are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clausewise.cli import main


def money(currency: dict[str, object]) -> dict[str, object]:
    return {
        "type": "object",
        "format": "money",
        "properties": {"amount": {"type": "string", "format": "decimal"}, "currency": currency},
        "required": ["amount", "currency"],
        "additionalProperties": False,
    }


INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "orders": {"type": "array", "items": {"$ref": "#/$defs/usd"}},
        "fee": {"$ref": "#/$defs/eur"},
        "cap": {"$ref": "#/$defs/any"},
        "other": {"$ref": "#/$defs/any"},
    },
    "required": ["orders", "fee", "cap", "other"],
    "additionalProperties": False,
    "$defs": {
        "usd": money({"const": "USD"}),
        "eur": money({"type": "string", "enum": ["EUR"]}),
        "any": money({"type": "string"}),
    },
}
CAP_IN_DOLLARS = (
    'require cap_in_dollars: input.cap.currency == "USD" at input.cap "The cap is in dollars."\n'
)
TOTAL = "let total = sum(o for o in input.orders) ?? 0 USD\n"

# (name, policy lines, the text of each expression reported)
MIXES = [
    ("const vs constant", TOTAL + "let r = total > 1000 EUR", ["total > 1000 EUR"]),
    ("enum vs const", TOTAL + "let r = total + input.fee > 0 USD", ["total + input.fee"]),
    ("item vs constant", "let r = any(o > 5 EUR for o in input.orders)", ["o > 5 EUR"]),
    ("least", TOTAL + "let r = least(total, 3 GBP) > 0 USD", ["least(total, 3 GBP)"]),
    ("max", "let r = (max(o for o in input.orders) ?? 0 USD) <= input.fee", ["(max"]),
    ("local binding", "let r = with f = input.fee: f * 2 < 1 USD", ["f * 2 < 1 USD"]),
    (
        "require pin",
        CAP_IN_DOLLARS + "let r = input.cap - input.fee > 0 EUR",
        ["input.cap - input.fee"],
    ),
    (
        "definitions and a decision",
        TOTAL
        + 'decision limit first {\n  rule big "Big." when total > 10 USD then 1 EUR\n  else 2 EUR\n}\n'
        + "let r = total >= limit",
        ["total >= limit"],
    ),
    (
        "two mixes",
        TOTAL + "let r = total > 1 EUR or input.fee > 1 USD",
        ["total > 1 EUR", "input.fee > 1 USD"],
    ),
]

# policies that check: no pinned currency, one currency, a choice between currencies
CLEAN = [
    ("unpinned", "let r = input.cap > 1000 EUR and input.other < 5 GBP"),
    ("one currency", TOTAL + CAP_IN_DOLLARS + "let r = total < input.cap"),
    ("a choice", TOTAL + "let r = (if total > 5 USD then input.fee else 1 USD) == input.cap"),
    ("a default", "let r = (input.cap ?? 1 EUR) > input.other"),
]


def write(root: Path, name: str, body: str) -> None:
    d = root / "t" / name
    d.mkdir(parents=True)
    (d / "input.schema.json").write_text(json.dumps(INPUT_SCHEMA))
    (d / "output.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"r": {"type": "boolean"}}, "required": ["r"]})
    )
    (d / "1.0.0.cw").write_text(
        f'policy "t/{name}"\nversion "1.0.0"\ninput schema "input.schema.json"\n'
        f'output schema "output.schema.json"\n\n{body}\n\noutput {{ r: r }}\n'
    )


def check(root: Path) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["check", str(root), "--format", "json"], catch_exceptions=False)
    return r.exit_code, r.output


@pytest.mark.parametrize(("name", "body", "texts"), MIXES, ids=[m[0] for m in MIXES])
def test_a_mix_of_pinned_currencies_is_a_check_error_at_the_expression(
    tmp_path: Path, name: str, body: str, texts: list[str]
) -> None:
    root = tmp_path / "policies"
    write(root, "p", body)
    code, out = check(root)
    assert code == 1, out
    found = [d for d in json.loads(out)["diagnostics"] if d["code"] == "currency-mismatch"]
    assert len(found) == len(texts), out
    source = (root / "t" / "p" / "1.0.0.cw").read_text().splitlines()
    for d, text in zip(found, texts, strict=True):
        assert d["severity"] == "error"
        line, col = d["line"], d["col"]
        assert source[line - 1][col - 1 :].startswith(text), (source[line - 1], col, text)
        assert " and in " in d["message"]


@pytest.mark.parametrize(("name", "body"), CLEAN, ids=[c[0] for c in CLEAN])
def test_what_is_not_known_to_mix_checks(tmp_path: Path, name: str, body: str) -> None:
    root = tmp_path / "policies"
    write(root, "p", body)
    code, out = check(root)
    assert code == 0, out
    assert "currency-mismatch" not in out
