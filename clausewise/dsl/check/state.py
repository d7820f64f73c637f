"""The checker's shared state: the scopes of names, the environment of an expression, and
the state every part of the checker reads and adds to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import ast as A
from .. import types as T
from ..diagnostics import ERROR, WARNING, Diagnostic, Span
from ..typed import Definition, Function, Node, Program, Requirement, RuleMeta, SiteMeta, TInvariant
from ..types import Type

AGGREGATES = {
    "count",
    "sum",
    "min",
    "max",
    "any",
    "all",
    "first",
    "last",
    "distinct",
    "group",
    "running_sum",
    "unique",
    "pairs",
}

# (importing file, path as written) -> (a key naming the module's file, however the path was
# spelled, so that a cycle is seen as one; its tree)
ModuleLoader = Callable[[str, str], tuple[str, A.PolicyFile]]


@dataclass(frozen=True, slots=True)
class CheckedRule:
    """A rule as written, its checked condition, and the decision it belongs to ('' if none)."""

    rule: A.Rule
    when: Node
    owner: str


@dataclass(frozen=True, slots=True)
class CheckedDecision:
    """A decision as written, with the id and checked condition of each of its rules."""

    decision: A.Decision
    conditions: tuple[tuple[int, Node], ...]


@dataclass(frozen=True, slots=True)
class CheckedNullTest:
    """A test for null (`x is null`, `x is not null`) or a default (`x ?? d`): the expression
    tested as written and as checked, and where the test is."""

    operand: A.Expr
    checked: Node
    span: Span
    coalesce: bool


@dataclass
class Scope:
    """The top-level names of one file (a policy or a module)."""

    path: str
    defs: dict[str, A.Item]
    modules: dict[str, Scope]
    uid: str


@dataclass
class Env:
    """What is visible inside an expression: local variables, facts about nulls, the rule."""

    scope: Scope
    locals: dict[str, tuple[str, Type]] = field(default_factory=dict)  # name -> (py name, type)
    nonnull: frozenset[str] = frozenset()
    rid: int | None = None
    allow_output: bool = False

    def with_local(self, name: str, pyname: str, t: Type) -> Env:
        return Env(
            self.scope,
            {**self.locals, name: (pyname, t)},
            self.nonnull,
            self.rid,
            self.allow_output,
        )

    def with_facts(self, facts: frozenset[str]) -> Env:
        if not facts:
            return self
        return Env(self.scope, self.locals, self.nonnull | facts, self.rid, self.allow_output)

    def in_rule(self, rid: int) -> Env:
        return Env(self.scope, self.locals, self.nonnull, rid, self.allow_output)


class CheckerBase:
    """What the parts of the checker share: the policy, its schemas, the diagnostics found so far,
    and what checking has produced (definitions, instantiated functions, rules, sites)."""

    def __init__(
        self,
        file: A.PolicyFile,
        path: str,
        input_schema: dict[str, Any] | None,
        output_schema: dict[str, Any] | None,
        load_module: ModuleLoader | None = None,
    ):
        self.file = file
        self.path = path
        self.diags: list[Diagnostic] = []
        self.load_module = load_module
        self.input_schema = input_schema or {}
        self.output_schema = output_schema or {}
        self.input_type: Type = T.ANY
        self.output_type: Type = T.ANY
        self.definitions: dict[str, Definition] = {}
        self.functions: dict[str, Function] = {}
        self.rules: list[RuleMeta] = []
        self.sites: list[SiteMeta] = []
        self._global_types: dict[str, Type] = {}
        self._in_progress: list[str] = []
        # the calls being instantiated, innermost last: a problem that a call's argument types
        # cause in a module is reported at the call
        self._call_sites: list[Span] = []
        self._deps_stack: list[set[str]] = []
        self._counter = 0
        # (scope uid, name) of every definition a reference resolved to
        self.used_names: set[tuple[str, str]] = set()
        self._scopes: dict[str, Scope] = {}
        self._params: tuple[str, ...] = ()
        self._context = ""  # 'require' or 'invariant' while checking one
        # what the passes produce, in order: the policy file's scope, its checked items, the
        # program they make up
        self.scope: Scope | None = None
        self.requirements: list[Requirement] = []
        self.output: Node | None = None
        self.output_deps: set[str] = set()
        self.field_deps: dict[str, set[str]] = {}
        self.invariants: list[TInvariant] = []
        self.program: Program | None = None
        # what the lints look at beside the program: each rule and decision as written, with
        # its checked conditions (once per instantiation)
        self.checked_rules: list[CheckedRule] = []
        self.checked_decisions: list[CheckedDecision] = []
        self.null_tests: list[CheckedNullTest] = []

    def error(self, code: str, msg: str, span: Span, help: str | None = None) -> None:
        self.diags.append(Diagnostic(code, ERROR, msg, span, help))

    def warn(self, code: str, msg: str, span: Span, help: str | None = None) -> None:
        self.diags.append(Diagnostic(code, WARNING, msg, span, help))

    def fresh(self, base: str) -> str:
        self._counter += 1
        return f"{base}_{self._counter}"

    # implemented by the parts the checker is made of (`items`): declared here for the parts
    # that come before them
    def _definition_body(self, item: Any, env: Env, name: str) -> Node:
        raise NotImplementedError

    def _check_wall_clock(self, v: object, zone_name: str | None, span: Span) -> None:
        raise NotImplementedError
