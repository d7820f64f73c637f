"""Property tests of the engine as a whole.

(a) differential: random well-typed policies and inputs; the compiled engine agrees with the
    tree-walking reference interpreter in tests/oracles/interpreter.py;
(b) the trace level never changes an output (generated policies, and the shipped ones);
(c) decimal and money arithmetic is exact and never mixes currencies;
(d) the parser fails only with `PolicySyntaxError`, located inside the text.

Run more examples with HYPOTHESIS_PROFILE=thorough (profiles: tests/conftest.py).
"""

from __future__ import annotations

import decimal
import functools
import json
import re
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, event, example, given, note
from hypothesis import strategies as st

from clausewise import DecisionError, Engine, EvaluationError
from clausewise.dsl.parser import parse
from clausewise.dsl.typed import Program
from clausewise.engine.compiler import LEVELS, CompiledPolicy, compile_program
from clausewise.engine.store import check_file
from tests.generators import promotion_inputs, seller_portfolio_inputs
from tests.generators.mutations import mutated_policies, shipped_policies
from tests.generators.policies import (
    ANY,
    CURRENCIES,
    DEC,
    INT,
    MONEY,
    SAMPLE_POLICY,
    Case,
    L,
    check_parse,
    compiled_case,
    decimal_texts,
    error_key,
    explain,
    input_schema,
    json_from_schema,
    load_text,
    policy_cases,
)
from tests.oracles.interpreter import Interpreter, outcome

ROOT = Path(__file__).resolve().parent.parent
_TMP = Path(tempfile.mkdtemp(prefix="clausewise-properties-"))


# ---- (a) the compiled engine agrees with the reference interpreter -------------------------

GUARDED_DEFINITION = Case(
    text="""policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
let ratio = 100 / input.i1
let guarded = if input.i1 == 0 then null else 100 / input.i1
output {
  r: if input.i1 == 0 then 0 else ratio,
  s: guarded,
}
""",
    fields={"i1": INT},
    inputs=[{"i1": 0}, {"i1": 4}],
)


def compiled_or_reject(case: Case, generated: bool) -> tuple[Program, CompiledPolicy]:
    """The compiled case; a generated one that does not check is rejected (not a failure)."""
    got = compiled_case(case)
    if generated:
        assume(got is not None)
    assert got is not None, f"the example does not check:\n{case.text}"
    return got


def check_against_reference(case: Case, generated: bool = True) -> None:
    prog, compiled = compiled_or_reject(case, generated)
    explain(case.text)
    interp = Interpreter(prog)
    for data in case.inputs:
        expected = outcome(functools.partial(interp.run, data))
        actual = outcome(lambda: compiled.run(data, "off")[0])  # noqa: B023 (called at once)
        if generated:
            event("error" if expected[0] == "error" else "output")
        # a checked policy never fails inside the engine: only with a decision error
        for who, o in (("compiled", actual), ("reference", expected)):
            assert o[0] == "ok" or o[1][1] is not None, f"{who}: internal error {o!r}"
        assert error_key(actual) == error_key(expected), (
            f"input {data!r}\ncompiled:  {actual!r}\nreference: {expected!r}"
        )


JOINED_NUMBERS = Case(
    text="""policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
let ratio = 10 / input.i1
output {
  r: (if true then [0] else [0.5]),
  s: (if input.i1 > 0 then {a: 1, b: [2]} else {a: 0.5, b: [2.5]}),
  t: [input.ni ?? 1, 0.5],
  u: (if false then ratio else 0),
  v: count(x > 100 for x in input.ints order by 10 / x),
}
""",
    fields={"i1": INT, "ni": ("opt", INT), "ints": L(INT)},
    inputs=[
        {"i1": 0, "ni": None, "ints": []},
        {"i1": 3, "ni": 4, "ints": [1, 2]},
        {"i1": 3, "ni": None, "ints": [1, 0]},
    ],
)


