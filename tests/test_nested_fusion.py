"""Passes over a list and over filters of it share one loop in the untraced code: sums, counts,
groups and lists nested under the conditions of the filters they read. Every decision agrees
with the reference interpreter (which evaluates each definition on its own, in written order)
and with the traced levels (which keep one comprehension per definition), failures included:
the failure reported is the one the written order meets first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from clausewise import Engine
from clausewise.dsl.runtime import EvaluationBudget
from clausewise.engine.compiler import LEVELS
from clausewise.engine.store import PolicyStore
from tests.generators.policies import error_key
from tests.oracles.interpreter import Interpreter, outcome

HEADER = """policy "t/{name}"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
"""

# name -> (body, how many `for` loops the untraced code keeps)
POLICIES = {
    # filters of filters, with counts, integer and decimal sums, a group and a derived list:
    # all in one loop over the items
    "chain": (
        """
let pos = [i for i in input.items where i.n > 0]
let flagged = [i for i in pos where i.flag]
let big_flagged = count(i for i in flagged where i.n > input.limit)
let flagged_total = sum(i.n for i in flagged)
let by_tag = group(i for i in flagged by i.tag)
let pos_rate = sum(i.rate for i in pos where i.tag != "")
let short_tags = [i.tag for i in flagged where i.n < 5]
let all_n = sum(i.n for i in input.items)
# reads its filter's list (whole) in its condition: a pass of its own
let crowded = count(i for i in pos where count(pos) > 3 and i.flag)
output {
  crowded: crowded,
  pos: count(pos),
  big_flagged: big_flagged,
  flagged_total: flagged_total,
  groups: [{key: g.key, n: count(g.items)} for g in by_tag],
  pos_rate: pos_rate,
  short_tags: short_tags,
  all_n: all_n,
}
""",
        1,
    ),
    # two passes over one filter that fail on different elements, and a money sum: the
    # failure of the first written is the decision's
    "failures": (
        """
let flagged = [i for i in input.items where i.flag]
let steep = count(i for i in flagged where 10 / i.n > 2)
let spent = sum(i.price for i in flagged)
let a_tags = count(i for i in input.items where i.tag == "a")
let unflagged_spent = sum(i.price for i in input.items where not i.flag)
output {steep: steep, spent: spent, a_tags: a_tags, unflagged_spent: unflagged_spent}
""",
        1,
    ),
    # a requirement that reads a pass nested in the first loop: the passes after it share a
    # loop of their own; a pass over a list of values (not a filter) is not nested
    "apart": (
        """
let small = [i for i in input.items where i.n < input.limit]
let small_flagged = count(i for i in small where i.flag)
require few: small_flagged <= 4 at input.limit "Too many flagged small items."
let after = sum(i.n for i in small where i.flag)
let crowded = count(i for i in small where count(small) > 3 and i.flag)
let derived = [i.n for i in input.items where i.flag]
let derived_big = count(n for n in derived where n > 2)
output {crowded: crowded, derived_big: derived_big, after: after, derived: derived}
""",
        2,
    ),
    # passes with passes inside their conditions (charged to the cost budget), nested two deep
    "metered": (
        """
