"""Evaluation cost is bounded and visible: `check` computes each policy's cost class and warns
above linear unless the policy acknowledges it; the engine stops an evaluation past its budget
with `cost_limit_exceeded`, from the embedding API and the CLI.
"""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from clausewise import DEFAULT_BUDGET, Engine, EvaluationBudget, EvaluationError, InputError
from clausewise.cli import main
from clausewise.dsl.check import check_policy
from clausewise.dsl.cost import acknowledged_degree
from clausewise.dsl.diagnostics import PolicyError
from clausewise.dsl.parser import parse
from tests.policy_support import POLICY_HEADER as HEADER
from tests.policy_support import JsonishLoader, write_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"

INTS = {"type": "array", "items": {"type": "integer"}}
ITEM = {
    "type": "object",
    "properties": {"k": {"type": "string"}, "lines": INTS, "tag": {"enum": ["a", "b", "c"]}},
    "required": ["k", "lines", "tag"],
}
SCHEMA = {
    "type": "object",
    "properties": {"xs": INTS, "ys": INTS, "items": {"type": "array", "items": ITEM}},
    "required": ["xs", "ys", "items"],
}

TRIPLE = (
    "output { r: count(a for a in input.xs where "
    "count(b for b in input.xs where count(c for c in input.xs where c > b) > a) > 0) }"
)
FLATTEN = "output { r: count(flatten([input.xs for a in input.xs])) }"


def write(root: Path, body: str, header: str = "") -> Path:
    return write_policy(root, body, SCHEMA, header)


def data(n: int) -> dict[str, Any]:
    return {"xs": list(range(n)), "ys": list(range(n)), "items": []}


# ---- the cost class ------------------------------------------------------------------------

# (body, cost class, degree)
CLASSES = [
    ("output { r: 1 + 2 }", "O(1)", 0),
    ("output { r: count(input.xs) }", "O(1)", 0),
    ("output { r: count(x for x in input.xs where x > 2) }", "O(n)", 1),
    (
        "output { r: count(x for x in input.xs where x > 2), s: sum(input.ys) }",
        "O(n + m)",
        1,
    ),
    ("output { r: [x for x in input.xs where x in input.ys] }", "O(n*m)", 2),
    ("output { r: [count(y for y in input.xs where y > x) for x in input.xs] }", "O(n^2)", 2),
    ("output { r: [count(l for l in i.lines where l > 0) for i in input.items] }", "O(n*m)", 2),
    (TRIPLE, "O(n^3)", 3),
    (FLATTEN, "O(n^2)", 2),
    # a function called inside a pass costs its body each time
    (
        "let above(x) = count(y for y in input.xs where y > x)\n"
        "output { r: [above(x) for x in input.xs] }",
        "O(n^2)",
        2,
    ),
    # a definition is computed once, however often it is used
    (
        "let total = sum(input.xs)\noutput { r: [x + total for x in input.xs] }",
        "O(n)",
        1,
    ),
    # the groups' items together are the list grouped
    (
        "output { r: {g.key => count(g.items) for g in group(i for i in input.items by i.k)} }",
        "O(n)",
        1,
    ),
    (
        "output { r: [sum(count(i.lines) for i in g.items) "
        "for g in group(i for i in input.items by i.k)] }",
        "O(n)",
        1,
    ),
    # one per value of a closed enum: as many as the enum has
    (
        "let firsts = distinct(i for i in input.items by i.tag)\n"
        "output { r: [i for i in input.items where i.k in [f.k for f in firsts]] }",
        "O(n)",
        1,
    ),
    (
        "let firsts = distinct(i for i in input.items by i.k)\n"
        "output { r: [i for i in input.items where i.k in [f.k for f in firsts]] }",
        "O(n^2)",
        2,
    ),
]


def check(text: str) -> tuple[Any, list[Any]]:
    result = check_policy(parse(HEADER + text, "p.cw"), "p.cw", SCHEMA, {})
    if result.program is None:
        raise PolicyError(result.diagnostics)
    return result.program, result.warnings


@pytest.mark.parametrize(
    ("body", "expected", "deg"), CLASSES, ids=[c[1] + " " + c[0][:40] for c in CLASSES]
)
def test_cost_class(body: str, expected: str, deg: int) -> None:
    program, warnings = check(body)
    assert program.cost.text == expected
    assert program.cost.degree == deg
    superlinear = [w for w in warnings if w.code == "superlinear-cost"]
    assert bool(superlinear) == (deg >= 2), [w.render() for w in warnings]