# a decimal that is a whole number, held as an integer while its type says decimal, where its
# type becomes unknown: joined with an untyped field in every way two values are joined
UNTYPED_JOINS = Case(
    text="""policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
let whole = [round(x) for x in input.ints]
let d = if input.i1 > 0 then 2 else 0.5
table t(n: int) first {
  | > 0 => d
  else => input.u
}
decision pick first {
  rule a "whole" when input.i1 > 0 then d
  else input.u
}
output {
  a: (if input.i1 > 1 then (if input.i1 > 0 then whole else [0.5]) else input.u),
  b: [d, input.u],
  c: (if input.i1 > 5 then input.u else d),
  e: (input.ni ?? d) ?? input.u,
  f: t(input.i1),
  g: pick,
  h: d + input.u,
  i: (if input.i1 > 0 then [d] else [0.5]) + [input.u],
  j: (if true then d else input.u),
  k: (if input.i1 > 0 then {x: d, y: [d]} else {x: input.u, y: [input.u]}),
  l: {p: 1, q: [0.5]},
}
""",
    fields={"i1": INT, "ni": ("opt", INT), "ints": L(INT), "u": ANY},
    inputs=[
        {"i1": 3, "ni": None, "ints": [1, 2], "u": 7},
        {"i1": 0, "ni": 4, "ints": [], "u": "x"},
        {"i1": 9, "ni": None, "ints": [0], "u": [1]},
        {"i1": 2, "ni": 5, "ints": [3], "u": None},
    ],
)


@given(case=policy_cases())
@example(case=JOINED_NUMBERS)
@example(case=UNTYPED_JOINS)
def test_compiled_engine_agrees_with_reference_interpreter(case: Case) -> None:
    check_against_reference(case)


def test_a_decimal_joined_with_an_untyped_value_is_written_as_a_decimal() -> None:
    """Whole decimals held as integers become decimals where their type is lost, at every trace
    level: written as decimal text, as the reference interpreter writes them."""
    check_against_reference(UNTYPED_JOINS, generated=False)
    _prog, compiled = compiled_or_reject(UNTYPED_JOINS, generated=False)
    for level in LEVELS:
        out = compiled.run({"i1": 3, "ni": None, "ints": [1, 2], "u": 7}, level)[0]
        assert out["a"] == ["1", "2"] and out["b"] == ["2", 7] and out["c"] == "2"
        assert out["e"] == "2" and out["f"] == "2" and out["g"] == "2" and out["h"] == "9"
        assert out["i"] == ["2", 7] and out["j"] == "2"
        assert out["k"] == {"x": "2", "y": ["2"]}


def test_definitions_are_computed_before_the_output() -> None:
    """docs/language.md: a definition is evaluated before the output whether or not the branch
    that uses it is taken, so it must guard its own failures."""
    check_against_reference(GUARDED_DEFINITION, generated=False)
    _prog, compiled = compiled_or_reject(GUARDED_DEFINITION, generated=False)
    with pytest.raises(DecisionError) as failed:
        compiled.run({"i1": 0})
    assert failed.value.code == "division_by_zero"
    for level in LEVELS:
        assert compiled.run({"i1": 4}, level)[0] == {"r": "25", "s": "25"}


# ---- (b) trace levels never change an output ----------------------------------------------


def outcomes_by_level(compiled: CompiledPolicy, data: Any) -> dict[str, Any]:
    return {lvl: outcome(lambda: compiled.run(data, lvl)[0]) for lvl in LEVELS}  # noqa: B023


def check_trace_levels(case: Case, generated: bool = True) -> None:
    _prog, compiled = compiled_or_reject(case, generated)
    explain(case.text)
    for data in case.inputs:
        outs = outcomes_by_level(compiled, data)
        assert outs["rules"] == outs["off"], f"input {data!r}"
        assert outs["full"] == outs["off"], f"input {data!r}"


@given(case=policy_cases())
def test_trace_level_never_changes_the_output_of_generated_policies(case: Case) -> None:
    check_trace_levels(case)


FULL_TRACE_FIRST = Case(
    text="""policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
output {
  first_big: first(x for x in input.ints where 10 / x > 1),
  any_big: any(10 / x > 1 for x in input.ints),
  all_small: all(x < 1 for x in input.ints where 10 / x > 0),
}
""",
    fields={"ints": L(INT)},
    inputs=[{"ints": [1, 0]}],
)


def test_full_trace_stops_where_untraced_code_stops() -> None:
    """`first`, `any` and `all` stop at the deciding element at every trace level."""
    check_trace_levels(FULL_TRACE_FIRST, generated=False)


