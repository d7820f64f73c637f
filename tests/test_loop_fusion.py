"""Passes over the same list share one loop in the untraced code, with the same results as the
traced code, which keeps one comprehension per definition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clausewise import Engine, InputError
from clausewise.engine.store import PolicyStore

POLICY = """
policy "t/fusion"
version "1.0.0"
title "t"
source "t"
input schema "input.schema.json"
output schema "output.schema.json"

let small = [i for i in input.items where i.n < input.limit]
let big = [i for i in input.items where i.n >= input.limit]
let flagged = count(i for i in input.items where i.flag)
let tags = [i.tag for i in input.items where i.flag]
let by_tag = group(i for i in input.items where i.n > 0 by i.tag)
# uses `small`: cannot join the loop over the items
let small_big = [i for i in input.items where i in small and i.n > 5]
# defined after the loop over the items, but only from the input: moves up with `late_count`
let late_limit = input.limit + 1
let late_count = count(i for i in input.items where i.n > late_limit)
let first_small = [i for i in small where i.flag]
let second_small = count(i for i in small where i.n == 0)

# placed after `flagged` is computed: what follows is never computed before it
require few_flags: flagged <= 9 at input.limit "Too many flags."

let after_require = count(i for i in input.items where i.n == input.limit)

output {
  small: count(small),
  big: count(big),
  flagged: flagged,
  tags: tags,
  groups: [{key: g.key, n: count(g.items)} for g in by_tag],
  small_big: count(small_big),
  late_count: late_count,
  first_small: count(first_small),
  second_small: second_small,
  after_require: after_require,
}
"""

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
                },
                "required": ["n", "flag", "tag"],
            },
        },
    },
    "required": ["limit", "items"],
}

OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {
        name: {"type": "integer"}
        for name in (
            "small",
            "big",
            "flagged",
            "small_big",
            "late_count",
            "first_small",
            "second_small",
            "after_require",
        )
    }
    | {
        "tags": {"type": "array", "items": {"type": "string"}},
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"key": {"type": "string"}, "n": {"type": "integer"}},
                "required": ["key", "n"],
            },
        },
    },
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("fusion")
    folder = root / "t" / "fusion"
    folder.mkdir(parents=True)
    (folder / "1.0.0.cw").write_text(POLICY, encoding="utf-8")
    (folder / "input.schema.json").write_text(json.dumps(INPUT_SCHEMA), encoding="utf-8")
    (folder / "output.schema.json").write_text(json.dumps(OUTPUT_SCHEMA), encoding="utf-8")
    return Engine(PolicyStore.load(Path(root)))


def test_passes_share_loops(engine: Engine) -> None:
    source = engine.policy("t/fusion").compiled.variants["off"].source
    lines = [ln.strip() for ln in source.splitlines()]
    loops = [ln for ln in lines if ln.startswith("for ")]
    # small, big, flagged, tags and by_tag share a loop over the items, with first_small and
    # second_small (passes over small) nested in small's condition; small_big (which uses
    # small), late_count and after_require (after the requirement) make another pass
    assert len(loops) == 2, source
    raise_at = next(i for i, ln in enumerate(lines) if "_InputError" in ln)
    small_big_at = next(i for i, ln in enumerate(lines) if ln.startswith("g9_small_big"))
    assert small_big_at > raise_at, source
    traced = engine.policy("t/fusion").compiled.variants["rules"].source
    assert not [ln for ln in traced.splitlines() if ln.strip().startswith("for ")], traced


items = st.lists(
    st.fixed_dictionaries(
        {"n": st.integers(-3, 9), "flag": st.booleans(), "tag": st.sampled_from(["a", "b", ""])}
    ),
    max_size=14,
)


@given(st.integers(-1, 8), items)
def test_fused_and_traced_agree(engine: Engine, limit: int, xs: list[dict[str, Any]]) -> None:
    data = {"limit": limit, "items": xs}
    if sum(1 for i in xs if i["flag"]) > 9:
        for level in ("off", "rules", "full"):
            with pytest.raises(InputError) as e:
                engine.evaluate("t/fusion", data, trace=level)
            assert e.value.code == "few_flags"
        return
    out = engine.evaluate("t/fusion", data).output
    assert out == engine.evaluate("t/fusion", data, trace="rules").output
    assert out == engine.evaluate("t/fusion", data, trace="full").output
    small = [i for i in xs if i["n"] < limit]
    assert out["small"] == len(small)
    assert out["big"] == len(xs) - len(small)
    assert out["tags"] == [i["tag"] for i in xs if i["flag"]]
    groups: dict[str, int] = {}
    for i in xs:
        if i["n"] > 0:
            groups[i["tag"]] = groups.get(i["tag"], 0) + 1
    assert out["groups"] == [{"key": k, "n": n} for k, n in groups.items()]
    assert out["small_big"] == len([i for i in small if i["n"] > 5])
    assert out["late_count"] == len([i for i in xs if i["n"] > limit + 1])
    assert out["after_require"] == len([i for i in xs if i["n"] == limit])
