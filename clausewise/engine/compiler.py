"""Typed program -> generated Python source -> a compiled decision function.

One variant is generated per trace level (`off`, `rules`, `full`), so tracing is chosen at
compile time and the untraced code never tests a flag. Constants are folded into the namespace
(never spliced into the source as text), operator dispatch is fixed by the checker's types, and
definitions are evaluated once, in dependency order.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, assert_never

from ..dsl import runtime as R
from ..dsl import types as T
from ..dsl.fold import UNKNOWN, ConstantFailure, fold
from ..dsl.typed import (
    Arith,
    Attr,
    BoolOp,
    Builtin,
    Call,
    Cast,
    Coalesce,
    Comp,
    Compare,
    Const,
    ConstDuration,
    ConstMoney,
    ConstMonths,
    Decision,
    Field,
    Global,
    If,
    Index,
    InputRef,
    IsNull,
    ListLit,
    Local,
    Member,
    Neg,
    Node,
    Not,
    OutputRef,
    Pair,
    Program,
    RangeLit,
    Reasons,
    RecordLit,
    Requirement,
    Rule,
    Test,
    Widen,
    With,
    children,
)
from .codec import DATES, build_input_converter, build_output_writer, raw_dates_safe
from .emitter import Block, Emitter, Names
from .explain import placeholder_places, rule_reasons
from .fusion import LoopParts, fuse_loops
from .schedule import evaluation_order
from .trace import Trace, ops_for

LEVELS = ("off", "rules", "full")

_PY_OPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_CTX_OPS = {"+": "add", "-": "subtract", "*": "multiply"}


def _ptr(parts: tuple[Any, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _coalesce_lazy(v: Any, default: Callable[[], Any]) -> Any:
    return default() if v is None else v


def _loses_decimal(frm: T.Type, to: T.Type) -> bool:
    """Whether a value of static type `frm`, taken as type `to`, holds a decimal where `to`
    leaves the type unknown (so the output writer can no longer tell it is a decimal)."""
    frm, to = T.strip(frm), T.strip(to)
    if to == T.ANY:
        return _has_decimal(frm)
    if isinstance(frm, T.ListT) and isinstance(to, T.ListT):
        return _loses_decimal(frm.elem, to.elem)
    if isinstance(frm, T.RangeT) and isinstance(to, T.RangeT):
        return _loses_decimal(frm.elem, to.elem)
    if isinstance(frm, T.MapT) and isinstance(to, T.MapT):
        return _loses_decimal(frm.value, to.value)
    if isinstance(frm, T.RecordT) and isinstance(to, T.RecordT):
        return any(
            (tt := to.field(k)) is not None and _loses_decimal(ft, tt) for k, ft in frm.fields
        )
    return False


def _has_decimal(t: T.Type) -> bool:
    t = T.strip(t)
    if t == T.DECIMAL:
        return True
    if isinstance(t, T.ListT | T.RangeT):
        return _has_decimal(t.elem)
    if isinstance(t, T.MapT):
        return _has_decimal(t.value)
    if isinstance(t, T.RecordT):
        return any(_has_decimal(ft) for _k, ft in t.fields)
    return False


def _hold(v: Any, t: T.Type) -> Any:
    """`v` of static type `t` with every whole number `t` types decimal held as a decimal: a
    value whose type is lost (joined with an untyped one) is written as it is held."""
    t = T.strip(t)
    if v is None:
        return None
    if t == T.DECIMAL:
        return Decimal(v) if isinstance(v, int) and not isinstance(v, bool) else v
    if isinstance(t, T.ListT):
        return [_hold(x, t.elem) for x in v]
    if isinstance(t, T.MapT):
        return {k: _hold(x, t.value) for k, x in v.items()}
    if isinstance(t, T.RangeT):
        return R.Range(_hold(v.start, t.elem), _hold(v.end, t.elem), v.half_open)
    if isinstance(t, T.RecordT):
        return {**v, **{k: _hold(v[k], ft) for k, ft in t.fields if k in v}}
    return v


BASE_NS: dict[str, Any] = {
    "_hold": _hold,
    "_D": DATES,
    "_rule_reasons": rule_reasons,
    "_CTX": R.CTX,
    "_D0": R.D0,
    "_Money": R.Money,
    "_Range": R.Range,
    "_divide": R.divide,
    "_negate": R.negate,
    "_InputError": R.InputError,
    "_ptr": _ptr,
    "_coalesce_lazy": _coalesce_lazy,
    "_index": R.index_or_none,
    "_dyn_arith": R.dynamic_arith,
    "_sum_money": R.sum_money,
    "_sum_decimal": R.sum_decimal,
    "_distinct": R.distinct,
    "_distinct_values": R.distinct_values,
    "_group": R.group,
    "_group_keys": R.group_keys,
    "_running_sum": R.running_sum,
    "_unique": R.unique,
    "_elapsed": R.elapsed,
    "_concat": R.concat,
    "_pairs": R.pairs,
    "_shift": R.shift,
    "_scale_duration": R.scale_duration,
    "_add_durations": R.add_durations,
    "_negate_duration": R.negate_duration,
    "_first": R.first_or_none,
    "_last": R.last_or_none,
    "_last_of": R.last_of,
    "_min": R.min_or_none,
    "_max": R.max_or_none,
    "_sorted": sorted,
    "_first_match": R.first_match,
    "_all_until": R.all_until,
    "_round_to": R.round_to,
    "_untyped": R.untyped,
    "_untyped_list": R.untyped_list,
    "_cast": R.cast,
    "_cast_bool": R.cast_bool,
    "_widened": R.widened,
    "_CostMeter": R.CostMeter,
    "_DEFAULT_BUDGET": R.DEFAULT_BUDGET,
    **{f"_fn_{k}": v for k, v in R.STDLIB.items()},
}


@dataclass
class CompiledVariant:
    # (input, trace) -> value; the invariants variant also takes the output value
    decide: Callable[..., Any]
    source: str
    # (first line of a block of the generated source, `file:line:col` of the policy text it
    # computes), in order of lines: where an evaluation error happened
    locations: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    def location_of(self, error: BaseException) -> str:
        """`file:line:col` of the policy text whose generated code `error` was raised in."""
        line = None
        tb = error.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.filename:
                line = tb.tb_lineno  # the innermost frame of the generated code wins
            tb = tb.tb_next
        if line is None:
            return ""
        where = ""
        for first, location in self.locations:
            if first > line:
                break
            where = location
        return where

    @property
    def filename(self) -> str:
        return self.decide.__code__.co_filename


class Codegen:
    """Generates the source of one trace-level variant of a program."""

    def __init__(
        self,
        prog: Program,
        level: str,
        with_invariants: bool = False,
        reasons: bool = False,
        walrus: bool = True,
    ):
        self.p = prog
        # whether a traced pass binds its lists with `:=` (else with a function per pass)
        self.walrus = walrus
        self.reasons = reasons
        self.level = level
        self.traced = level != "off"
        self.full = level == "full"
        self.ns: dict[str, Any] = dict(BASE_NS)
        self.names = Names()
        self.with_invariants = with_invariants
        # parameter -> the argument's code and the generated names it reads, while inlining
        self.subst: dict[str, tuple[str, frozenset[str]]] = {}
        # the generated names the code generated since the last `_reading()` reads
        self.uses: set[str] = set()
        # while generating the parts of a loop to be fused (see fusion.py): the ends of ranges
        # of definitions the parts read, as (name it is read into, value)
        self.range_ends: list[tuple[str, str]] | None = None
        self._end_names: dict[str, str] = {}  # `g3_window.start` -> the name it is read into
        # how many passes over lists enclose the code being generated (a function body counts
        # as enclosed: it may be called from inside one); see `_charge`
        self.depth = 0
        self.meters_used: set[str] = set()  # the cost meter's functions the code calls
        self.locations: list[tuple[int, str]] = []  # see CompiledVariant.locations

    # ---- names and constants ----
    def const(self, value: Any) -> str:
        if (
            value is None
            or isinstance(value, bool)
            or (isinstance(value, int) and abs(value) < 2**31)
        ):
            return repr(value)
        name = self.names.temporary("K")
        self.ns[name] = value
        return name

    def tmp(self, base: str = "t") -> str:
        return self.names.temporary(base)

    def ref(self, key: str, prefix: str) -> str:
        """The name of definition (`g`) or function (`f`) `key`, read by the code being
        generated."""
        name = self.names.of(key, prefix)
        self.uses.add(name)
        return name

    @contextmanager
    def _reading(self) -> Iterator[set[str]]:
        """The generated names read by the code generated inside the `with` (kept apart from
        those of the code around it)."""
        saved, self.uses = self.uses, set()
        try:
            yield self.uses
        finally:
            self.uses = saved

    # ---- expressions ----
    def ex(self, node: Node) -> str:
        folded = self._fold(node)
        if folded is not None:
            return folded
        src = self.ex_nofold(node)
        if isinstance(node, _UNTYPED_CHECKED) and _has_untyped_operand(node):
            # an operand of unknown type (an input field the schema leaves untyped) may not be
            # what the operation needs: a typed error at this operation, not a Python one
            return f"_untyped(lambda: {src}, {self.const(node.span.location())})"
        return src

    def ex_as(self, node: Node, to: T.Type) -> str:
        """`node` where its value is taken as type `to` (a branch, an item, an operand joined
        with others): a decimal `to` no longer shows is held as one."""
        src = self.ex(node)
        if _loses_decimal(node.type, to):
            return f"_hold({src}, {self.const(node.type)})"
        return src

    def _fold(self, node: Node) -> str | None:
        """Constant folding: a subtree that reads nothing is computed once, here, into a
        constant (a list literal stays one: a membership test makes a set of it). One that
        fails is left to fail where it is evaluated."""
        if isinstance(node, Const | Local | Global | InputRef | OutputRef | ListLit):
            return None
        if not _closed(node):
            return None
        value = fold(node)
        if value is UNKNOWN or isinstance(value, ConstantFailure):
            return None
        return self.const(value)

    def _is_constant(self, node: Node) -> bool:
        """Whether `node` folds to a constant at compile time (so evaluating it cannot fail); a
        list literal of constants is one too."""
        if isinstance(node, ListLit):
            return all(self._is_constant(x) for x in node.items)
        return isinstance(node, Const) or (
            not isinstance(node, Rule | Decision) and _closed(node) and self._fold(node) is not None
        )

    def ex_nofold(self, node: Node) -> str:
        match node:
            case Const(value=value):
                return self.const(value)
            case ConstMoney(amount=amount, currency=currency):
                return self.const(R.Money(amount, currency))
            case ConstDuration(count=count, unit=unit):
                return self.const(dt.timedelta(**{unit: count}))
            case ConstMonths(count=count):
                return self.const(R.Months(count))
            case Local(name=name):
                if name not in self.subst:
                    return name
                code, reads = self.subst[name]
                self.uses |= reads
                return code
            case Global(key=key):
                return self.ref(key, "g")
            case InputRef():
                return "inp"
            case OutputRef():
                return "out"
            case Field(obj=obj, name=name):
                src = f"{self.ex(obj)}[{name!r}]"
                # a date field of an input record may hold the date's text (`codec.DateTable`)
                return f"_D[{src}]" if T.strip(node.type) == T.DATE else src
            case Attr(obj=Global(key=key), name=name) if self.range_ends is not None:
                return self._range_end(self.ref(key, "g"), name)
            case Attr(obj=obj, name=name):
                return f"{self.ex(obj)}.{name}"
            case Index(obj=obj, index=index):
                return f"_index({self.ex(obj)}, {self.ex(index)})"
            case Builtin():
                return self.x_builtin(node)
            case Call():
                return self.x_call(node)
            case Arith():
                return self.x_arith(node)
            case With(name=name, value=value, body=body):
                return f"(lambda {name}: {self.ex(body)})({self.ex(value)})"
            case Neg():
                return self.x_neg(node)
            case Compare(op=op, left=a, right=b, sid=sid):
                if self.full:
                    return f"_T.cmp({sid}, {self.ex(a)}, {self.ex(b)})"
                return f"({self.ex(a)} {_PY_OPS[op]} {self.ex(b)})"
            case Member():
                return self.x_in(node)
            case Test(operand=inner, sid=sid, wanted=wanted):
                if self.full:
                    return f"_T.test({sid}, {self.ex(inner)}, {wanted})"
                return self.ex(inner)
            case Cast(operand=x):
                where = self.const(node.span.location())
                if node.type == T.BOOL:
                    return f"_cast_bool({self.ex(x)}, {where})"
                return f"_cast({self.ex(x)}, {self.const(node.type)}, {where})"
            case Widen(operand=x):
                return f"_widened({self.ex(x)}, {self.const(x.type)})"
            case BoolOp(op=op, operands=operands):
                return "(" + f" {op} ".join(self.ex(x) for x in operands) + ")"
            case Not(operand=x):
                return f"(not {self.ex(x)})"
            case If(cond=c, then=t, orelse=e):
                return (
                    f"({self.ex_as(t, node.type)} if {self.ex(c)} else {self.ex_as(e, node.type)})"
                )
            case IsNull():
                return self.x_isnull(node)
            case Coalesce():
                return self.x_coalesce(node)
            case RangeLit(low=a, high=b, half_open=half):
                elem = node.type.elem if isinstance(node.type, T.RangeT) else node.type
                return f"_Range({self.ex_as(a, elem)}, {self.ex_as(b, elem)}, {half})"
            case ListLit(items=items):
                elem = node.type.elem if isinstance(node.type, T.ListT) else node.type
                return "[" + ", ".join(self.ex_as(x, elem) for x in items) + "]"
            case Reasons():
                return self.x_reasons(node)
            case RecordLit(fields=fields):
                return "{" + ", ".join(f"{k!r}: {self.ex(v)}" for k, v in fields) + "}"
            case Pair(key=k, value=v):
                return f"({self.ex(k)}, {self.ex(v)})"
            case Comp():
                return self.x_comp(node)
            case Rule() | Decision():
                raise AssertionError("a rule or decision is a function's or definition's body")
            case _:
                assert_never(node)

    def x_builtin(self, n: Builtin) -> str:
        name, args = n.name, n.args
        if name in ("least", "greatest"):
            each = ", ".join(self.ex_as(a, n.type) for a in args)
            return f"{'min' if name == 'least' else 'max'}({each})"
        if name == "flatten" and not _closed(args[0]):
            # the flat list may be as long as the product of two lists' lengths: always charged
            return self._charge("_flat", self.ex(args[0]), always=True)
        if name in ("indexed", "values") and not _closed(args[0]):
            return f"_fn_{name}({self._charge('_mat', self.ex(args[0]))})"
        if name == "round" and isinstance(places := args[1], Const):
            q = self.const(Decimal(1).scaleb(-int(places.value)))
            return f"_round_to({self.ex(args[0])}, {q})"
        return f"_fn_{name}({', '.join(self.ex(a) for a in args)})"

    def x_call(self, n: Call) -> str:
        key, args = n.key, n.args
        inlined = self._inline(key, args)
        if inlined is not None:
            return inlined
        return f"{self.ref(key, 'f')}({', '.join(self.ex(a) for a in args)})"

    def _inline(self, key: str, args: tuple[Node, ...]) -> str | None:
        """Untraced calls whose arguments are plain variables are expanded in place (the
        language is pure, so this only saves the call)."""
        fn = self.p.functions.get(key)
        if self.traced or fn is None or not all(_simple(a) for a in args):
            return None
        body = fn.body
        if isinstance(body, Decision) and (body.strategy != "first" or len(body.cases) > 8):
            return None
        if _size(body) > 60:
            return None
        saved = self.subst
        self.subst = dict(saved)
        for param, a in zip(fn.params, args, strict=True):
            with self._reading() as reads:
                code = self.ex(a)
            self.subst[param] = (code, frozenset(reads))
        try:
            if isinstance(body, Decision):
                out = self.ex_as(body.default, body.type) if body.default is not None else "None"
                for _rid, when, then in reversed(body.cases):
                    out = f"({self.ex_as(then, body.type)} if {self.ex(when)} else {out})"
                return out
            return self.ex(body.when if isinstance(body, Rule) else body)
        finally:
            self.subst = saved

    def x_arith(self, n: Arith) -> str:
        op, a, b, mode = n.op, n.left, n.right, n.mode
        if mode in ("any", "list_concat"):
            ea, eb = self.ex_as(a, n.type), self.ex_as(b, n.type)
        else:
            ea, eb = self.ex(a), self.ex(b)
        if mode == "dec":
            return f"_CTX.{_CTX_OPS[op]}({ea}, {eb})"
        if mode == "div":
            return f"_divide({ea}, {eb})"
        if mode == "any":
            return f"_dyn_arith({op!r}, {ea}, {eb})"
        if mode == "elapsed":
            return f"_elapsed({ea}, {eb})"
        if mode == "list_concat":
            return f"_concat({ea}, {eb})"
        if mode == "time" and a.type in (T.DATE, T.DATETIME):
            return f"_shift({ea}, {op!r}, {eb})"  # saturates off the calendar
        if mode == "time" and n.type == T.DURATION:
            # a duration has a bound of its own (999,999,999 days): past it, a typed error
            if op == "*":
                return f"_scale_duration({ea}, {eb})"
            return f"_add_durations({ea}, {op!r}, {eb})"
        return f"({ea} {op} {eb})"

    def x_neg(self, n: Neg) -> str:
        if n.type == T.INT:
            return f"(-{self.ex(n.operand)})"
        if n.type == T.DURATION:
            return f"_negate_duration({self.ex(n.operand)})"
        return f"_negate({self.ex(n.operand)})"  # exact for decimals

    def x_in(self, n: Member) -> str:
        a, b, negated, mode, sid = n.item, n.container, n.negated, n.mode, n.sid
        ea = self.ex(a)
        if self.full:
            return f"_T.member({sid}, {ea}, {self._metered_container(b)}, {negated})"
        b = self._constant_definition(b)
        if mode == "range" and isinstance(b, RangeLit):
            lo, hi, half = b.low, b.high, b.half_open
            test = f"({self.ex(lo)} <= {ea} {'<' if half else '<='} {self.ex(hi)})"
            return f"(not {test})" if negated else test
        if mode == "range" and (bounds := self._range_bounds(b)) is not None:
            name, half = bounds
            start, end = self._range_end(name, "start"), self._range_end(name, "end")
            test = f"({start} <= {ea} {'<' if half else '<='} {end})"
            return f"(not {test})" if negated else test
        return f"({ea} {'not in' if negated else 'in'} {self._metered_container(b)})"

    def _metered_container(self, b: Node) -> str:
        """The container of a membership test; a list that is not a constant is charged its
        length (the test walks it)."""
        container = self._container(b)
        if isinstance(T.strip(b.type), T.ListT) and not container.startswith("_K"):
            return self._charge("_it", container)
        return container

    def _charge(self, meter: str, source: str, always: bool = False) -> str:
        """`source` (a list) charged to the evaluation's cost budget by `meter` (`_it`: its
        length in steps; `_mat`: in steps and items; `_flat`: flattened) when the pass over it
        runs inside another pass, or `always`. A pass at the top level visits each element of
        a list bounded by the input (or by a charged list) once: only nested passes make the
        cost grow faster than the input, so only they pay for the metering."""
        if self.depth == 0 and not always:
            return source
        self.meters_used.add(meter)
        return f"{meter}({source})"

    def _range_bounds(self, b: Node) -> tuple[str, bool] | None:
        """A definition holding a range whose ends are known to be included or not (a range
        literal, or `window(...)`): its name and whether the end is excluded, so that a
        membership test compares with its bounds instead of calling `Range.__contains__`."""
        if not isinstance(b, Global):
            return None
        d = self.p.definitions.get(b.key)
        if d is None:
            return None
        if isinstance(d.body, RangeLit):
            return self.ex(b), bool(d.body.half_open)
        if isinstance(d.body, Builtin) and d.body.name == "window":
            return self.ex(b), False
        return None

    def _range_end(self, name: str, end: str) -> str:
        """`name.start` or `name.end`: read once before the loop when generating the parts of
        a loop to be fused."""
        value = f"{name}.{end}"
        if self.range_ends is None:
            return value
        if value not in self._end_names:
            self._end_names[value] = self.tmp("end")
        read = (self._end_names[value], value)
        if read not in self.range_ends:
            self.range_ends.append(read)
        return read[0]

    def _constant_definition(self, b: Node) -> Node:
        """A reference to a definition whose value is a constant list or range: its body, so
        membership tests can use a frozen set or inline bounds."""
        if isinstance(b, Global):
            d = self.p.definitions.get(b.key)
            if d is not None and isinstance(d.body, ListLit | RangeLit) and _closed(d.body):
                return d.body
        return b

    def _container(self, b: Node) -> str:
        b = self._constant_definition(b)
        # not money: a set lookup never compares currencies, so `x in [5 USD]` would be false
        # for an amount in another currency instead of a currency mismatch
        if isinstance(b, ListLit) and _closed(b) and getattr(b.type, "elem", None) != T.MONEY:
            value = fold(b)
            if isinstance(value, list):
                try:
                    return self.const(frozenset(value))
                except TypeError:  # items that are not hashable: the list is walked
                    pass
        return self.ex(b)

    def x_isnull(self, n: IsNull) -> str:
        x, negated = n.operand, n.negated
        ex = self.ex(x)
        try:
            # a literal (an inlined argument, say): Python warns on `3 is None`, and the answer
            # is known anyway
            value = ast.literal_eval(ex)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return f"({ex} is {'not ' if negated else ''}None)"
        return repr((value is not None) if negated else (value is None))

    def x_coalesce(self, n: Coalesce) -> str:
        a, b = n.left, n.right
        ea, eb = self.ex_as(a, n.type), self.ex_as(b, n.type)
        if _closed(b):
            v = self.tmp("v")
            return f"(lambda {v}: {eb} if {v} is None else {v})({ea})"
        return f"_coalesce_lazy({ea}, lambda: {eb})"

    def x_reasons(self, n: Reasons) -> str:
        """`reasons(d)`: the rules of `d` are tested again, untraced, only when the output
        asks for them; a reason's placeholders only for a rule that applied."""
        strategy, rules = n.strategy, n.rules
        saved = self.traced, self.full
        self.traced = self.full = False
        try:
            items = []
            for rid, when in rules:
                m = self.p.rules[rid]
                values = "".join(f"{self.ex(ph)}, " for ph in m.placeholders)
                places = self.const(placeholder_places(self.p, rid))
                items.append(
                    f"({self.const(m.name)}, {self.const(m.reason)}, {places}, "
                    f"lambda: {self.ex(when)}, lambda: ({values}))"
                )
        finally:
            self.traced, self.full = saved
        return f"_rule_reasons([{', '.join(items)}], {strategy != 'collect'})"

    def x_comp(self, n: Comp) -> str:
        agg, order = n.agg, n.order
        source = self.ex(n.source)
        # the cost budget is charged once per pass, before it starts: the pass's length in
        # steps, and in items too when it builds a list that outlives it
        meter = "_mat" if (agg in _MATERIALISING or order is not None) else "_it"
        charged = self._charge(meter, source)
        self.depth += 1
        try:
            return self._comp_body(n, source, charged)
        finally:
            self.depth -= 1

    def _comp_body(self, n: Comp, source: str, charged: str) -> str:
        agg, var, where, elem, by, mode, sid = n.agg, n.var, n.where, n.elem, n.by, n.mode, n.sid
        cond = None if where is None else self.ex(where)
        if n.order is not None:
            # every element `where` keeps is ordered (its key computed, and any failure of the
            # key raised) before the aggregate looks at the elements
            return self._ordered_comp(n, source, cond)
        pred = self.ex(elem) if (mode == "pred") else None
        if agg in ("count", "any") and pred is not None:
            cond = pred if cond is None else f"({cond} and {pred})"
        if self.full:
            s, m = self.tmp("s"), self.tmp("m")
            # (every element: a copy of the list, without a comprehension's call)
            filt = f"[{var} for {var} in {s} if {cond}]" if cond else f"list({s})"
            if agg in ("any", "first"):
                # stop at the deciding element, as the untraced code does
                filt = f"_first_match({s}, lambda {var}: {cond or 'True'})"
            if agg == "all":
                # likewise: stop at the first element that fails (its value is computed once)
                test, value = f"lambda {var}: {cond or 'True'}", f"lambda {var}: {self.ex(elem)}"
                if self.walrus:
                    return (
                        f"_T.agg({sid}, len(({s} := {charged})), *_all_until({s}, {test}, {value}))"
                    )
                return f"(lambda {s}: _T.agg({sid}, len({s}), *_all_until({s}, {test}, {value})))({charged})"
            body = self._agg(agg, var, m, None, elem, by, mode, pred_done=True, reread=True)
            return self._traced_agg(sid, s, m, charged, filt, body)
        return self._agg(
            agg,
            var,
            source,
            cond,
            elem,
            by,
            mode,
            pred_done=agg in ("count", "any"),
            walked=charged,
            reread=_simple(n.source),
        )

    def _ordered_comp(self, n: Comp, source: str, cond: str | None) -> str:
        agg, var, elem, order, desc, by, mode = n.agg, n.var, n.elem, n.order, n.desc, n.by, n.mode
        sid = n.sid
        assert order is not None
        s = self.tmp("s") if self.full else source
        filt = f"[{var} for {var} in {s}" + (f" if {cond}" if cond else "") + "]"
        ordered = f"_sorted({filt}, key=lambda {var}: {self.ex(order)}, reverse={desc})"
        if not self.full:
            return self._agg(agg, var, ordered, None, elem, by, mode, pred_done=False)
        m = self.tmp("m")
        body = self._agg(agg, var, m, None, elem, by, mode, pred_done=False, reread=True)
        return self._traced_agg(sid, s, m, source, ordered, body)

    def _traced_agg(self, sid: int, s: str, m: str, source: str, kept: str, body: str) -> str:
        """An aggregate's value at level `full`, recorded with the pass's length (`s` names the
        list passed over, the value of `source`) and the elements it kept (`m`, of `kept`)."""
        if self.walrus:
            # names bound in order as the call's arguments are evaluated (no function per pass)
            return f"_T.agg({sid}, len(({s} := {source})), ({m} := {kept}), {body})"
        return f"(lambda {s}: (lambda {m}: _T.agg({sid}, len({s}), {m}, {body}))({kept}))({source})"

    def _agg(
        self,
        agg: str,
        var: str,
        source: str,
        cond: str | None,
        elem: Node,
        by: Node | None,
        mode: str,
        pred_done: bool,
        walked: str | None = None,
        reread: bool = False,
    ) -> str:
        """An aggregate over `source`, walking `walked` (`source` charged to the cost budget,
        see `_charge`) when given; `reread` when `source` can be read twice at no cost (a
        variable, or a field of one)."""
        gen = f"for {var} in {walked or source}" + (f" if {cond}" if cond else "")
        e = self.ex(elem) if not isinstance(elem, Pair) else None
        if agg == "list":
            return f"[{e} {gen}]"
        if agg == "map":
            assert isinstance(elem, Pair)
            k, v = elem.key, elem.value
            return f"{{{self.ex(k)}: {self.ex(v)} {gen}}}"
        if agg == "count":
            if not cond and mode != "pred" and isinstance(elem, Local) and elem.name == var:
                return f"len({source})"
            if mode == "pred" and not pred_done:
                return f"len([1 {gen} if {e}])" if not cond else f"len([1 {gen} and {e}])"
            return f"len([1 {gen}])"
        if agg == "any":
            if not cond and mode != "pred":
                return f"bool({source})"
            if mode == "pred" and not pred_done:
                return f"any({e} {gen})"
            return f"any(True {gen})"
        if agg == "all":
            return f"all({e} {gen})"
        if agg == "sum":
            if mode == "money":
                return f"_sum_money([{e} {gen}])"
            if elem.type == T.INT:
                return f"sum([{e} {gen}])"
            return f"_sum_decimal([{e} {gen}])"
        if agg in ("min", "max"):
            return f"_{agg}([{e} {gen}])"
        if agg == "first":
            return f"_first({e} {gen})"
        if agg == "last":
            # the element's value of the last match only (like `first`, which stops at the first)
            return f"_last_of([{var} {gen}], lambda {var}: {e})"
        if agg == "distinct":
            if by is None:
                return f"_distinct_values([{e} {gen}])"
            key = self.ex(by)
            return f"_distinct([({key}, {e}) {gen}])"
        if agg == "group":
            assert by is not None
            plain = cond is None and isinstance(elem, Local) and elem.name == var
            if plain and reread:
                # the items themselves by a key: the keys in one pass, and no pairs built
                return f"_group_keys([{self.ex(by)} {gen}], {source})"
            return f"_group([({self.ex(by)}, {e}) {gen}])"
        if agg == "running_sum":
            return f"_running_sum(({var}, {e}) {gen})"
        if agg == "unique":
            return f"_unique({e} {gen})"
        if agg == "pairs":
            return f"_pairs([{e} {gen}])"
        raise AssertionError(agg)

    # ---- rules, decisions, tables ----
    def _write_body(
        self, em: Emitter, body: Node, params: tuple[str, ...], give: Callable[[str], None]
    ) -> None:
        """The statements of a function or definition whose body is `body`; `give` writes the
        statement that makes a value the result."""
        args = "(" + "".join(f"{p}, " for p in params) + ")"
        if isinstance(body, Rule):
            self._write_rule_test(em, body.rid, body.when, args, give)
        elif isinstance(body, Decision) and body.strategy == "collect":
            acc = self.tmp("acc")
            elem = T.strip(body.type)
            elem = elem.elem if isinstance(elem, T.ListT) else elem
            em.writeline(f"{acc} = []")
            for rid, when, then in body.cases:
                test = self._write_rule_test(em, rid, when, args)
                em.writeline(f"if {test}:")
                with em.indent():
                    em.writeline(f"{acc}.append({self.ex_as(then, elem)})")
            if body.default is not None:
                em.writeline(f"if not {acc}:")
                with em.indent():
                    em.writeline(f"{acc}.append({self.ex_as(body.default, elem)})")
            give(acc)
        elif isinstance(body, Decision):
            for rid, when, then in body.cases:
                test = self._write_rule_test(em, rid, when, args)
                em.writeline(f"if {test}:")
                with em.indent():
                    give(self.ex_as(then, body.type))
            give(self.ex_as(body.default, body.type) if body.default is not None else "None")
        else:
            give(self.ex(body))

    def _write_rule_test(
        self,
        em: Emitter,
        rid: int,
        when: Node,
        args: str,
        give: Callable[[str], None] | None = None,
    ) -> str:
        """The expression that tests one rule (given to `give`, if any), after the statements
        that must run before it."""
        w = self.ex(when)
        if self.full:
            # where the rule's detail starts in the trace's events: what its condition records
            mark = self.tmp("mk")
            em.writeline(f"{mark} = len(_E)")
            test = f"_T.rule_full({rid}, {w}, {args}, {mark})"
        elif self.traced:
            test = f"_T.rule({rid}, {w}, {args})"
        else:
            test = w
        if give is not None:
            give(test)
        return test

    def _function_block(self, key: str) -> Block:
        fn = self.p.functions[key]
        name = self.names.of(key, "f")
        em = Emitter()
        with self._reading() as reads:
            em.mark(fn.body.span)
            em.writeline(f"def {name}({', '.join(fn.params)}):")
            self.depth = 1  # a function may be called from inside a pass
            with em.indent():
                self._write_body(em, fn.body, fn.params, lambda v: em.writeline(f"return {v}"))
            self.depth = 0
        return em.block(name, reads)

    def _definition_block(self, key: str) -> Block:
        d = self.p.definitions[key]
        name = self.names.of(key, "g")
        em = Emitter()
        with self._reading() as reads:
            em.mark(d.span or d.body.span)
            if isinstance(d.body, Rule) and not self.full:
                rid, when = d.body.rid, d.body.when
                value = f"_T.rule({rid}, {self.ex(when)}, ())" if self.traced else self.ex(when)
            elif isinstance(d.body, Rule | Decision):
                # the statements of the body in a loop run once, so that any result ends it

                def give(v: str) -> None:
                    em.writeline(f"{name} = {v}")
                    em.writeline("break")

                em.writeline("while True:")
                with em.indent():
                    self._write_body(em, d.body, (), give)
                value = name
            else:
                value = self.ex(d.body)
            if self.full:
                value = f"_T.define({d.name!r}, {value})"
            if value != name:
                em.writeline(f"{name} = {value}")
        return em.block(name, reads)

    def _result_block(self) -> Block:
        """The statement that returns the decision's result (the invariants' values, or the
        functions giving the reasons' placeholder values)."""
        p = self.p
        em = Emitter()
        with self._reading() as reads:
            if self.with_invariants:
                em.mark(p.invariants[0].span if p.invariants else None)
                items = ", ".join(f"({inv.name!r}, {self.ex(inv.body)})" for inv in p.invariants)
                em.writeline(f"return [{items}]")
            elif self.reasons:
                em.mark(p.output.span if p.output is not None else None)
                em.writeline(f"return {{{self._reason_functions()}}}")
            elif isinstance(p.output, RecordLit) and not _closed(p.output):
                em.mark(p.output.span)
                em.writeline("return {")
                with em.indent():
                    # a field to a line, so that a failure is located at its field
                    for k, v in p.output.fields:
                        value = self.ex(v)
                        em.mark(v.span)
                        em.writeline(f"{k!r}: {value},")
                em.writeline("}")
            else:
                em.mark(p.output.span if p.output is not None else None)
                em.writeline(f"return {self.ex(p.output) if p.output is not None else 'None'}")
        return em.block(None, reads)

    # ---- the whole program ----
    def program_source(self) -> str:
        """The source of the decision function: each piece is generated first, then only what
        the result reaches is written, so calls that were inlined and constant definitions
        folded into their uses leave nothing behind."""
        p = self.p
        functions = {self.names.of(key, "f"): self._function_block(key) for key in p.functions}
        steps: list[Block] = []  # requirement checks and definitions, in order of evaluation
        loops: dict[str, LoopParts] = {}  # the definitions that are one pass over a list
        order = evaluation_order(p, self.with_invariants)
        for item in order:
            if isinstance(item, Requirement):
                steps.append(self._requirement_block(item))
                continue
            name = self.names.of(item, "g")
            if not self.traced and (parts := self._loop_parts(p.definitions[item].body)):
                loops[name] = parts
            steps.append(self._definition_block(item))
        result = self._result_block()
        needed = self._needed(result, steps, functions, order)
        em = Emitter()
        # the invariants variant also takes the decision's output value (`output.x` reads it)
        em.writeline(
            "def decide(inp, _T, out=None, *, _B=_DEFAULT_BUDGET):"
            if self.with_invariants
            else "def decide(inp, _T, *, _B=_DEFAULT_BUDGET):"
        )
        with em.indent():
            if self.full:
                em.writeline("_E = _T.events")
            if self.meters_used:
                # the cost budget of this evaluation (see runtime.CostMeter); a policy with no
                # nested pass has nothing to charge
                em.writeline("_C = _CostMeter(_B)")
                methods = {"_it": "iterate", "_mat": "materialise", "_flat": "flatten"}
                for m in sorted(self.meters_used):
                    em.writeline(f"{m} = _C.{methods[m]}")
            for name, block in functions.items():
                if name in needed:
                    em.write_block(block)
            kept = [b for b in steps if b.name is None or b.name in needed]
            if loops and not self.reasons:
                function_uses = {n: b.uses for n, b in functions.items() if n in needed}
                metered = bool(self.meters_used)
                kept = fuse_loops(kept, loops, function_uses, self.names, metered)
            for block in kept:
                em.write_block(block)
            em.write_block(result)
        self.locations = [
            (offset + 1, span.location() if span is not None else "") for offset, span in em.marks
        ]
        return "\n".join(em.lines) + "\n"

    def _needed(
        self,
        result: Block,
        steps: list[Block],
        functions: dict[str, Block],
        order: list[Requirement | str],
    ) -> set[str]:
        """The generated functions and definitions the result and the requirements read,
        directly or through others (and those that must be evaluated anyway)."""
        p = self.p
        needed = set(result.uses)
        for block in steps:
            if block.name is None:
                needed |= block.uses
        if self.full:
            # level full records every definition's value, even one folded into its uses
            needed |= {b.name for b in steps if b.name is not None}
        else:
            # a definition the output depends on is evaluated even when the only use of it was
            # in a branch folded away (`if false then d else 0`): its failure is the decision's
            # (docs/language.md); only one that is itself a constant may go
            needed |= {
                self.names.of(key, "g")
                for key in order
                if isinstance(key, str) and not self._is_constant(p.definitions[key].body)
            }
        blocks: dict[str, Block] = {b.name: b for b in steps if b.name is not None}
        blocks.update(functions)
        todo = list(needed)
        while todo:
            reached = blocks.get(todo.pop())
            if reached is not None:
                more = reached.uses - needed
                needed |= more
                todo.extend(more)
        return needed

    def _reason_functions(self) -> str:
        """`rid: lambda <the rule's parameters>: (<its placeholders' values>)` for every rule
        whose reason has placeholders: the explainer calls them with the arguments the trace
        recorded, only when it renders a reason."""
        params: dict[int, tuple[str, ...]] = {}
        for fn in self.p.functions.values():
            for rid in _rules_of(fn.body):
                params[rid] = fn.params
        items = []
        for m in self.p.rules:
            if not m.placeholders:
                continue
            values = "".join(f"{self.ex(ph)}, " for ph in m.placeholders)
            items.append(f"{m.rid}: (lambda {', '.join(params.get(m.rid, ()))}: ({values}))")
        return ", ".join(items)

    def _loop_parts(self, body: Node) -> LoopParts | None:
        """A definition that filters, counts, sums or groups in one pass over a list, generated
        as the parts of a loop body: such passes over the same list (or over filters of it) can
        share one loop (fusion.py)."""
        if not isinstance(body, Comp):
            return None
        agg, var, src, where, elem = body.agg, body.var, body.source, body.where, body.elem
        by, mode = body.by, body.mode
        if body.order is not None or agg not in ("list", "count", "group", "sum"):
            return None
        if (by is not None) != (agg == "group"):
            return None
        if by is not None and (
            isinstance(T.strip(by.type), T.RecordT | T.ListT | T.MapT) or by.type == T.ANY
        ):
            return None  # keys that may not be hashable: `_group_keys` compares them by value
        kind = agg
        if agg == "sum":
            # as `_agg` sums: amounts, whole numbers or decimals
            kind = (
                "sum_money"
                if mode == "money"
                else "sum_int"
                if elem.type == T.INT
                else "sum_decimal"
            )
        with self._reading():  # the definition's own block records what it reads
            source = self.ex(src)
            self.depth += 1  # the condition and the element run inside the pass
            ends: list[tuple[str, str]] = []
            self.range_ends = ends
            try:
                with self._reading() as reads:
                    cond = None if where is None else self.ex(where)
                    value = key = None
                    if agg == "count" and mode == "pred":
                        pred = self.ex(elem)
                        cond = pred if cond is None else f"({cond} and {pred})"
                    elif agg != "count":
                        value = self.ex(elem)
                    if by is not None:
                        key = self.ex(by)
                keeps = agg == "list" and isinstance(elem, Local) and elem.name == var
                return LoopParts(
                    source, kind, var, cond, value, key, tuple(ends), frozenset(reads), keeps
                )
            finally:
                self.depth -= 1
                self.range_ends = None

    def _requirement_block(self, r: Requirement) -> Block:
        """The check of one requirement: its `for` loops, and the error when it fails."""
        em = Emitter()
        index_names: list[str] = []
        outer = self.depth
        with self._reading() as reads, ExitStack() as loops:
            em.mark(r.span)
            for var, src, where, _path in r.fors:
                index = self.tmp("i")
                index_names.append(index)
                over = self.ex(src)
                if _untyped(src.type):
                    # a field the schema leaves untyped may hold anything: only a list is iterated
                    over = f"_untyped_list({over}, {self.const(src.span.location())})"
                em.writeline(f"for {index}, {var} in enumerate({self._charge('_it', over)}):")
                loops.enter_context(em.indent())
                self.depth += 1
                if where is not None:
                    em.writeline(f"if {self.ex(where)}:")
                    loops.enter_context(em.indent())

            def path_parts(path: tuple[Any, ...]) -> list[str]:
                out = []
                for part in path:
                    if isinstance(part, tuple) and part[0] == "alt":
                        # `for m in [x.a, x.b]`: the loop's index picks the field's own path
                        alts = "".join(
                            "(" + "".join(f"{q}, " for q in path_parts(a)) + "), " for a in part[2]
                        )
                        out.append(f"*({alts})[{index_names[part[1]]}]")
                    elif isinstance(part, tuple):
                        out.append(index_names[part[1]])
                    else:
                        out.append(self.const(part))
                return out

            parts = path_parts(r.at)
            code, msg = self.const(r.code), self.const(r.message)
            em.writeline(f"if not {self.ex(r.cond)}:")
            self.depth = outer
            pointer = f"_ptr(({', '.join(parts)}{',' if len(parts) == 1 else ''}))"
            with em.indent():
                em.writeline(f"raise _InputError({code}, {pointer}, {msg})")
        return em.block(None, reads)