def test_the_warning_points_at_the_nesting_and_names_the_lists() -> None:
    body = "output {\n  r: [x for x in input.xs where x in input.ys],\n}"
    _, warnings = check(body)
    (w,) = [w for w in warnings if w.code == "superlinear-cost"]
    assert w.span.text() == "[x for x in input.xs where x in input.ys]"
    assert "O(n*m)" in w.message and "input.xs" in w.message and "input.ys" in w.message
    assert 'cost "O(n*m)"' in (w.help or "")


@pytest.mark.parametrize(
    ("note", "warned"),
    [
        ('cost "O(n^2)" "each x is compared with every y"', None),
        ('cost "O(n*m)" "each x is compared with every y"', None),
        ('cost "O(n^3)" "room to grow"', None),
        ('cost "O(n)" "wrong"', "superlinear-cost"),
        ('cost "quadratic" "why"', "invalid-cost"),
        ('cost "O(n^2)" ""', "invalid-cost"),
    ],
)
def test_an_acknowledged_cost_is_not_warned_about(note: str, warned: str | None) -> None:
    body = note + "\noutput { r: [x for x in input.xs where x in input.ys] }"
    _, warnings = check(body)
    codes = {w.code for w in warnings} & {"superlinear-cost", "invalid-cost"}
    assert codes == ({warned} if warned else set()), [w.render() for w in warnings]


def test_acknowledged_degree() -> None:
    assert acknowledged_degree("O(1)") == 0
    assert acknowledged_degree("O(n)") == 1
    assert acknowledged_degree("O(n + m)") == 1
    assert acknowledged_degree("O(n*m)") == 2
    assert acknowledged_degree("O(n^2 + m)") == 2
    assert acknowledged_degree("O(n^2*m)") == 3
    assert acknowledged_degree("n^2") is None
    assert acknowledged_degree("O(n!)") is None


