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
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, assert_never

from ..dsl import types as T
from ..dsl.diagnostics import Span
from ..dsl.typed import (
    Arith,
    Attr,
    BoolOp,
    Builtin,
    Call,
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
    Rule,
    Test,
    With,
    children,
)
from . import runtime as R
from .codec import build_input_converter, build_output_writer
from .explain import placeholder_places, rule_reasons
from .trace import Trace, ops_for

LEVELS = ("off", "rules", "full")

_PY_OPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_CTX_OPS = {"+": "add", "-": "subtract", "*": "multiply"}


# A definition that makes one pass over a list: (source, kind: list/count/group, variable,
# condition, element, group key); see `Codegen._loop_parts`.
_Loop = tuple[str, str, str, str | None, str | None, str | None]

# A source that can be read twice at no cost: a variable, or a field of one.
_PLAIN_SOURCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\['[A-Za-z0-9_]*'\])*")


def _ptr(parts: tuple[Any, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _coalesce_lazy(v: Any, default: Callable[[], Any]) -> Any:
    return default() if v is None else v


def _index(xs: Any, i: Any) -> Any:
    if isinstance(xs, dict):
        return xs.get(i)
    return xs[i] if -len(xs) <= i < len(xs) else None


def _dyn_arith(op: str, a: Any, b: Any) -> Any:
    """Arithmetic on a value of unknown type (an untyped input field): by the run-time types."""
    if op == "/":
        return a / b if isinstance(a, R.Money) else R.divide(a, b)
    if (isinstance(a, Decimal) or isinstance(b, Decimal)) and not (
        isinstance(a, R.Money) or isinstance(b, R.Money)
    ):
        return getattr(R.CTX, _CTX_OPS[op])(a, b)  # exact, whatever the host's decimal context
    # the operators (not `a.__add__(b)`), so that `2 * money` and `2 + decimal` reach the
    # reflected method instead of returning NotImplemented as a value
    return {"+": operator.add, "-": operator.sub, "*": operator.mul}[op](a, b)


BASE_NS: dict[str, Any] = {
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
    "_index": _index,
    "_dyn_arith": _dyn_arith,
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
        self, prog: Program, level: str, with_invariants: bool = False, reasons: bool = False
    ):
        self.p = prog
        self.reasons = reasons
        self.level = level
        self.traced = level != "off"
        self.full = level == "full"
        self.ns: dict[str, Any] = dict(BASE_NS)
        self.n = 0
        self.names: dict[str, str] = {}
        self.with_invariants = with_invariants
        self.subst: dict[str, str] = {}  # parameter -> argument, while inlining a call
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
        self.n += 1
        name = f"_K{self.n}"
        self.ns[name] = value
        return name

    def tmp(self, base: str = "t") -> str:
        self.n += 1
        return f"_{base}{self.n}"

    def name_of(self, key: str, prefix: str) -> str:
        if key not in self.names:
            self.n += 1
            self.names[key] = (
                f"{prefix}{self.n}_" + re.sub(r"[^A-Za-z0-9_]", "_", key.split("(")[0])[:40]
            )
        return self.names[key]

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

    def _fold(self, node: Node) -> str | None:
        """Constant folding: a closed subtree is evaluated once, here, into a constant."""
        if isinstance(node, Const | Local | Global | InputRef | OutputRef) or not _closed(node):
            return None
        try:
            sub = Codegen(self.p, "off")
            src = sub.ex_nofold(node)
            value = eval(compile(src, "<fold>", "eval"), sub.ns)
        except Exception:
            return None
        if isinstance(value, list) and isinstance(node, ListLit):
            # a list literal stays one (a membership test folds it into a set of its own)
            return None
        return self.const(value)

    def _is_constant(self, node: Node) -> bool:
        """Whether `node` folds to a constant at compile time (so evaluating it cannot fail)."""
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
                return self.subst.get(name, name)
            case Global(key=key):
                return self.name_of(key, "g")
            case InputRef():
                return "inp"
            case OutputRef():
                return "out"
            case Field(obj=obj, name=name):
                return f"{self.ex(obj)}[{name!r}]"
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
            case BoolOp(op=op, operands=operands):
                return "(" + f" {op} ".join(self.ex(x) for x in operands) + ")"
            case Not(operand=x):
                return f"(not {self.ex(x)})"
            case If(cond=c, then=t, orelse=e):
                return f"({self.ex(t)} if {self.ex(c)} else {self.ex(e)})"
            case IsNull():
                return self.x_isnull(node)
            case Coalesce():
                return self.x_coalesce(node)
            case RangeLit(low=a, high=b, half_open=half):
                return f"_Range({self.ex(a)}, {self.ex(b)}, {half})"
            case ListLit(items=items):
                return "[" + ", ".join(self.ex(x) for x in items) + "]"
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
            return f"{'min' if name == 'least' else 'max'}({', '.join(self.ex(a) for a in args)})"
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
        return f"{self.name_of(key, 'f')}({', '.join(self.ex(a) for a in args)})"

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
        self.subst = {**saved, **{p: self.ex(a) for p, a in zip(fn.params, args, strict=True)}}
        try:
            if isinstance(body, Decision):
                out = self.ex(body.default) if body.default is not None else "None"
                for _rid, when, then in reversed(body.cases):
                    out = f"({self.ex(then)} if {self.ex(when)} else {out})"
                return out
            return self.ex(body.when if isinstance(body, Rule) else body)
        finally:
            self.subst = saved

    def x_arith(self, n: Arith) -> str:
        op, a, b, mode = n.op, n.left, n.right, n.mode
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
            test = f"({name}.start <= {ea} {'<' if half else '<='} {name}.end)"
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
            try:
                sub = Codegen(self.p, "off")
                value = eval(compile(sub.ex_nofold(b), "<fold>", "eval"), sub.ns)
                return self.const(frozenset(value))
            except Exception:
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
        if _closed(b):
            v = self.tmp("v")
            return f"(lambda {v}: {self.ex(b)} if {v} is None else {v})({self.ex(a)})"
        return f"_coalesce_lazy({self.ex(a)}, lambda: {self.ex(b)})"

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
        agg, var, where, elem, order = n.agg, n.var, n.where, n.elem, n.order
        desc, by, mode, sid = n.desc, n.by, n.mode, n.sid
        cond = None if where is None else self.ex(where)
        if order is not None:
            # every element `where` keeps is ordered (its key computed, and any failure of the
            # key raised) before the aggregate looks at the elements
            return self._ordered_comp(n, source, cond)
        pred = self.ex(elem) if (mode == "pred") else None
        if agg in ("count", "any") and pred is not None:
            cond = pred if cond is None else f"({cond} and {pred})"
        if self.full:
            s, m = self.tmp("s"), self.tmp("m")
            filt = f"[{var} for {var} in {s}" + (f" if {cond}" if cond else "") + "]"
            if agg in ("any", "first") and order is None:
                # stop at the deciding element, as the untraced code does
                filt = f"_first_match({s}, lambda {var}: {cond or 'True'})"
            if agg == "all" and order is None:
                # likewise: stop at the first element that fails (its value is computed once)
                test, value = f"lambda {var}: {cond or 'True'}", f"lambda {var}: {self.ex(elem)}"
                return f"(lambda {s}: _T.agg({sid}, len({s}), *_all_until({s}, {test}, {value})))({charged})"
            if order is not None:
                filt = f"_sorted({filt}, key=lambda {var}: {self.ex(order)}, reverse={desc})"
            body = self._agg(agg, var, m, None, elem, by, mode, pred_done=True)
            return f"(lambda {s}: (lambda {m}: _T.agg({sid}, len({s}), {m}, {body}))({filt}))({charged})"
        if order is not None:
            filt = f"[{var} for {var} in {charged}" + (f" if {cond}" if cond else "") + "]"
            ordered = f"_sorted({filt}, key=lambda {var}: {self.ex(order)}, reverse={desc})"
            return self._agg(agg, var, ordered, None, elem, by, mode, pred_done=True)
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
        body = self._agg(agg, var, m, None, elem, by, mode, pred_done=False)
        return (
            f"(lambda {s}: (lambda {m}: _T.agg({sid}, len({s}), {m}, {body}))({ordered}))({source})"
        )

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
    ) -> str:
        """An aggregate over `source`, walking `walked` (`source` charged to the cost budget,
        see `_charge`) when given."""
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
            if plain and _PLAIN_SOURCE.fullmatch(source):
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
    def _rule_test(self, rid: int, when: Node, args: str) -> tuple[list[str], str]:
        """Statements to run before, and the expression that tests, one rule."""
        w = self.ex(when)
        if self.full:
            return ["_T.begin()"], f"_T.rule_full({rid}, {w}, {args})"
        if self.traced:
            return [], f"_T.rule({rid}, {w}, {args})"
        return [], w

    def body_lines(self, body: Node, params: tuple[str, ...]) -> list[str]:
        """The statements of a function whose body is `body`."""
        args = "(" + "".join(f"{p}, " for p in params) + ")"
        if isinstance(body, Rule):
            pre, test = self._rule_test(body.rid, body.when, args)
            return [*pre, f"return {test}"]
        if isinstance(body, Decision):
            strategy, cases, default = body.strategy, body.cases, body.default
            out: list[str] = []
            if strategy == "collect":
                acc = self.tmp("acc")
                out.append(f"{acc} = []")
                for rid, when, then in cases:
                    pre, test = self._rule_test(rid, when, args)
                    out.extend(pre)
                    out.append(f"if {test}:")
                    out.append(f"    {acc}.append({self.ex(then)})")
                if default is not None:
                    out.append(f"if not {acc}:")
                    out.append(f"    {acc}.append({self.ex(default)})")
                out.append(f"return {acc}")
                return out
            for rid, when, then in cases:
                pre, test = self._rule_test(rid, when, args)
                out.extend(pre)
                out.append(f"if {test}:")
                out.append(f"    return {self.ex(then)}")
            out.append(f"return {self.ex(default) if default is not None else 'None'}")
            return out
        return [f"return {self.ex(body)}"]

    # ---- the whole program ----
    def program_source(self) -> str:
        p = self.p
        # Each piece is generated first, then only what the result reaches is emitted: calls that
        # were inlined and constant definitions folded into their uses leave nothing behind.
        functions: dict[str, list[str]] = {}
        spans: dict[str, Span] = {}  # generated name -> the policy text it computes
        for key, fn in p.functions.items():
            body = [f"def {self.name_of(key, 'f')}({', '.join(fn.params)}):"]
            self.depth = 1  # a function may be called from inside a pass
            body.extend("    " + ln for ln in self.body_lines(fn.body, fn.params))
            self.depth = 0
            functions[self.name_of(key, "f")] = body
            spans[self.name_of(key, "f")] = fn.body.span
        steps: list[tuple[str | None, list[str]]] = []  # (name defined, lines)
        loops: dict[str, _Loop] = {}  # see _loop_parts
        requirement_spans: dict[int, Span] = {}  # id of a requirement's lines -> its span
        for kind, item in self._order():
            if kind == "req":
                req_lines = self._require_lines(item)
                requirement_spans[id(req_lines)] = item.span
                steps.append((None, req_lines))
                continue
            d = p.definitions[item]
            gname = self.name_of(item, "g")
            spans[gname] = d.span or d.body.span
            if not self.traced and (parts := self._loop_parts(d.body)) is not None:
                loops[gname] = parts
            block: list[str] = []
            if isinstance(d.body, Rule) and not self.full:
                rid, when = d.body.rid, d.body.when
                value = f"_T.rule({rid}, {self.ex(when)}, ())" if self.traced else self.ex(when)
            elif isinstance(d.body, Rule | Decision):
                # inline: `return v` becomes `g = v; break` inside a one-pass loop
                block.append("while True:")
                for ln in self.body_lines(d.body, ()):
                    if ln.lstrip().startswith("return "):
                        pad = ln[: len(ln) - len(ln.lstrip())]
                        block.append(f"    {pad}{gname} = {ln.lstrip()[7:]}")
                        block.append(f"    {pad}break")
                    else:
                        block.append("    " + ln)
                value = gname
            else:
                value = self.ex(d.body)
            if self.full:
                value = f"_T.define({d.name!r}, {value})"
            if value != gname:
                block.append(f"{gname} = {value}")
            steps.append((gname, block))
        fields: list[tuple[Span, str]] = []
        if self.with_invariants:
            items = ", ".join(f"({inv.name!r}, {self.ex(inv.body)})" for inv in p.invariants)
            result = f"return [{items}]"
        elif self.reasons:
            result = f"return {{{self._reason_functions()}}}"
        elif isinstance(p.output, RecordLit) and not _closed(p.output):
            # a field to a line, so that a failure is located at its field
            fields = [(v.span, f"    {k!r}: {self.ex(v)},") for k, v in p.output.fields]
            result = "\n".join(["return {", *(text for _, text in fields), "}"])
        else:
            result = f"return {self.ex(p.output) if p.output is not None else 'None'}"
        # reachability over names, from the result and the requirements backwards
        names = set(functions) | {n for n, _ in steps if n}
        needed = _names_in(result, names)
        for n, block in steps:
            if n is None:
                needed |= _names_in("\n".join(block), names)
        if self.full:
            # level full records every definition's value, even one folded into its uses
            needed |= {n for n, _ in steps if n}
        else:
            # a definition the output depends on is evaluated even when the only use of it was
            # in a branch folded away (`if false then d else 0`): its failure is the decision's
            # (docs/language.md); only one that is itself a constant may go
            needed |= {
                self.name_of(key, "g")
                for kind, key in self._order()
                if kind != "req" and not self._is_constant(p.definitions[key].body)
            }
        changed = True
        while changed:
            changed = False
            for n in list(needed):
                src = (
                    "\n".join(functions[n])
                    if n in functions
                    else "\n".join(next(b for m, b in steps if m == n))
                )
                more = _names_in(src, names) - needed
                if more:
                    needed |= more
                    changed = True
        # the invariants variant also takes the decision's output value (`output.x` reads it)
        lines = [
            "def decide(inp, _T, out=None, *, _B=_DEFAULT_BUDGET):"
            if self.with_invariants
            else "def decide(inp, _T, *, _B=_DEFAULT_BUDGET):"
        ]
        if self.meters_used:
            # the cost budget of this evaluation (see runtime.CostMeter); a policy with no
            # nested pass has nothing to charge
            lines.append("    _C = _CostMeter(_B)")
            methods = {"_it": "iterate", "_mat": "materialise", "_flat": "flatten"}
            for m in sorted(self.meters_used):
                lines.append(f"    {m} = _C.{methods[m]}")
        for n, body in functions.items():
            if n in needed:
                self._locate(len(lines), spans.get(n))
                lines.extend("    " + ln for ln in body)
        kept = [(n, block) for n, block in steps if n is None or n in needed]
        if loops and not self.reasons:
            kept = self._fuse_loops(
                kept, loops, {n: functions[n] for n in needed if n in functions}
            )
        for n, block in kept:
            self._locate(len(lines), spans.get(n) if n else requirement_spans.get(id(block)))
            lines.extend("    " + ln for ln in block)
        if self.with_invariants:
            self._locate(len(lines), p.invariants[0].span if p.invariants else None)
        else:
            self._locate(len(lines), p.output.span if p.output is not None else None)
        for i, ln in enumerate(result.split("\n")):
            if 0 < i <= len(fields):
                self._locate(len(lines), fields[i - 1][0])
            lines.append("    " + ln)
        return "\n".join(lines) + "\n"

    def _locate(self, index: int, span: Span | None) -> None:
        """The generated lines from `index` (0-based) on compute the policy text at `span`."""
        self.locations.append((index + 1, span.location() if span is not None else ""))

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

    def _loop_parts(self, body: Node) -> _Loop | None:
        """A definition that filters or counts one pass over a list, as (source, kind, variable,
        condition, element); such passes over the same list can share one loop."""
        if not isinstance(body, Comp):
            return None
        agg, var, src, where, elem = body.agg, body.var, body.source, body.where, body.elem
        order, by, mode = body.order, body.by, body.mode
        if order is not None or agg not in ("list", "count", "group"):
            return None
        if (by is not None) != (agg == "group"):
            return None
        if by is not None and (
            isinstance(T.strip(by.type), T.RecordT | T.ListT | T.MapT) or by.type == T.ANY
        ):
            return None  # keys that may not be hashable: `_group_keys` compares them by value
        source = self.ex(src)
        self.depth += 1  # the condition and the element run inside the pass
        try:
            cond = None if where is None else self.ex(where)
            if agg == "count":
                if mode == "pred":
                    pred = self.ex(elem)
                    cond = pred if cond is None else f"({cond} and {pred})"
                return source, "count", str(var), cond, None, None
            if agg == "group":
                assert by is not None
                return source, "group", str(var), cond, self.ex(elem), self.ex(by)
            return source, "list", str(var), cond, self.ex(elem), None
        finally:
            self.depth -= 1

    def _fuse_loops(
        self,
        steps: list[tuple[str | None, list[str]]],
        loops: dict[str, _Loop],
        functions: dict[str, list[str]],
    ) -> list[tuple[str | None, list[str]]]:
        """Definitions that each make a pass over the same list (`[o for o in xs where ...]`,
        `count(o for o in xs where ...)`) are computed in one loop over it, at the place of the
        first: each element is read once for all of them, which matters most for long lists of
        records. A definition moves up only past definitions it does not use, and never past a
        requirement."""
        names = {n for n, _ in steps if n} | set(functions)

        def uses(src: str) -> set[str]:
            seen: set[str] = set()
            todo = _names_in(src, names)
            while todo:
                n = todo.pop()
                if n not in seen:
                    seen.add(n)
                    if n in functions:
                        todo |= _names_in("\n".join(functions[n]), names)
            return seen - set(functions)

        blocks = {n: block for n, block in steps if n is not None}
        groups: dict[int, list[str]] = {}  # position of the first -> names, in order
        hoisted: dict[int, set[str]] = {}  # position of a group -> definitions moved before it
        open_group: dict[str, int] = {}  # source -> position of its open group
        defined_at: dict[str, int] = {}
        last_req = -1
        for i, (n, block) in enumerate(steps):
            if n is None:
                last_req = i
                continue
            defined_at[n] = i
            parts = loops.get(n)
            if parts is None:
                continue
            source = parts[0]
            at = open_group.get(source)
            late: set[str] = set()
            ok = at is not None and at > last_req
            if ok and at is not None:
                # what it uses that is defined after the group's place moves up with it, when
                # that is no pass of its own and uses nothing defined later still
                todo = [m for m in uses("\n".join(block)) if m != n and defined_at[m] >= at]
                while ok and todo:
                    m = todo.pop()
                    if m in late:
                        continue
                    if m in loops or any(m in g for g in groups.values()):
                        ok = False
                        break
                    late.add(m)
                    todo.extend(k for k in uses("\n".join(blocks[m])) if defined_at[k] >= at)
            if ok and at is not None:
                groups[at].append(n)
                hoisted.setdefault(at, set()).update(late)
            else:
                open_group[source] = i
                groups[i] = [n]
        fused: dict[int, list[str]] = {}
        moved: set[str] = set()
        for at, members in groups.items():
            if len(members) < 2:
                continue
            # (a definition two groups need moves before the first of them)
            ahead = sorted(set(hoisted.get(at, ())) - moved, key=lambda m: defined_at[m])
            moved.update(ahead)
            source = loops[members[0]][0]
            it = self.tmp("it")
            block = [ln for m in ahead for ln in blocks[m]]
            for m in members:
                kind = loops[m][1]
                start = {"count": "0", "group": "{}", "list": "[]"}[kind]
                block.append(f"{m} = {start}")
            # the ends of ranges the conditions test are read once, before the loop
            ends: dict[str, str] = {}
            for m in members:
                for found in _RANGE_END.finditer(loops[m][3] or ""):
                    if found.group(1) in defined_at and found.group(0) not in ends:
                        ends[found.group(0)] = self.tmp("end")
                        block.append(f"{ends[found.group(0)]} = {found.group(0)}")
            block.append(f"for {it} in {source}:")
            variables = list(dict.fromkeys(loops[m][2] for m in members))
            block.append(f"    {' = '.join(variables)} = {it}")
            grouped = []
            for m in members:
                _source, kind, _var, cond, elem, key = loops[m]
                if cond is not None and ends:
                    cond = _RANGE_END.sub(partial(_hoisted, ends), cond)
                if kind == "group":
                    # items by key, keys in order of first appearance (as `_group` does)
                    k, g = self.tmp("k"), self.tmp("g")
                    actions = [
                        f"{k} = {key}",
                        f"{g} = {m}.get({k})",
                        f"if {g} is None:",
                        f"    {m}[{k}] = [{elem}]",
                        "else:",
                        f"    {g}.append({elem})",
                    ]
                    grouped.append(m)
                else:
                    actions = [f"{m} += 1" if kind == "count" else f"{m}.append({elem})"]
                if cond is None:
                    block.extend(f"    {a}" for a in actions)
                else:
                    block.append(f"    if {cond}:")
                    block.extend(f"        {a}" for a in actions)
            for m in grouped:
                block.append(f"{m} = [{{'key': _k, 'items': _v}} for _k, _v in {m}.items()]")
            fused[at] = block
            moved.update(members)
        out: list[tuple[str | None, list[str]]] = []
        for i, (n, block) in enumerate(steps):
            if i in fused:
                out.append((n, fused[i]))
            elif n not in moved:
                out.append((n, block))
        return out

    def _roots(self) -> set[str]:
        p = self.p
        roots = set(p.output_deps)
        for r in p.requirements:
            roots |= r.deps
        if self.with_invariants:
            for inv in p.invariants:
                roots |= inv.deps
        return roots

    def _order(self) -> list[tuple[str, Any]]:
        """Requirements first (as soon as what they use is ready), then definitions, by dependency."""
        p = self.p
        defs = p.definitions
        needed: set[str] = set()
        stack = [k for k in self._roots()]
        while stack:
            k = stack.pop()
            if k in needed:
                continue
            if k in defs:
                needed.add(k)
                stack.extend(defs[k].deps)
            elif k in p.functions:
                stack.extend(p.functions[k].deps)
        # a definition's dependencies through the functions it calls
        closure: dict[str, set[str]] = {}

        def deps_of(key: str, seen: set[str]) -> set[str]:
            out: set[str] = set()
            src = (
                defs[key].deps
                if key in defs
                else p.functions[key].deps
                if key in p.functions
                else set()
            )
            for d in src:
                if d in seen:
                    continue
                seen.add(d)
                if d in defs:
                    out.add(d)
                elif d in p.functions:
                    out |= deps_of(d, seen)
            return out

        for k in needed:
            closure[k] = deps_of(k, {k})
        req_deps = []
        for r in p.requirements:
            rd: set[str] = set()
            for d in r.deps:
                if d in defs:
                    rd.add(d)
                    rd |= closure.get(d, set())
                elif d in p.functions:
                    rd |= deps_of(d, set())
            req_deps.append(rd)

        def wanted_by(i: int) -> set[str]:
            """The definitions requirement `i` needs, directly or through others."""
            wanted: set[str] = set()
            todo = list(req_deps[i])
            while todo:
                d = todo.pop()
                if d not in wanted:
                    wanted.add(d)
                    todo.extend(closure.get(d, ()))
            return wanted

        done: set[str] = set()
        out: list[tuple[str, Any]] = []
        pending_reqs = list(range(len(p.requirements)))
        pending_defs = [k for k in defs if k in needed]
        while pending_reqs or pending_defs:
            progressed = False
            # requirements in source order, each as soon as what it uses is ready, and before
            # the definitions only the output needs: bad input is reported by the first
            # requirement it breaks, not by a definition failing on it
            while pending_reqs and req_deps[pending_reqs[0]] <= done:
                out.append(("req", p.requirements[pending_reqs.pop(0)]))
                progressed = True
            wanted = wanted_by(pending_reqs[0]) if pending_reqs else None
            ready = [k for k in pending_defs if closure[k] <= done]
            pick = next((k for k in ready if wanted is None or k in wanted), None)
            if pick is None and ready:
                pick = ready[0]
            if pick is not None:
                out.append(("def", pick))
                done.add(pick)
                pending_defs.remove(pick)
                progressed = True
            if not progressed:
                raise AssertionError("cyclic definitions survived the checker")
        return out

    def _require_lines(self, r: Any) -> list[str]:
        lines: list[str] = []
        ind = ""
        idx_names: dict[int, str] = {}
        outer = self.depth
        for i, (var, src, where, _path) in enumerate(r.fors):
            iv = self.tmp("i")
            idx_names[i] = iv
            over = self.ex(src)
            if _untyped(src.type):
                # a field the schema leaves untyped may hold anything: only a list is iterated
                over = f"_untyped_list({over}, {self.const(src.span.location())})"
            lines.append(f"{ind}for {iv}, {var} in enumerate({self._charge('_it', over)}):")
            self.depth += 1
            ind += "    "
            if where is not None:
                lines.append(f"{ind}if {self.ex(where)}:")
                ind += "    "

        def path_parts(path: tuple[Any, ...]) -> list[str]:
            out = []
            for part in path:
                if isinstance(part, tuple) and part[0] == "alt":
                    # `for m in [x.a, x.b]`: the loop's index picks the field's own path
                    alts = "".join(
                        "(" + "".join(f"{q}, " for q in path_parts(a)) + "), " for a in part[2]
                    )
                    out.append(f"*({alts})[{idx_names[part[1]]}]")
                elif isinstance(part, tuple):
                    out.append(idx_names[part[1]])
                else:
                    out.append(self.const(part))
            return out

        parts = path_parts(r.at)
        code, msg = self.const(r.code), self.const(r.message)
        lines.append(f"{ind}if not {self.ex(r.cond)}:")
        self.depth = outer
        lines.append(
            f"{ind}    raise _InputError({code}, _ptr(({', '.join(parts)}{',' if len(parts) == 1 else ''})), {msg})"
        )
        return lines


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


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# `g12_window.start`: an end of a range held by a definition (fields are read as `x['f']`)
_RANGE_END = re.compile(r"\b(g[0-9]+_[A-Za-z0-9_]*)\.(?:start|end)\b")


def _hoisted(ends: dict[str, str], found: re.Match[str]) -> str:
    return ends.get(found.group(0), found.group(0))


def _names_in(src: str, names: set[str]) -> set[str]:
    return {m for m in _IDENT.findall(src) if m in names}


def _simple(node: Node) -> bool:
    """Cheap, pure expressions that may be repeated where a parameter is used."""
    if isinstance(node, Local | InputRef | Global | Const):
        return True
    return isinstance(node, Field) and _simple(node.obj)


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
                return self.write_output(value), None
            trace = Trace(self.ops, rules=len(self.program.rules))
            value = self.variants[level].decide(
                self.convert_input_traced(data), trace, _B=budget or R.DEFAULT_BUDGET
            )
            return self.write_output(value), trace
        except R.EvaluationError as e:
            if e.location:
                raise
            raise R.EvaluationError(e.code, e.message, self._location(level, e)) from None
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
        convert_input=build_input_converter(prog.input_schema),
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
