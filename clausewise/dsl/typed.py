"""The typed program the checker produces and the compiler (and reference interpreter) consume.

Names are resolved, functions are instantiated per argument types, operator dispatch is chosen,
tables are turned into first-match decisions, and every rule, comparison and aggregate site has a
stable id that traces refer to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, assert_never

from . import ast as A
from .diagnostics import Span
from .types import Type

if TYPE_CHECKING:
    from .costclass import CostClass


@dataclass(eq=False, slots=True, kw_only=True)
class Expr:
    """What every typed expression has: its type and the policy text it was checked from.

    One subclass per kind of expression; `Node` is the union of them all, so a `match` over a
    `Node` that ends in `assert_never` is checked to handle every kind."""

    type: Type
    span: Span


@dataclass(eq=False, slots=True)
class Const(Expr):
    """A constant: a literal, or a value the checker knows (`UNKNOWN` after an error)."""

    value: Any


@dataclass(eq=False, slots=True)
class ConstMoney(Expr):
    amount: Decimal
    currency: str


@dataclass(eq=False, slots=True)
class ConstMonths(Expr):
    """A number of calendar months (`3 months`, `2 years`)."""

    count: int


@dataclass(eq=False, slots=True)
class ConstDuration(Expr):
    """A fixed duration: `count` of `unit` (a keyword of `datetime.timedelta`)."""

    count: int
    unit: str


@dataclass(eq=False, slots=True)
class InputRef(Expr):
    pass


@dataclass(eq=False, slots=True)
class OutputRef(Expr):
    """The decision's output, read by an invariant."""


@dataclass(eq=False, slots=True)
class Local(Expr):
    """A parameter or a variable bound by a comprehension or `with`, by its Python name."""

    name: str


@dataclass(eq=False, slots=True)
class Global(Expr):
    """A definition with no parameters, by its key in `Program.definitions`."""

    key: str


@dataclass(eq=False, slots=True)
class Field(Expr):
    """A field of a record (or of a value of unknown type)."""

    obj: Node
    name: str


@dataclass(eq=False, slots=True)
class Attr(Expr):
    """`start` or `end` of a range."""

    obj: Node
    name: str


@dataclass(eq=False, slots=True)
class Index(Expr):
    """An item of a list (null past its ends) or a value of a map (null when absent)."""

    obj: Node
    index: Node


@dataclass(eq=False, slots=True)
class ListLit(Expr):
    items: tuple[Node, ...]


@dataclass(eq=False, slots=True)
class RecordLit(Expr):
    fields: tuple[tuple[str, Node], ...]


@dataclass(eq=False, slots=True)
class Not(Expr):
    operand: Node


@dataclass(eq=False, slots=True)
class Neg(Expr):
    operand: Node


@dataclass(eq=False, slots=True)
class If(Expr):
    cond: Node
    then: Node
    orelse: Node


@dataclass(eq=False, slots=True)
class IsNull(Expr):
    """`x is null`, or `x is not null` when `negated`."""

    operand: Node
    negated: bool


@dataclass(eq=False, slots=True)
class With(Expr):
    """`with name = value: body`."""

    name: str
    value: Node
    body: Node


@dataclass(eq=False, slots=True)
class BoolOp(Expr):
    """`and` or `or` of two or more operands, evaluated left to right until one decides."""

    op: Literal["and", "or"]
    operands: tuple[Node, ...]


@dataclass(eq=False, slots=True)
class Test(Expr):
    """A boolean read as a condition: the full trace records at `sid` whether it was `wanted`."""

    operand: Node
    sid: int
    wanted: bool


@dataclass(eq=False, slots=True)
class Cast(Expr):
    """A value of unknown type (`any`: an input field the schema leaves untyped) where a value
    of `type` is expected (a condition, a typed parameter): checked at run time to be one,
    else the error `type_mismatch` here."""

    operand: Node


@dataclass(eq=False, slots=True)
class Widen(Expr):
    """A typed value holding a decimal where the value's type becomes unknown (`any`: a branch
    of an `if` whose other branch is an untyped input field, an item of such a list, ...). A
    decimal that is a whole number may be held as an integer while its type says decimal (the
    output is written by the type); from here on only the value says what it is, so the value
    takes the form of its type (`operand.type`) here."""

    operand: Node


@dataclass(eq=False, slots=True)
class Coalesce(Expr):
    """`left ?? right`: `right` is evaluated only when `left` is null."""

    left: Node
    right: Node


@dataclass(eq=False, slots=True)
class Arith(Expr):
    """`left op right`; `mode` is the dispatch the checker chose by the operands' types
    (`int`, `dec`, `div`, `money`, `time`, `elapsed`, `list_concat`, or `any` when an operand
    is untyped)."""

    op: str
    left: Node
    right: Node
    mode: str


@dataclass(eq=False, slots=True)
class Compare(Expr):
    """`left op right`, traced at site `sid`."""

    op: str
    left: Node
    right: Node
    sid: int


@dataclass(eq=False, slots=True)
class Member(Expr):
    """`item in container` (`not in` when `negated`); `mode` is `list` or `range`."""

    item: Node
    container: Node
    negated: bool
    mode: str
    sid: int


@dataclass(eq=False, slots=True)
class RangeLit(Expr):
    """`low..high`, or `low..<high` when `half_open`."""

    low: Node
    high: Node
    half_open: bool