def _reference_inputs(policy_id: str) -> st.SearchStrategy[Any] | None:
    known = {
        "promotions/amazon-ads-click-credit-q4-2022": "amazon_click_credit_inputs",
        "promotions/google-ads-promo-code": "google_promo_code_inputs",
        "budgets/google-ads-credit-budget": "google_credit_budget_inputs",
        "budgets/amazon-ads-portfolio-cap": "portfolio_cap_inputs",
        "health/amazon-seller-account-health": "seller_health_inputs",
    }
    name = known.get(policy_id)
    for mod in (promotion_inputs, seller_portfolio_inputs):
        if name is not None and hasattr(mod, name):
            strategy: st.SearchStrategy[Any] = getattr(mod, name)()
            return strategy
    return None


@functools.cache
def _load_shipped(path: Path, root: Path) -> CompiledPolicy | None:
    try:
        prog, _diags = check_file(path, root)
        return None if prog is None else compile_program(prog)
    except Exception:  # a policy that is being written may not load at all
        return None


@pytest.mark.parametrize(
    "path, root",
    shipped_policies(),
    ids=[str(p.relative_to(ROOT)) for p, _ in shipped_policies()],
)
@given(data=st.data())
def test_trace_level_never_changes_the_output_of_shipped_policies(
    path: Path, root: Path, data: st.DataObject
) -> None:
    compiled = _load_shipped(path, root)
    if compiled is None:
        pytest.skip(f"{path} does not load")
    prog = compiled.program
    strategies = [json_from_schema(prog.input_schema, prog.input_schema)]
    ref = _reference_inputs(prog.header.id)
    if ref is not None:
        strategies.append(ref)
    value = data.draw(st.one_of(*strategies))
    outs = outcomes_by_level(compiled, value)
    event(outs["off"][0])
    assert outs["rules"] == outs["off"]
    assert outs["full"] == outs["off"]


# ---- (c) decimal and money arithmetic ------------------------------------------------------

WIDE = decimal.Context(prec=10**5, traps=[decimal.InvalidOperation])
PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")

C_FIELDS: dict[str, Any] = {
    "a": DEC,
    "b": DEC,
    "xs": L(DEC),
    "m": MONEY,
    "n": MONEY,
    "ms": L(MONEY),
}
C_POLICIES: dict[str, str] = {
    "arith": """output {
  sum: input.a + input.b,
  difference: input.a - input.b,
  product: input.a * input.b,
  cube: input.a * input.b * input.a,
  total: sum(x for x in input.xs),
  negated: -input.a,
  distance: abs(input.a - input.b),
  percent: input.a * 12.5%,
  echo: input.a,
}""",
    "money": """output {
  sum: (input.m + input.n).amount,
  difference: (input.m - input.n).amount,
  scaled: (input.m * input.a).amount,
  total: (sum(x for x in input.ms) ?? money(0, input.m.currency)).amount,
}""",
}
# one comparison or sum of money per policy: each must raise on mixed currencies by itself
MONEY_OPS: dict[str, str] = {
    "add": "input.m + input.n",
    "subtract": "input.m - input.n",
    "ratio": "input.m / input.n",
    "less": "input.m < input.n",
    "at_least": "input.m >= input.n",
    "equal": "input.m == input.n",
    "not_equal": "input.m != input.n",
    "in_list": "input.m in [input.n]",
    "in_literal_list": "input.m in [5 USD, 7.50 USD]",
    "in_range": "input.m in input.n .. input.n",
    "max": "max(x for x in [input.m, input.n])",
    "least": "least(input.m, input.n)",
    "sorted": "[x for x in [input.m, input.n] order by x]",
    "sum_list": "sum(x for x in input.ms)",
}


@functools.cache
def c_engine() -> Engine:
    root = _TMP / "c-store"
    schema = json.dumps(input_schema(C_FIELDS))
    policies = {**C_POLICIES, **{f"op-{k}": f"output {{ r: {v} }}" for k, v in MONEY_OPS.items()}}
    for name, body in policies.items():
        d = root / "c" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "input.schema.json").write_text(schema)
        (d / "output.schema.json").write_text("{}")
        (d / "1.0.0.cw").write_text(
            f'policy "c/{name}"\nversion "1.0.0"\ninput schema "input.schema.json"\n'
            f'output schema "output.schema.json"\n{body}\n'
        )
    return Engine.from_directory(root)


