"""A value of an input field the schema leaves untyped, used where a value of a known type is
expected (a condition, a typed parameter of a built-in or of a function), is checked at run time:
a value of another type is the error `type_mismatch` at that expression, at every trace level,
and a value of the right type passes through unchanged. Driven through the embedding API from
policy files on disk, each result compared with the reference interpreter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clausewise import DecisionError
from tests.oracles.interpreter import outcome
from tests.test_widened_types import Policy, schema

LEVELS = ("off", "rules", "full")
UNTYPED: dict[str, Any] = {}


def untyped(*names: str) -> dict[str, Any]:
    return schema(**{n: UNTYPED for n in names})


def decide_all(p: Policy, text: str, data: dict[str, Any]) -> tuple[str, Any]:
    """The outcome at every trace level, after checking they agree with each other and with
    the interpreter; an error's location is returned as `line:col`."""
    results = set()
    for level in LEVELS:
        try:
            got: tuple[str, Any] = ("ok", repr(p.engine.evaluate(p.id, data, trace=level).output))
        except DecisionError as e:
            loc = getattr(e, "location", "")
            got = ("error", (e.code, ":".join(loc.split(":")[-2:])))
        results.add(got)
    assert len(results) == 1, results
    (got,) = results
    expected = outcome(lambda: p.reference.run(data))
    if got[0] == "ok":
        assert expected[0] == "ok"
        assert got[1] == repr(expected[1])
    else:
        assert expected[0] == "error" and expected[1][1] == got[1][0], (expected, got)
    return got


def where(text: str, snippet: str) -> str:
    """`line:col` of the first `snippet` in the policy body (after the four header lines)."""
    before = text[: text.index(snippet)]
    return f"{before.count(chr(10)) + 6}:{len(before) - before.rfind(chr(10))}"


CONDITIONS = [
    ("rule", 'rule ok "ok" when input.v\noutput {r: ok}\n', "input.v"),
    ("or", "output {r: input.v or input.n > 3}\n", "input.v"),
    ("and", "output {r: input.n > 3 and input.v}\n", "input.v"),
    ("not", "output {r: not input.v}\n", "input.v"),
    ("if", "output {r: if input.v then 1 else 2}\n", "input.v"),
    ("implies", "output {r: input.n > 3 implies input.v}\n", "input.v"),
    ("where", "output {r: count(x for x in input.xs where input.v)}\n", "input.v"),
    ("all", "output {r: all(input.v for x in input.xs)}\n", "input.v"),
    ("all-items", "output {r: all(x.ok for x in input.ys)}\n", "x.ok"),
    (
        "rule-in-decision",
        'decision d first {\n  rule a "a" when input.v then 1\n}\noutput {r: d ?? 0}\n',
        "input.v",
    ),
]


@pytest.mark.parametrize(
    "text,snippet", [c[1:] for c in CONDITIONS], ids=[c[0] for c in CONDITIONS]
)
def test_an_untyped_condition_must_be_a_boolean(tmp_path: Path, text: str, snippet: str) -> None:
    p = Policy(tmp_path, "cond", text, untyped("v", "n", "xs", "ys"))
    for bad in ("a", 1, 0, [], {"x": True}, None):
        data = {"v": bad, "n": 5, "xs": [1, 2], "ys": [{"ok": True}, {"ok": bad}]}
        got = decide_all(p, text, data)
        assert got == ("error", ("type_mismatch", where(text, snippet))), bad
    for good in (True, False):
        data = {"v": good, "n": 5, "xs": [1, 2], "ys": [{"ok": True}, {"ok": good}]}
        assert decide_all(p, text, data)[0] == "ok"


def test_the_fuzz_finding_untraced_or_gives_no_operand(tmp_path: Path) -> None:
    text = 'rule free "free" when input.vip or input.spend >= 100\noutput {free: free}\n'
    p = Policy(tmp_path, "vip", text, untyped("vip", "spend"))
    assert decide_all(p, text, {"vip": "a", "spend": 1}) == (
        "error",
        ("type_mismatch", where(text, "input.vip")),
    )
    assert decide_all(p, text, {"vip": False, "spend": 150}) == ("ok", "{'free': True}")


def test_a_requirement_condition(tmp_path: Path) -> None:
    text = 'require bad_flag: input.v at input.v "v must hold"\noutput {r: 1}\n'
    p = Policy(tmp_path, "req", text, untyped("v"))
    for bad in ("yes", 1, None):
        assert decide_all(p, text, {"v": bad}) == (
            "error",
            ("type_mismatch", where(text, "input.v at")),
        )
    assert decide_all(p, text, {"v": True}) == ("ok", "{'r': 1}")


BUILTINS = [
    # money reaches round's decimal form (`money * any` is typed `any`)
    ("round(12.50 USD * input.a, 0)", {"a": 2}, "12.50 USD * input.a"),
    ("round(12.50 USD * input.a, 0)", {"a": {"amount": "1", "currency": "USD"}}, "12.50 USD"),
    ("floor(input.a)", {"a": "2.5"}, "input.a"),
    ("floor(input.a)", {"a": True}, "input.a"),
    ("round(input.a, 2)", {"a": [1]}, "input.a"),
    ("days_between(input.a, input.a)", {"a": "2024-01-01"}, "input.a"),
    ("weekday(input.a)", {"a": 20240101}, "input.a"),
]


@pytest.mark.parametrize("call,data,snippet", BUILTINS)
def test_a_builtin_parameter_checks_an_untyped_argument(
    tmp_path: Path, call: str, data: dict[str, Any], snippet: str
) -> None:
    text = f"output {{r: {call}}}\n"
    p = Policy(tmp_path, "fn", text, untyped("a"))
    assert decide_all(p, text, data) == ("error", ("type_mismatch", where(text, snippet)))


def test_a_user_function_parameter_checks_an_untyped_argument(tmp_path: Path) -> None:
    text = "let twice(n: int) = n * 2\nlet yes(b: bool) = if b then 1 else 0\noutput {a: twice(input.v), b: yes(input.w)}\n"
    p = Policy(tmp_path, "user", text, untyped("v", "w"))
    mismatch_v = ("error", ("type_mismatch", where(text, "input.v")))
    mismatch_w = ("error", ("type_mismatch", where(text, "input.w")))
    assert decide_all(p, text, {"v": "a", "w": True}) == mismatch_v
    assert decide_all(p, text, {"v": 2.5, "w": True}) == mismatch_v
    assert decide_all(p, text, {"v": True, "w": True}) == mismatch_v
    assert decide_all(p, text, {"v": 3, "w": "true"}) == mismatch_w
    assert decide_all(p, text, {"v": 3, "w": False}) == ("ok", "{'a': 6, 'b': 0}")


def test_values_of_the_right_type_pass_unchanged(tmp_path: Path) -> None:
    text = "output {a: round(input.x, 1), b: floor(input.x), c: if input.v then input.x else 0}\n"
    p = Policy(tmp_path, "pass", text, untyped("x", "v"))
    for x in (3, 2.25, -7.5):
        ok, out = decide_all(p, text, {"x": x, "v": True})
        assert ok == "ok"
        assert out == repr(p.reference.run({"x": x, "v": True}))