# Aggregates whose result is a list (or map) built from the pass: charged as items too.
_MATERIALISING = frozenset({"list", "map", "distinct", "group", "running_sum"})

# Operations that fail on a value of the wrong type (a Python exception) when an operand is
# untyped; with typed operands the checker rules that out.
_UNTYPED_CHECKED = (Arith, Neg, Compare, Member, Field, Index, Comp, Builtin, Call)


def _untyped(t: T.Type) -> bool:
    t = T.strip(t)
    if t == T.ANY:
        return True
    if isinstance(t, T.ListT):
        return _untyped(t.elem)
    if isinstance(t, T.MapT):
        return _untyped(t.value)
    return False


def _has_untyped_operand(node: Node) -> bool:
    # a call's arguments: an untyped value passed to a typed parameter meets the operations of
    # the function's body, which the checker typed for the parameter's type
    return any(_untyped(a.type) for a in children(node))


def _simple(node: Node) -> bool:
    """Cheap, pure expressions that cannot fail, which may be repeated where a parameter is used
    (or left out where it is not: a call is strict, so an argument that may fail is evaluated
    first, as the traced call does). A field of an untyped value may fail (`type_mismatch`)."""
    if isinstance(node, Local | InputRef | Global | Const):
        return True
    return isinstance(node, Field) and node.obj.type != T.ANY and _simple(node.obj)


