"""The lints: warnings about a policy that type-checks, found by looking at the checked program
after typing (each one a function of the checker's results, run by the `lints` pass)."""

from __future__ import annotations

from collections.abc import Callable

from .. import ast as A
from ..cost import CostClass, acknowledged_degree
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
        if (scope.uid, name) in ck._used:
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


LINTS: list[tuple[str, Lint]] = [
    ("unused-definitions", unused_definitions),
    ("cost", cost),
]