def test_check_json_shows_each_policys_cost_class(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--format", "json", str(POLICIES)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    costs = {p["policy"]: p["cost"] for p in report["policies"]}
    assert set(costs) == {
        "budgets/amazon-ads-portfolio-cap",
        "budgets/google-ads-credit-budget",
        "health/amazon-seller-account-health",
        "promotions/amazon-ads-click-credit-q4-2022",
        "promotions/google-ads-promo-code",
    }
    assert costs["budgets/google-ads-credit-budget"]["class"] == "O(1)"
    assert costs["promotions/amazon-ads-click-credit-q4-2022"] == {
        "class": "O(n)",
        "degree": 1,
        "sizes": {"n": "input.launches"},
    }
    health = next(p for p in report["policies"] if p["policy"].startswith("health/"))
    assert health["cost"]["degree"] == 2 and health["cost_acknowledged"] == "O(n^2)"
    assert not [d for d in report["diagnostics"] if d["code"] == "superlinear-cost"]
    # and for a policy of one's own, with the warning
    root = write(tmp_path, "output { r: [x for x in input.xs where x in input.ys] }")
    result = CliRunner().invoke(main, ["check", "--format", "json", str(root)])
    report = json.loads(result.output)
    assert report["policies"][0]["cost"]["class"] == "O(n*m)"
    assert [d["code"] for d in report["diagnostics"] if "cost" in d["code"]] == ["superlinear-cost"]


def test_the_cost_acknowledgement_survives_formatting() -> None:
    from clausewise.dsl.formatter import format_source

    text = HEADER + 'cost   "O(n*m)"  "why"\noutput { r: 1 }\n'
    out = format_source(text, "p.cw")
    assert 'cost "O(n*m)" "why"' in out
    assert parse(out, "p.cw").header.cost == parse(text, "p.cw").header.cost


# ---- the budget ------------------------------------------------------------------------------


def test_a_triple_nested_comprehension_over_1000_items_stops(tmp_path: Path) -> None:
    engine = Engine.from_directory(write(tmp_path, TRIPLE))
    for level in ("off", "full"):
        with pytest.raises(EvaluationError) as caught:
            engine.evaluate("t/p", data(1000), trace=level)
        assert caught.value.code == "cost_limit_exceeded"
        assert f"limit {DEFAULT_BUDGET.max_steps:,}" in caught.value.message
        assert caught.value.location.endswith("1.0.0.cw:5:13")
    # the same policy decides on a small input
    assert engine.evaluate("t/p", data(20)).output == {"r": 19}


def test_flatten_stops_before_building_the_list(tmp_path: Path) -> None:
    """`flatten([xs for a in xs])` at 10^4 would build 10^8 items (about 800 MB): it stops
    before building any of them."""
    engine = Engine.from_directory(write(tmp_path, FLATTEN))
    big = data(10_000)
    tracemalloc.start()
    try:
        with pytest.raises(EvaluationError) as caught:
            engine.evaluate("t/p", big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "cost_limit_exceeded"
    assert "list items" in caught.value.message
    assert peak < 50 * 2**20, peak
    assert engine.evaluate("t/p", data(100)).output == {"r": 10_000}


def test_the_budget_is_exact_and_charged_before_each_pass(tmp_path: Path) -> None:
    """A pass inside a pass is charged its length before it starts: a budget of exactly
    what the nested passes visit decides, one step less stops."""
    body = (
        "output { r: count(a for a in input.xs where count(b for b in input.ys where b > a) > 0) }"
    )
    engine = Engine.from_directory(write(tmp_path, body))
    inp = {"xs": list(range(7)), "ys": list(range(9)), "items": []}
    exact = EvaluationBudget(max_steps=7 * 9, max_items=0)
    assert engine.evaluate("t/p", inp, budget=exact).output == {"r": 7}
    for level in ("off", "rules", "full"):
        with pytest.raises(EvaluationError) as caught:
            engine.evaluate("t/p", inp, trace=level, budget=EvaluationBudget(max_steps=7 * 9 - 1))
        assert caught.value.code == "cost_limit_exceeded"


def test_passes_at_the_top_level_are_not_charged(tmp_path: Path) -> None:
    """A single pass over an input list is bounded by the input: no budget stops it."""
    body = "output { r: [x for x in input.xs where x > 2], s: count(input.ys) }"
    engine = Engine.from_directory(write(tmp_path, body))
    nothing = EvaluationBudget(max_steps=0, max_items=0)
    assert engine.evaluate("t/p", data(50), budget=nothing).output["s"] == 50


def test_the_engine_wide_budget_and_the_per_call_budget(tmp_path: Path) -> None:
    root = write(tmp_path, TRIPLE)
    tight = Engine.from_directory(root, budget=EvaluationBudget(max_steps=1000))
    with pytest.raises(EvaluationError):
        tight.evaluate("t/p", data(20))
    roomy = EvaluationBudget(max_steps=10**6)
    assert tight.evaluate("t/p", data(20), budget=roomy).output == {"r": 19}


def test_cli_budget_options_and_exit_code(tmp_path: Path) -> None:
    root = write(tmp_path, TRIPLE)
    small = tmp_path / "small.json"
    small.write_text(json.dumps(data(20)))
    args = ["eval", "t/p", "--policies", str(root), "--input", str(small)]
    assert CliRunner().invoke(main, args).exit_code == 0
    result = CliRunner().invoke(main, [*args, "--max-steps", "100"])
    assert result.exit_code == 4, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "cost_limit_exceeded"
    assert "limit 100" in error["message"]
    flat = write(tmp_path / "flat", FLATTEN)
    result = CliRunner().invoke(
        main,
        ["eval", "t/p", "--policies", str(flat), "--input", str(small), "--max-items", "50"],
    )
    assert result.exit_code == 4 and "list items" in result.stdout


def test_the_shipped_policies_stay_far_below_the_default_budget() -> None:
    """Every test input of the shipped policies decides with a twentieth of the default
    budget (docs/language.md gives the measured figures)."""
    engine = Engine.from_directory(POLICIES)
    twentieth = EvaluationBudget(
        max_steps=DEFAULT_BUDGET.max_steps // 20, max_items=DEFAULT_BUDGET.max_items // 20
    )
    tried = 0
    for test_file in sorted(POLICIES.rglob("*.test.yaml")):
        doc = yaml.load(test_file.read_text(), Loader=JsonishLoader)
        inputs = [c["input"] for c in doc["cases"] if isinstance(c.get("input"), dict)]
        cases = test_file.parent / "cases"
        if cases.is_dir():
            inputs += [json.loads(f.read_text()) for f in sorted(cases.glob("*.json"))]
        for inp in inputs:
            tried += 1
            with contextlib.suppress(InputError):
                engine.evaluate(doc["policy"], inp, budget=twentieth)
    assert tried > 200