def _size(node: Node) -> int:
    """How many typed nodes a tree holds (to keep inlining to small bodies)."""
    return 1 + sum(_size(a) for a in children(node))


def _closed(node: Node) -> bool:
    """True when the subtree reads no input, variable or definition (so it can be folded)."""
    if isinstance(node, Local | Global | InputRef | OutputRef | Call | Comp):
        return False
    return all(_closed(a) for a in children(node))


def _rules_of(body: Node) -> list[int]:
    """The ids of the rules a function's body is (a rule, or the cases of a decision)."""
    if isinstance(body, Rule):
        return [body.rid]
    if isinstance(body, Decision):
        return [rid for rid, _when, _then in body.cases]
    return []


def compile_variant(
    prog: Program, level: str, with_invariants: bool = False, reasons: bool = False
) -> CompiledVariant:
    """Generate and compile the decision function of one trace level (or, with `reasons`,
    the function that gives the placeholder values of the reasons)."""
    gen = Codegen(prog, level, with_invariants, reasons)
    src = gen.program_source()
    try:
        code = compile(src, f"<clausewise {prog.header.id} {level}>", "exec")
    except SyntaxError:
        if not gen.walrus:
            raise
        # a pass whose list is itself the list of a comprehension cannot bind names with `:=`
        gen = Codegen(prog, level, with_invariants, reasons, walrus=False)
        src = gen.program_source()
        code = compile(src, f"<clausewise {prog.header.id} {level}>", "exec")
    ns = gen.ns
    exec(code, ns)
    return CompiledVariant(ns["decide"], src, gen.locations)


