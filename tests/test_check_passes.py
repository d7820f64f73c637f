"""The checker's pipeline from its caller's side: one result (the program, or none when there
are errors, and every diagnostic), passes run in their declared order, each reported to a
metrics hook, and the lints reported over the checked program, with errors or without."""

from __future__ import annotations

from typing import Any

import pytest

from clausewise.dsl.check import PASSES, check_policy
from clausewise.dsl.parser import parse

HEADER = 'policy "t/p"\nversion "1.0.0"\ninput schema "i.json"\noutput schema "o.json"\n'
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "s": {"type": "string"}},
    "required": ["n", "s"],
}


def check(body: str) -> Any:
    return check_policy(parse(HEADER + body, "p.cw"), "p.cw", SCHEMA, {})


def codes(result: Any) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_a_policy_that_checks_gives_its_program_and_its_warnings() -> None:
    result = check('let unused = 1\nrule big cites A1 "Big." when input.n > 3\noutput { v: big }')
    assert result.program is not None
    assert codes(result) == ["unused-definition"]
    assert result.warnings == result.diagnostics and not result.errors


@pytest.mark.parametrize(
    ("body", "error", "warning"),
    [
        ("let unused = 1\noutput { v: input.nope }", "unknown-field", "unused-definition"),
        (
            'rule never cites A1 "Never." when 1 > 2\noutput { v: never, w: input.n + "x" }',
            "type-mismatch",
            "rule-never-fires",
        ),
        (
            "output { v: input.n ?? 0, w: input.s is null, x: nope }",
            "unknown-name",
            "null-check-never-null",
        ),
        (
            'rule r "R." when input.n > 1\noutput { v: r, w: missing }',
            "unknown-name",
            "missing-citation",
        ),
    ],
)
def test_errors_give_no_program_and_the_lints_still_show(
    body: str, error: str, warning: str
) -> None:
    result = check(body)
    assert result.program is None
    assert error in [d.code for d in result.errors]
    assert warning in [d.code for d in result.warnings]
    keys = [d.sort_key() for d in result.diagnostics]
    assert keys == sorted(keys)


def test_the_passes_run_in_their_order_and_report_to_the_metrics_hook() -> None:
    seen: list[tuple[str, float]] = []
    tree = parse(HEADER + "output { v: input.n }", "p.cw")
    result = check_policy(tree, "p.cw", SCHEMA, {}, metrics=lambda n, s: seen.append((n, s)))
    assert result.program is not None
    assert [n for n, _ in seen] == [n for n, _ in PASSES]
    assert all(s >= 0 for _, s in seen)
    assert [n for n, _ in PASSES][-1] == "lints"


def test_a_decision_with_a_shadowed_rule_is_linted_once_per_rule() -> None:
    result = check(
        "decision level first cites A1 {\n"
        '  rule a cites A1 "A." when input.n > 1 then "a"\n'
        '  rule b cites A1 "B." when input.n > 1 then "b"\n'
        '  rule c cites A1 "C." when true then "c"\n'
        '  rule d cites A1 "D." when input.n > 5 then "d"\n'
        "}\n"
        "output { v: level }"
    )
    assert result.program is not None
    shadowed = [d for d in result.diagnostics if d.code == "rule-shadowed"]
    assert [d.span.text().split()[1] for d in shadowed] == ["b", "d"]