def exact_decimals() -> st.SearchStrategy[str]:
    """Decimal strings as the input schema allows them, from small to very long."""
    return st.one_of(decimal_texts(8, 6), decimal_texts(30, 30))


def money_json(currency: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"amount": exact_decimals(), "currency": currency})


def assert_exact(text: Any, expected: Decimal, what: str) -> None:
    assert isinstance(text, str), f"{what}: {text!r} is not a decimal string"
    assert PLAIN_DECIMAL.fullmatch(text), f"{what}: {text!r} is not written as a plain decimal"
    assert Decimal(text) == expected, f"{what}: {text} != {expected}"


@given(
    a=exact_decimals(),
    b=exact_decimals(),
    xs=st.lists(exact_decimals(), max_size=5),
    level=st.sampled_from(LEVELS),
)
@example(a="1", b="0.0000001", xs=[], level="off")
@example(a="1" + "0" * 29, b="0." + "0" * 29 + "1", xs=[], level="off")
def test_decimal_arithmetic_is_exact(a: str, b: str, xs: list[str], level: str) -> None:
    m = {"amount": "1", "currency": "USD"}
    data = {"a": a, "b": b, "xs": xs, "m": m, "n": m, "ms": []}
    out = c_engine().evaluate("c/arith", data, trace=level).output
    A, B = Decimal(a), Decimal(b)
    assert_exact(out["sum"], WIDE.add(A, B), "a + b")
    assert_exact(out["difference"], WIDE.subtract(A, B), "a - b")
    assert_exact(out["product"], WIDE.multiply(A, B), "a * b")
    assert_exact(out["cube"], WIDE.multiply(WIDE.multiply(A, B), A), "a * b * a")
    total = Decimal(0)
    for x in xs:
        total = WIDE.add(total, Decimal(x))
    assert_exact(out["total"], total, "sum(xs)")
    assert_exact(out["negated"], A.copy_negate(), "-a")
    assert_exact(out["distance"], WIDE.subtract(A, B).copy_abs(), "abs(a - b)")
    assert_exact(out["percent"], WIDE.multiply(A, Decimal("0.125")), "a * 12.5%")
    assert_exact(out["echo"], A, "a")


@given(text=exact_decimals())
@example(text="1234567890123456789012345678.9")
def test_decimal_literals_are_exact(text: str) -> None:
    policy = f"""policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
output {{ literal: {text}, percent: {text}%, doubled: {text} + {text} }}
"""
    prog, diags = load_text(policy, input_schema({}), {})
    assert prog is not None, "\n".join(d.render() for d in diags)
    out, _ = compile_program(prog).run({}, "off")
    value = Decimal(text)
    if "." in text:
        assert_exact(out["literal"], value, "literal")
    else:  # a whole number is an int literal
        assert out["literal"] == int(text)
    assert_exact(out["percent"], value.scaleb(-2, context=WIDE), "percent literal")
    if "." in text:
        assert_exact(out["doubled"], WIDE.add(value, value), "literal + literal")


@given(
    m=money_json(st.just("USD")),
    n=money_json(st.just("USD")),
    a=exact_decimals(),
    ms=st.lists(money_json(st.just("USD")), max_size=4),
    level=st.sampled_from(LEVELS),
)
def test_money_arithmetic_in_one_currency_is_exact(
    m: dict[str, Any], n: dict[str, Any], a: str, ms: list[dict[str, Any]], level: str
) -> None:
    data = {"a": a, "b": "0", "xs": [], "m": m, "n": n, "ms": ms}
    out = c_engine().evaluate("c/money", data, trace=level).output
    M, N = Decimal(m["amount"]), Decimal(n["amount"])
    assert_exact(out["sum"], WIDE.add(M, N), "m + n")
    assert_exact(out["difference"], WIDE.subtract(M, N), "m - n")
    assert_exact(out["scaled"], WIDE.multiply(M, Decimal(a)), "m * a")
    total = Decimal(0)
    for x in ms:
        total = WIDE.add(total, Decimal(x["amount"]))
    assert_exact(out["total"], total, "sum(ms)")


