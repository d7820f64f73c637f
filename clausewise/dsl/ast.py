"""The policy AST: frozen, slotted dataclasses; spans never take part in equality."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .diagnostics import NO_SPAN, Span, pickle_by_fields

# ---- expressions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr:
    """Base of every expression node."""


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    """A constant: bool, int, Decimal, str, date, datetime, None.

    `kind` tells what the author wrote: 'bool', 'int', 'decimal', 'percent', 'string', 'date',
    'datetime', 'local_datetime', 'null'. `text` is the token as written (numbers,
    percentages, dates and datetimes; None for the others and for literals made by the
    tools): printers show it, so a value reads as the author wrote it.
    """

    value: object
    kind: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    text: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class MoneyLit(Expr):
    amount: Decimal
    currency: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    text: str | None = field(default=None, compare=False, repr=False)  # the number as written


@dataclass(frozen=True, slots=True)
class DurationLit(Expr):
    """`30 days`, `2 hours`, `1 month`, `6 years`: unit is one of days, weeks, hours, minutes,
    seconds, months, years."""

    count: int
    unit: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    text: str | None = field(default=None, compare=False, repr=False)  # the number as written


@dataclass(frozen=True, slots=True)
class Name(Expr):
    id: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class InputRef(Expr):
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OutputRef(Expr):
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Field(Expr):
    obj: Expr
    name: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Index(Expr):
    obj: Expr
    index: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call(Expr):
    func: Expr
    args: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Comprehension:
    """`ELEM for VAR in SOURCE [where COND] [order by KEY [desc]] [by KEY]`."""

    elem: Expr
    var: str
    source: Expr
    where: Expr | None = None
    order: Expr | None = None
    descending: bool = False
    by: Expr | None = None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AggCall(Expr):
    """`count(...)`, `sum(...)`, `any(...)`, `first(...)`, `group(...)`... over a comprehension."""

    func: str
    comp: Comprehension
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListComp(Expr):
    comp: Comprehension
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class MapComp(Expr):
    key: Expr
    comp: Comprehension  # comp.elem is the value
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListLit(Expr):
    items: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RecordLit(Expr):
    fields: tuple[tuple[str, Expr], ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    """`not x` or `-x`."""

    op: str
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    """Arithmetic (`+ - * /`), comparison (`== != < <= > >=`), `in`, `not in`, `??`."""

    op: str
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    """`a and b and c` / `a or b`: short-circuit, n-ary; `a implies b` (two operands) is
    `not a or b`."""

    op: str
    operands: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IsNull(Expr):
    operand: Expr
    negated: bool
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RangeExpr(Expr):
    """`a .. b` (inclusive) or `a ..< b` (end excluded)."""

    start: Expr
    end: Expr
    half_open: bool
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class If(Expr):
    cond: Expr
    then: Expr
    orelse: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class With(Expr):
    """`with a = x, b = y: body`: names bound inside one expression, each seeing the ones
    before it."""

    bindings: tuple[tuple[str, Expr], ...]
    body: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


# ---- definitions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeRef:
    name: str
    arg: TypeRef | None = None
    nullable: bool = False
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: TypeRef | None = None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Item:
    """Base of top-level items."""


@dataclass(frozen=True, slots=True)
class Let(Item):
    name: str
    params: tuple[Param, ...] | None
    body: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rule(Item):
    """A named condition with a reason and the clauses it implements.

    At top level a rule is a boolean definition; inside a decision it is one case, whose
    value is `then` (the rule's name as a string when `then` is left out).
    """

    name: str
    params: tuple[Param, ...] | None
    cites: tuple[str, ...]
    priority: int | None
    reason: str
    when: Expr
    then: Expr | None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    cite_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)  # one per id


@dataclass(frozen=True, slots=True)
class Decision(Item):
    """Rules combined by a strategy: `first` match, `collect` all, or `priority` (override)."""

    name: str
    params: tuple[Param, ...] | None
    strategy: str
    cites: tuple[str, ...]
    rules: tuple[Rule, ...]
    default: Expr | None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    cite_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)  # one per id


@dataclass(frozen=True, slots=True)
class Cell:
    """One table cell: kind 'any', 'cmp' (op, value), 'range' (lo, hi, half_open), 'values'."""

    kind: str
    op: str | None = None
    values: tuple[Expr, ...] = ()
    half_open: bool = False
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TableRow:
    cells: tuple[Cell, ...] | None  # None: the `else` row
    result: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Table(Item):
    name: str
    params: tuple[Param, ...]
    hit: str  # 'unique' (overlaps are errors) or 'first'
    cites: tuple[str, ...]
    rows: tuple[TableRow, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    cite_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)  # one per id


@dataclass(frozen=True, slots=True)
class Invariant(Item):
    name: str
    cites: tuple[str, ...]
    description: str
    body: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    cite_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)  # one per id


@dataclass(frozen=True, slots=True)
class ForClause:
    var: str
    source: Expr
    where: Expr | None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Require(Item):
    """A precondition on the input: when it fails the input is rejected with `code` at `at`."""

    code: str
    fors: tuple[ForClause, ...]
    cond: Expr
    at: Expr
    message: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    cites: tuple[str, ...] = ()
    cite_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)  # one per id


@dataclass(frozen=True, slots=True)
class Output(Item):
    body: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Import:
    path: str
    alias: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CostNote:
    """`cost "O(n^2)" "why"`: the author acknowledges the policy's cost class."""

    cost_class: str
    reason: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OutOfScope:
    clause: str
    reason: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    clause_span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Effective:
    start: dt.date | dt.datetime | None
    until: dt.date | dt.datetime | None
    zone: str | None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    # the instants as written (a datetime's value is in UTC; these keep the author's offset)
    start_text: str | None = field(default=None, compare=False, repr=False)
    until_text: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Header:
    kind: str  # 'policy' or 'module'
    id: str
    version: str | None = None
    title: str | None = None
    source_doc: str | None = None
    input_schema: str | None = None
    output_schema: str | None = None
    effective: Effective | None = None
    out_of_scope: tuple[OutOfScope, ...] = ()
    cost: CostNote | None = None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    header: Header
    imports: tuple[Import, ...]
    items: tuple[Item, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


def span_of(node: object) -> Span:
    """The span of any node (every node class has one)."""
    span = getattr(node, "span", NO_SPAN)
    return span if isinstance(span, Span) else NO_SPAN


def children(node: object) -> list[Expr]:
    """The direct sub-expressions of an expression or comprehension, in source order."""
    match node:
        case Field(obj=o):
            return [o]
        case Index(obj=o, index=i):
            return [o, i]
        case Call(func=f, args=a):
            return [f, *a]
        case AggCall(comp=c) | ListComp(comp=c):
            return _comp_children(c)
        case MapComp(key=k, comp=c):
            return [c.source, k, *_comp_children(c)[1:]]
        case ListLit(items=items):
            return list(items)
        case RecordLit(fields=fields):
            return [e for _, e in fields]
        case Unary(operand=o) | IsNull(operand=o):
            return [o]
        case Binary(left=left, right=right):
            return [left, right]
        case BoolOp(operands=ops):
            return list(ops)
        case RangeExpr(start=s, end=e):
            return [s, e]
        case If(cond=c, then=t, orelse=o):
            return [c, t, o]
    return []


def _comp_children(c: Comprehension) -> list[Expr]:
    out: list[Expr] = [c.source, c.elem]
    out += [e for e in (c.where, c.order, c.by) if e is not None]
    return out


def walk(node: Expr) -> list[Expr]:
    """Every expression in `node`, depth first, `node` included."""
    out = [node]
    for child in children(node):
        out.extend(walk(child))
    return out


pickle_by_fields(globals())
