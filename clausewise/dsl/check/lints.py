"""The lints: warnings about a policy that type-checks, found by looking at the checked program
after typing (each one a function of the checker's results, run by the `lints` pass)."""

from __future__ import annotations

from collections.abc import Callable

from .. import ast as A
from .. import types as T
from ..ast import span_of
from ..cost import CostClass, acknowledged_degree
from ..fold import always
from ..typed import Const
from .common import text_of
from .state import CheckerBase

# a lint reads what checking produced (`ck.program`, the names it resolved) and reports warnings
Lint = Callable[[CheckerBase], None]


def unused_definitions(ck: CheckerBase) -> None:
    """A definition of the policy file that no requirement, output, invariant or other
    definition refers to."""
    scope = ck.scope
    if scope is None:
        return
    for name, item in scope.defs.items():
        if not isinstance(item, A.Let | A.Rule | A.Decision | A.Table):
            continue
        if (scope.uid, name) in ck.used_names:
            continue
        if item.params:
            ck.warn("unused-definition", f"`{name}` is never used", item.span)
        else:
            ck.warn(
                "unused-definition",
                f"`{name}` is never used",
                item.span,
                "remove it, or use it in a rule or the output",
            )


def cost(ck: CheckerBase) -> None:
    """The policy's cost class against what its header acknowledges (only for a policy that
    checked without errors: the cost of a program with errors means nothing)."""
    program = ck.program
    if program is not None and program.cost is not None:
        cost_lints(ck, ck.file.header, program.cost)


def cost_lints(ck: CheckerBase, hdr: A.Header, cost: CostClass) -> None:
    """Warn about a cost above linear, unless the header acknowledges it (`cost "O(n^2)"
    "why"`); check the acknowledgement itself."""
    note = hdr.cost
    sizes = ", ".join(f"{k} = {v}" for k, v in cost.sizes.items())
    if note is not None:
        acknowledged = acknowledged_degree(note.cost_class)
        if acknowledged is None:
            ck.warn(
                "invalid-cost",
                f"`{note.cost_class}` is not a cost class",
                note.span,
                'write it as `O(1)`, `O(n)`, `O(n*m)`, `O(n^2)`...: `cost "O(n^2)" "why"`',
            )
            return
        if not note.reason.strip():
            ck.warn(
                "invalid-cost",
                "the cost acknowledgement gives no reason",
                note.span,
                "say why the policy needs this cost",
            )
        if cost.degree <= acknowledged:
            return
        ck.warn(
            "superlinear-cost",
            f"the policy's cost is {cost.text} ({sizes}), more than the "
            f"{note.cost_class} its header acknowledges",
            cost.where or note.span,
            f'make it cheaper, or acknowledge it: `cost "{cost.text}" "why"`',
        )
        return
    if cost.degree >= 2:
        ck.warn(
            "superlinear-cost",
            f"evaluation may take {cost.text} steps ({sizes}): more than linear in the "
            "input's size",
            cost.where or hdr.span,
            "avoid a pass over a list inside a pass over a list (count or group once, "
            f'then look up), or acknowledge it in the header: `cost "{cost.text}" "why"`',
        )


def rule_lints(ck: CheckerBase) -> None:
    """A rule that cites no clause, whose condition is always false, or that gives a value with
    `then` outside a decision."""
    for checked in ck.checked_rules:
        rule, when = checked.rule, checked.when
        if not rule.cites:
            ck.warn(
                "missing-citation",
                f"rule `{rule.name}` cites no clause",
                rule.span,
                "add `cites A7` naming the clause of the terms it implements",
            )
        if always(when, ck.definitions) is False:
            ck.warn(
                "rule-never-fires",
                f"rule `{rule.name}` can never fire: its condition is always false",
                span_of(rule.when),
                None
                if isinstance(when, Const) and when.value is False
                else "whatever the input, the constants in it make it `false`",
            )
        if rule.then is not None and not checked.owner:
            ck.warn(
                "then-not-here",
                f"`then` only gives a value inside a decision; rule `{rule.name}` is a condition",
                span_of(rule.then),
                "a rule on its own is a condition: drop `then`, or put the rule in a decision",
            )


def shadowed_rules(ck: CheckerBase) -> None:
    """A rule of a decision that an earlier rule always pre-empts: the same condition, or one
    that is always true."""
    for checked in ck.checked_decisions:
        always_true = {
            ck.rules[rid].name for rid, when in checked.conditions if always(when, ck.definitions)
        }
        _shadowed(ck, checked.decision, always_true)


def _shadowed(ck: CheckerBase, d: A.Decision, always_true: set[str]) -> None:
    if d.strategy == "collect":
        return
    # the order the rules are tried in: by priority (ties as written) in a priority decision
    rules = list(d.rules)
    if d.strategy == "priority":
        rules.sort(key=lambda r: -(r.priority or 0))
    for i, r in enumerate(rules):
        for earlier in rules[:i]:
            if earlier.when == r.when:
                ck.warn(
                    "rule-shadowed",
                    f"rule `{r.name}` can never fire: `{earlier.name}` has the same condition and comes first",
                    r.span,
                )
                break
            if always_true and earlier.name in always_true:
                ck.warn(
                    "rule-shadowed",
                    f"rule `{r.name}` can never fire: `{earlier.name}` comes first and its condition is always true",
                    r.span,
                    f"remove `{r.name}`, or give `{earlier.name}` a condition that can be false",
                )
                break


def never_null(ck: CheckerBase) -> None:
    """A test for null, or a default, on a value whose type says it is never null."""
    for test in ck.null_tests:
        t = test.checked.type
        if T.is_nullable(t) or t == T.ANY:
            continue
        text = text_of(test.operand)
        if test.coalesce:
            ck.warn(
                "null-check-never-null", f"`{text}` is never null, so `??` never applies", test.span
            )
        else:
            ck.warn("null-check-never-null", f"`{text}` is never null ({t})", test.span)


LINTS: list[tuple[str, Lint]] = [
    ("rules", rule_lints),
    ("shadowed-rules", shadowed_rules),
    ("never-null", never_null),
    ("unused-definitions", unused_definitions),
    ("cost", cost),
]