@given(
    op=st.sampled_from(sorted(MONEY_OPS)),
    m=money_json(st.sampled_from(CURRENCIES)),
    n=money_json(st.sampled_from(CURRENCIES)),
    ms=st.lists(money_json(st.sampled_from(CURRENCIES)), max_size=4),
    level=st.sampled_from(LEVELS),
)
@example(
    op="in_literal_list",
    m={"amount": "5", "currency": "EUR"},
    n={"amount": "5", "currency": "EUR"},
    ms=[],
    level="off",
)
@example(
    op="add",
    m={"amount": "5", "currency": "EUR"},
    n={"amount": "5", "currency": "USD"},
    ms=[],
    level="off",
)
def test_money_never_mixes_currencies(
    op: str, m: dict[str, Any], n: dict[str, Any], ms: list[dict[str, Any]], level: str
) -> None:
    data = {"a": "1", "b": "1", "xs": [], "m": m, "n": n, "ms": ms}
    if op == "sum_list":
        mixed, paths = (
            len({x["currency"] for x in ms}) > 1,
            {f"/ms/{i}/currency" for i in range(len(ms))},
        )
    elif op == "in_literal_list":
        mixed, paths = m["currency"] != "USD", {"/m/currency"}
    else:
        mixed, paths = m["currency"] != n["currency"], {"/m/currency", "/n/currency"}
    engine = c_engine()
    if not mixed:
        try:
            engine.evaluate(f"c/op-{op}", data, trace=level)
        except DecisionError as e:  # one currency: never a currency error (0 / 0 may fail)
            assert e.code != "currency_mismatch", f"{op} mixed currencies with one currency"
        return
    # mixing currencies the input rules let differ is the policy's bug, at its place: an
    # evaluation error naming both amounts, never an input error
    with pytest.raises(EvaluationError) as info:
        out = engine.evaluate(f"c/op-{op}", data, trace=level).output
        note(f"silent result: {out!r}")
    assert info.value.code == "currency_mismatch"
    assert info.value.path == ""
    assert "/1.0.0.cw:5:" in info.value.location, info.value.location
    message = info.value.message
    assert any(p in message for p in paths), f"{message!r} names none of {sorted(paths)}"
    # the compiled policy itself raises it, located
    compiled = engine.policy(f"c/op-{op}").compiled
    with pytest.raises(EvaluationError) as raw:
        compiled.run(data, level)
    assert (raw.value.code, raw.value.location) == ("currency_mismatch", info.value.location)


# ---- (d) the parser fails only with located syntax errors ----------------------------------


NESTED = 'policy "p" version "1.0.0" output { r: ' + "-" * 3000 + "1 }"


@given(text=st.text())
@example(text="")
@example(text=NESTED)
@example(text='policy "p" output { r: ' + "[" * 2000 + "]" * 2000 + " }")
@example(text='policy "p" output { r: ' + "not " * 2000 + "true }")
def test_parser_raises_only_syntax_errors_on_any_text(text: str) -> None:
    check_parse(text)


@given(text=mutated_policies((GUARDED_DEFINITION.text, FULL_TRACE_FIRST.text)))
def test_parser_raises_only_syntax_errors_on_mutated_policies(text: str) -> None:
    check_parse(text)


def test_sample_policy_parses() -> None:
    parse(SAMPLE_POLICY)


NESTED_MIXED_NUMBERS = Case(
    text="""policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
output {
  r: distinct(distinct(flatten([[0.5], [0]]))),
  s: flatten([[0.5], [input.i1]]),
  t: distinct([input.i1, 0.5]),
  u: [[input.i1], [0.5]] + [[1]],
}
""",
    fields={"i1": INT},
    inputs=[{"i1": 0}, {"i1": 3}],
)


def test_nested_lists_of_mixed_numbers_are_written_alike() -> None:
    """A whole number inside a nested list of decimals is a decimal in both the engine and the
    reference interpreter, through `flatten`, `distinct` and list joins."""
    check_against_reference(NESTED_MIXED_NUMBERS, generated=False)
