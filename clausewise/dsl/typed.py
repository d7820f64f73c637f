"""The typed program the checker produces and the compiler (and reference interpreter) consume.

Names are resolved, functions are instantiated per argument types, operator dispatch is chosen,
tables are turned into first-match decisions, and every rule, comparison and aggregate site has a
stable id that traces refer to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import ast as A
from .diagnostics import Span
from .types import Type

if TYPE_CHECKING:
    from .costclass import CostClass


@dataclass(eq=False, slots=True)
class TNode:
    """One typed expression. `kind` selects the meaning of `args` (see the compiler)."""

    kind: str
    type: Type
    args: tuple[Any, ...]
    span: Span


@dataclass(slots=True)
class RuleMeta:
    """What a trace says about a rule: its name, reason, clauses and where it is."""

    rid: int
    name: str
    reason: str
    cites: tuple[str, ...]
    span: Span
    owner: str  # the decision or table it belongs to, or '' at top level
    kind: str = "rule"  # 'rule' or 'row' (a table row)
    params: tuple[str, ...] = ()  # the source names of the parameters its arguments bind
    # the checked expressions of the `{...}` placeholders of its reason, in order
    placeholders: tuple[TNode, ...] = ()


@dataclass(slots=True)
class SiteMeta:
    """A comparison or aggregate in the source: traces report its values under this id."""

    sid: int
    kind: str  # 'cmp' or 'agg'
    text: str
    span: Span
    rid: int | None  # the rule whose condition it is part of, if any
    op: str = ""
    left_text: str = ""
    right_text: str = ""
    context: str = ""  # 'require' or 'invariant' when it is part of one


@dataclass(slots=True)
class Definition:
    """A definition with no parameters: evaluated once per decision, in dependency order."""

    key: str
    name: str
    body: TNode
    deps: set[str] = field(default_factory=set)
    span: Span | None = None


@dataclass(slots=True)
class Function:
    """One instantiation of a parameterised let, rule, decision or table."""

    key: str
    name: str
    params: tuple[str, ...]
    body: TNode
    deps: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Requirement:
    """A precondition on the input (`require`)."""

    code: str
    fors: tuple[tuple[str, TNode, TNode | None, tuple[Any, ...]], ...]  # var, source, where, path
    cond: TNode
    at: tuple[Any, ...]  # path parts: str segments and ('idx', n) loop indexes
    message: str
    span: Span
    deps: set[str] = field(default_factory=set)


@dataclass(slots=True)
class TInvariant:
    name: str
    description: str
    cites: tuple[str, ...]
    body: TNode
    span: Span
    deps: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Program:
    """A checked policy, ready to compile."""

    file: A.PolicyFile
    path: str
    input_type: Type
    output_type: Type
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    definitions: dict[str, Definition]
    functions: dict[str, Function]
    requirements: list[Requirement]
    output: TNode | None
    output_deps: set[str]
    invariants: list[TInvariant]
    rules: list[RuleMeta]
    sites: list[SiteMeta]
    field_deps: dict[str, set[str]] = field(default_factory=dict)  # output field -> keys
    cost: CostClass | None = None  # in the sizes of the input's lists (see dsl/cost.py)

    @property
    def header(self) -> A.Header:
        return self.file.header