@dataclass
class CompiledPolicy:
    """A policy ready to decide: converters, writer and the three trace-level variants.

    Plain data and pure functions: no global state, safe to share across threads.
    """

    program: Program
    convert_input: Callable[[Any], Any]
    convert_input_traced: Callable[[Any], Any]
    write_output: Callable[[Any], Any]
    variants: dict[str, CompiledVariant]
    ops: list[Any]
    invariants: CompiledVariant | None
    # `run` at level `off` with the default budget, giving the output alone
    run_off: Callable[[Any], Any] = dataclasses.field(init=False, repr=False, compare=False)
    # the counters of a new trace, copied for each traced decision
    zero_rules: list[int] = dataclasses.field(init=False, repr=False, compare=False)
    zero_sites: list[int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.zero_rules = [0] * len(self.program.rules)
        self.zero_sites = [0] * len(self.ops)
        convert, decide, write, run = (
            self.convert_input,
            self.variants["off"].decide,
            self.write_output,
            self.run,
        )

        def run_off(data: Any) -> Any:
            try:
                return write(decide(convert(data), None))
            except R.InputError:
                raise
            except Exception:
                # any other failure is reported as `run` reports it (deciding is pure: the same
                # input fails the same way again)
                return run(data)[0]

        self.run_off = run_off

    def run(
        self, data: Any, level: str = "off", budget: R.EvaluationBudget | None = None
    ) -> tuple[Any, Trace | None]:
        """Convert the input, decide, and write the output. Raises `InputError` on bad input
        and `EvaluationError` when the policy fails on it (`cost_limit_exceeded` past `budget`,
        by default `DEFAULT_BUDGET`); never another exception."""
        try:
            if level == "off":
                decide = self.variants["off"].decide
                value = (
                    decide(self.convert_input(data), None)
                    if budget is None
                    else decide(self.convert_input(data), None, _B=budget)
                )
                return self._write(value), None
            trace = Trace.fresh(self.ops, self.zero_rules, self.zero_sites)
            value = self.variants[level].decide(
                self.convert_input_traced(data), trace, _B=budget or R.DEFAULT_BUDGET
            )
            return self._write(value), trace
        except R.EvaluationError as e:
            if e.location:
                raise
            where = self._location(level, e)
            if level == "off":
                where = self._traced_location(data, e, budget) or where
            raise R.EvaluationError(e.code, e.message, where) from None
        except R.DecisionError:
            raise
        except Exception as e:
            # a safety net for what the operations do not foresee (each known failure has a
            # typed error at its operation): a bug of the engine, reported where it happened
            raise R.EvaluationError(
                "internal_error",
                f"the engine failed: {type(e).__name__}: {e}",
                self._location(level, e),
            ) from e

    def _write(self, value: Any) -> Any:
        """The output written by its schema; a value the policy computed that cannot be
        written (a date moved past 9999-12-31) fails at the policy's `output`."""
        try:
            return self.write_output(value)
        except R.EvaluationError as e:
            out = self.program.output
            if e.location or out is None:
                raise
            raise R.EvaluationError(e.code, e.message, out.span.location()) from None

    def _traced_location(
        self, data: Any, error: R.EvaluationError, budget: R.EvaluationBudget | None
    ) -> str:
        """Where the traced variant fails on `data` with `error`'s code: the untraced one
        expands small tables and decisions in place, so its own place of a failure inside one is
        the caller's; deciding is pure, so the traced variant fails the same way, and a failure
        is reported at the same place at every trace level."""
        try:
            self.run(data, "rules", budget)
        except R.EvaluationError as again:
            if again.code == error.code:
                return again.location
        return ""

    def _location(self, level: str, error: BaseException) -> str:
        variant = self.variants.get(level)
        return variant.location_of(error) if variant is not None else ""

    def reason_values(self, data: Any) -> dict[int, Callable[..., tuple[Any, ...]]]:
        """For each rule whose reason has placeholders, the function from the rule's arguments
        to its placeholders' values, for the decision of `data`. Compiled when first asked
        for and evaluated only then: deciding never computes them."""
        variant = self.variants["reasons"]
        result: dict[int, Callable[..., tuple[Any, ...]]] = variant.decide(
            self.convert_input(data), None
        )
        return result


class _Variants(dict[str, CompiledVariant]):
    """The trace-level variants of a program; `off` is compiled at once, the others when first
    used (two threads compiling the same one at once is harmless: both results are equal)."""

    def __init__(self, prog: Program):
        super().__init__(off=compile_variant(prog, "off"))
        self._prog = prog

    def __missing__(self, level: str) -> CompiledVariant:
        if level == "reasons":
            variant = self[level] = compile_variant(self._prog, "off", reasons=True)
            return variant
        if level not in LEVELS:
            raise KeyError(level)
        variant = self[level] = compile_variant(self._prog, level)
        return variant


class _OnFirstCall:
    """A one-argument function that is built when first called."""

    def __init__(self, build: Callable[[], Callable[[Any], Any]]):
        self._build = build
        self._fn: Callable[[Any], Any] | None = None

    def __call__(self, data: Any) -> Any:
        fn = self._fn
        if fn is None:
            fn = self._fn = self._build()
        return fn(data)


def compile_program(prog: Program) -> CompiledPolicy:
    """Compile a checked program: pipeline stage `compile`."""
    # the traced variants and converter are compiled on first use: most processes never trace
    variants = _Variants(prog)
    inv = compile_variant(prog, "off", with_invariants=True) if prog.invariants else None
    return CompiledPolicy(
        program=prog,
        convert_input=build_input_converter(prog.input_schema, raw_dates=raw_dates_safe(prog)),
        convert_input_traced=_OnFirstCall(
            lambda: build_input_converter(prog.input_schema, with_paths=True)
        ),
        write_output=build_output_writer(
            prog.output_schema, prog.output.type if prog.output is not None else None
        ),
        variants=variants,
        ops=ops_for(prog.sites),
        invariants=inv,
    )
