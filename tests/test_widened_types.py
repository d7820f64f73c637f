"""A value keeps its type's way of being written when it is joined with a value of unknown type,
and the engine and the reference interpreter agree on which error a decision reports: driven
through the embedding API from policy files on disk, each result compared with the reference
interpreter (tests/oracles/interpreter.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clausewise import DecisionError, Engine
from tests.generators.policies import load_text
from tests.oracles.interpreter import Interpreter, outcome

MONEY = {
    "type": "object",
    "format": "money",
    "properties": {
        "amount": {
            "type": ["string", "integer"],
            "format": "decimal",
            "pattern": "^\\d+(\\.\\d+)?$",
            "minimum": 0,
        },
        "currency": {"type": "string"},
    },
    "required": ["amount", "currency"],
}


def schema(**fields: Any) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": fields,
        "required": list(fields),
        "$defs": {"money": MONEY},
    }


def header(name: str) -> str:
    return (
        f'policy "t/{name}"\nversion "1.0.0"\n'
        'input schema "input.schema.json"\noutput schema "output.schema.json"\n\n'
    )


class Policy:
    """One policy on disk, evaluated by the engine and by the reference interpreter."""

    def __init__(self, tmp: Path, name: str, text: str, in_schema: dict[str, Any]):
        folder = tmp / "policies" / "t" / name
        folder.mkdir(parents=True)
        (folder / "1.0.0.cw").write_text(header(name) + text)
        (folder / "input.schema.json").write_text(json.dumps(in_schema))
        (folder / "output.schema.json").write_text("{}")
        self.id = f"t/{name}"
        self.engine = Engine.from_directory(tmp / "policies")
        prog, diags = load_text(header(name) + text, in_schema, {})
        assert prog is not None, diags
        self.reference = Interpreter(prog)

    def decide(self, data: dict[str, Any]) -> Any:
        """The engine's output (or error code), after checking the interpreter gives the same."""
        try:
            got: Any = ("ok", self.engine.evaluate(self.id, data).output)
        except DecisionError as e:
            got = ("error", e.code)
        expected = outcome(lambda: self.reference.run(data))
        assert got == (expected[0], expected[1] if expected[0] == "ok" else expected[1][1])
        return got[1]


WIDENING = """let whole = if input.ok then 2 else 0.5
let keep(x: decimal) = x
table share(n) first {
  | 1 => 1
  else => 0.25
}
decision level first {
  rule high "High." when input.ok then 3
  else 0.75
}
output {
  a: input.u ?? whole,
  b: if input.ok then input.u else [0, 0.5],
  c: [input.u, whole],
  d: [whole] + [input.u],
  e: greatest(input.u ?? 0, whole),
  f: input.u ?? keep(1),
  g: input.u ?? share(1),
  h: input.u ?? level,
  i: input.u ?? [x for x in [whole, 1]],
  j: input.u ?? max(x for x in [whole, 1]),
  k: input.u ?? {n: whole, m: [1, 0.5]},
  l: input.u ?? (0 .. whole),
}
"""


@pytest.fixture
def widening(tmp_path: Path) -> Policy:
    return Policy(tmp_path, "widen", WIDENING, schema(u={}, ok={"type": "boolean"}))


def test_a_decimal_joined_with_an_untyped_value_is_written_as_a_decimal(widening: Policy) -> None:
    assert widening.decide({"u": None, "ok": True}) == {
        "a": "2",
        "b": None,
        "c": [None, "2"],
        "d": ["2", None],
        "e": "2",
        "f": "1",
        "g": "1",
        "h": "3",
        "i": ["2", "1"],
        "j": "2",
        "k": {"n": "2", "m": ["1", "0.5"]},
        "l": {"start": "0", "end": "2", "end_included": True},
    }


def test_the_untyped_value_itself_is_written_as_sent(widening: Policy) -> None:
    out = widening.decide({"u": 7, "ok": False})
    assert out["b"] == ["0", "0.5"]
    assert out["c"] == [7, "0.5"] and out["d"] == ["0.5", 7] and out["e"] == 7
    assert all(out[k] == 7 for k in "afghijkl")


REQUIREMENTS = """let cheaper = input.m1 < input.m2
require not_reserved: input.n != 99 at input.n "99 is reserved."
require positive: input.n > 0 or cheaper at input.n "n must be positive."
output {
  r: input.n,
}
"""


@pytest.fixture
def requirements(tmp_path: Path) -> Policy:
    fields = schema(
        n={"type": "integer"}, m1={"$ref": "#/$defs/money"}, m2={"$ref": "#/$defs/money"}
    )
    return Policy(tmp_path, "req", REQUIREMENTS, fields)


def usd(a: str, cur: str = "USD") -> dict[str, str]:
    return {"amount": a, "currency": cur}


def test_a_definition_a_requirement_reads_is_evaluated_in_full_first(requirements: Policy) -> None:
    # `cheaper` fails even where `positive`'s `or` would not reach it
    assert (
        requirements.decide({"n": 5, "m1": usd("1"), "m2": usd("2", "EUR")}) == "currency_mismatch"
    )
    assert (
        requirements.decide({"n": -1, "m1": usd("3"), "m2": usd("2", "EUR")}) == "currency_mismatch"
    )
    # an earlier requirement that reads only the input is checked before it
    assert requirements.decide({"n": 99, "m1": usd("1"), "m2": usd("2", "EUR")}) == "not_reserved"
    assert requirements.decide({"n": -1, "m1": usd("3"), "m2": usd("2")}) == "positive"
    assert requirements.decide({"n": -1, "m1": usd("1"), "m2": usd("2")}) == {"r": -1}


UNIQUE = """output {
  r: unique(least(x, input.cap) for x in input.ms),
}
"""


def test_unique_stops_at_the_first_repeated_value(tmp_path: Path) -> None:
    fields = schema(
        cap={"$ref": "#/$defs/money"}, ms={"type": "array", "items": {"$ref": "#/$defs/money"}}
    )
    policy = Policy(tmp_path, "unique", UNIQUE, fields)
    same = [usd("1"), usd("1"), usd("1", "EUR")]
    assert policy.decide({"cap": usd("5"), "ms": same}) == {"r": False}
    assert policy.decide({"cap": usd("5"), "ms": [usd("1"), usd("2")]}) == {"r": True}
    assert (
        policy.decide({"cap": usd("5"), "ms": [usd("1"), usd("2", "EUR")]}) == "currency_mismatch"
    )