@dataclass(eq=False, slots=True)
class Reasons(Expr):
    """`reasons(d)`: the rules of `d` (id and condition) and its strategy."""

    strategy: str
    rules: tuple[tuple[int, Node], ...]


@dataclass(eq=False, slots=True)
class Call(Expr):
    """A call of a parameterised definition, by its instantiation's key in
    `Program.functions`."""

    key: str
    args: tuple[Node, ...]


@dataclass(eq=False, slots=True)
class Pair(Expr):
    """The `key: value` element of a map comprehension."""

    key: Node
    value: Node


@dataclass(eq=False, slots=True)
class Comp(Expr):
    """A pass over a list: `agg` (`list`, `map`, `count`, `any`, `all`, `sum`, `min`, ...) of
    `elem` for each `var` in `source` that `where` keeps, optionally ordered by `order`
    (`desc`ending) or keyed `by`; `mode` is `pred` when `elem` is a condition (`count`, `any`,
    `all`), `money` for a sum of money. Aggregates are traced at site `sid`."""

    agg: str
    var: str
    source: Node
    where: Node | None
    elem: Node
    order: Node | None
    desc: bool
    by: Node | None
    mode: str
    sid: int


@dataclass(eq=False, slots=True)
class Builtin(Expr):
    """A call of a built-in function, by its name in the runtime's library."""

    name: str
    args: tuple[Node, ...]


@dataclass(eq=False, slots=True)
class Rule(Expr):
    """A rule's body: `then` when `when` holds; traced as rule `rid`."""

    rid: int
    when: Node
    then: Node | None  # a rule inside a decision without `then` gives its own name


@dataclass(eq=False, slots=True)
class Decision(Expr):
    """A decision's or table's body: its cases (rule id, condition, value) in order, decided by
    `strategy` (`first` or `collect`), and the value when none applies."""

    strategy: str
    cases: tuple[tuple[int, Node, Node], ...]
    default: Node | None
    name: str


Node: TypeAlias = (
    Const
    | ConstMoney
    | ConstMonths
    | ConstDuration
    | InputRef
    | OutputRef
    | Local
    | Global
    | Field
    | Attr
    | Index
    | ListLit
    | RecordLit
    | Not
    | Neg
    | If
    | IsNull
    | With
    | BoolOp
    | Test
    | Cast
    | Widen
    | Coalesce
    | Arith
    | Compare
    | Member
    | RangeLit
    | Reasons
    | Call
    | Pair
    | Comp
    | Builtin
    | Rule
    | Decision
)


def children(node: Node) -> tuple[Node, ...]:
    """The typed expressions directly inside `node`, in evaluation order."""
    match node:
        case (
            Const()
            | ConstMoney()
            | ConstMonths()
            | ConstDuration()
            | InputRef()
            | OutputRef()
            | Local()
            | Global()
        ):
            return ()
        case Field(obj=obj) | Attr(obj=obj):
            return (obj,)
        case Index(obj=obj, index=index):
            return (obj, index)
        case ListLit(items=items) | BoolOp(operands=items) | Call(args=items):
            return items
        case Builtin(args=items):
            return items
        case RecordLit(fields=fields):
            return tuple(v for _k, v in fields)
        case (
            Not(operand=x)
            | Neg(operand=x)
            | IsNull(operand=x)
            | Test(operand=x)
            | Cast(operand=x)
            | Widen(operand=x)
        ):
            return (x,)
        case If(cond=c, then=t, orelse=o):
            return (c, t, o)
        case With(value=value, body=body):
            return (value, body)
        case Coalesce(left=a, right=b) | Arith(left=a, right=b) | Compare(left=a, right=b):
            return (a, b)
        case Member(item=a, container=b) | RangeLit(low=a, high=b) | Pair(key=a, value=b):
            return (a, b)
        case Reasons(rules=rules):
            return tuple(when for _rid, when in rules)
        case Comp(source=source, where=where, elem=elem, order=order, by=by):
            return tuple(x for x in (source, where, elem, order, by) if x is not None)
        case Rule(when=when, then=then):
            return (when,) if then is None else (when, then)
        case Decision(cases=cases, default=default):
            out = tuple(x for _rid, when, then in cases for x in (when, then))
            return out if default is None else (*out, default)
        case _:
            assert_never(node)


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
    placeholders: tuple[Node, ...] = ()


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
    body: Node
    deps: set[str] = field(default_factory=set)
    span: Span | None = None


@dataclass(slots=True)
class Function:
    """One instantiation of a parameterised let, rule, decision or table."""

    key: str
    name: str
    params: tuple[str, ...]
    body: Node
    deps: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Requirement:
    """A precondition on the input (`require`)."""

    code: str
    fors: tuple[tuple[str, Node, Node | None, tuple[Any, ...]], ...]  # var, source, where, path
    cond: Node
    at: tuple[Any, ...]  # path parts: str segments and ('idx', n) loop indexes
    message: str
    span: Span
    deps: set[str] = field(default_factory=set)


@dataclass(slots=True)
class TInvariant:
    name: str
    description: str
    cites: tuple[str, ...]
    body: Node
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
    output: Node | None
    output_deps: set[str]
    invariants: list[TInvariant]
    rules: list[RuleMeta]
    sites: list[SiteMeta]
    field_deps: dict[str, set[str]] = field(default_factory=dict)  # output field -> keys
    cost: CostClass | None = None  # in the sizes of the input's lists (see dsl/cost.py)

    @property
    def header(self) -> A.Header:
        return self.file.header