let flagged = [i for i in input.items where i.flag]
let tagged = [i for i in flagged where i.tag != ""]
let shared = count(i for i in tagged where count(j for j in input.items where j.tag == i.tag) > 1)
let spread = sum(i.n for i in tagged where any(j.n > i.n for j in flagged))
output {tagged: count(tagged), shared: shared, spread: spread}
""",
        1,
    ),
}

MONEY = {
    "type": "object",
    "format": "money",
    "properties": {
        "amount": {"type": "string", "format": "decimal", "pattern": "^\\d+(\\.\\d+)?$"},
        "currency": {"type": "string"},
    },
    "required": ["amount", "currency"],
}

INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "n": {"type": "integer"},
                    "flag": {"type": "boolean"},
                    "tag": {"type": "string"},
                    "rate": {"type": "string", "format": "decimal", "pattern": "^\\d+(\\.\\d+)?$"},
                    "price": MONEY,
                },
                "required": ["n", "flag", "tag", "rate", "price"],
            },
        },
    },
    "required": ["limit", "items"],
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("nested-fusion")
    for name, (body, _loops) in POLICIES.items():
        folder = root / "t" / name
        folder.mkdir(parents=True)
        (folder / "1.0.0.cw").write_text(HEADER.format(name=name) + body, encoding="utf-8")
        (folder / "input.schema.json").write_text(json.dumps(INPUT_SCHEMA), encoding="utf-8")
        (folder / "output.schema.json").write_text("{}", encoding="utf-8")
    return Engine(PolicyStore.load(Path(root)))


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_passes_share_one_loop(engine: Engine, name: str) -> None:
    compiled = engine.policy(f"t/{name}").compiled
    source = compiled.variants["off"].source
    loops = [ln for ln in source.splitlines() if ln.strip().startswith("for ")]
    assert len(loops) == POLICIES[name][1], source
    for level in ("rules", "full"):
        traced = compiled.variants[level].source
        assert not [ln for ln in traced.splitlines() if ln.strip().startswith("for ")], traced


def item(n: int, flag: bool, tag: str, currency: str = "USD") -> dict[str, Any]:
    return {
        "n": n,
        "flag": flag,
        "tag": tag,
        "rate": f"{abs(n)}.25",
        "price": {"amount": f"{abs(n)}.50", "currency": currency},
    }


items = st.lists(
    st.builds(
        item,
        st.integers(-3, 9),
        st.booleans(),
        st.sampled_from(["a", "b", ""]),
        st.sampled_from(["USD", "USD", "USD", "THB"]),
    ),
    max_size=14,
)

# a currency mismatch (in `spent`) at the second flagged item, before a division by zero (in
# `steep`, written first) at the third: `steep`'s failure is the decision's
MISMATCH_FIRST = [item(5, True, "a"), item(4, True, "b", "THB"), item(0, True, "a")]


@pytest.mark.parametrize("name", sorted(POLICIES))
@given(limit=st.integers(-1, 8), xs=items)
@example(limit=3, xs=MISMATCH_FIRST)
def test_fused_agrees_with_interpreter_and_traced(
    engine: Engine, name: str, limit: int, xs: list[dict[str, Any]]
) -> None:
    policy = engine.policy(f"t/{name}")
    compiled = policy.compiled
    data = {"limit": limit, "items": xs}
    expected = outcome(lambda: Interpreter(policy.program).run(data))
    for level in LEVELS:
        got = outcome(lambda: compiled.run(data, level)[0])  # noqa: B023 (called at once)
        assert error_key(got) == error_key(expected), (level, got, expected)


def test_written_order_failure_wins(engine: Engine) -> None:
    compiled = engine.policy("t/failures").compiled
    data = {"limit": 0, "items": MISMATCH_FIRST}
    codes = {level: outcome(lambda: compiled.run(data, level)[0]) for level in LEVELS}  # noqa: B023
    assert {o[1][1] for o in codes.values()} == {"division_by_zero"}, codes


@pytest.mark.parametrize("steps", [0, 8, 30, 60, 70, 80, 90, 100, 1000])
def test_cost_budget_spent_as_unfused(engine: Engine, steps: int) -> None:
    """A budget that runs out inside the fused loop stops the decision exactly where the
    passes one after the other would."""
    compiled = engine.policy("t/metered").compiled
    xs = [item(k % 5, k % 3 != 0, "ab"[k % 2]) for k in range(8)]
    data = {"limit": 0, "items": xs}
    budget = EvaluationBudget(max_steps=steps, max_items=10_000)
    results = {
        level: outcome(lambda: compiled.run(data, level, budget=budget)[0])  # noqa: B023
        for level in LEVELS
    }
    assert results["off"] == results["rules"] == results["full"], results
