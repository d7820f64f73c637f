"""Operators: comparisons, membership, arithmetic and ranges, each checked by its operands'
types (money currencies, durations, months and dates kept apart) and given its dispatch."""

from __future__ import annotations

from .. import ast as A
from .. import types as T
from ..ast import span_of
from ..diagnostics import did_you_mean
from ..typed import (
    Arith,
    Coalesce,
    Compare,
    ConstMoney,
    Member,
    Node,
    RangeLit,
)
from ..types import Type
from .common import text_of, whole_days, widen
from .exprs import (
    ExpressionChecks,
)
from .state import CheckedNullTest, Env

# the units a duration literal takes (`3 hours`), and the words an author may try instead


class OperatorChecks(ExpressionChecks):
    """Typing binary operators and ranges."""

    def e_Binary(self, e: A.Binary, env: Env) -> Node:
        if e.op == "??":
            a = self.expr(e.left, env)
            b = self.expr(e.right, env)
            self.null_tests.append(CheckedNullTest(e.left, a, e.span, coalesce=True))
            # `null ?? b` is b: the left side contributes no type (strip(null) is still null)
            u = T.unify(T.NEVER if a.type == T.NULL else T.strip(a.type), b.type)
            if u is None:
                self.error("type-mismatch", f"`??` mixes {a.type} and {b.type}", e.span)
                u = T.ANY
            return Coalesce(widen(a, u), widen(b, u), type=u, span=e.span)
        if e.op in ("in", "not in"):
            return self._membership(e, env)
        a = self.expr(e.left, env)
        b = self.expr(e.right, env)
        if a.type == T.ANY or b.type == T.ANY:
            if e.op in ("==", "!=", "<", "<=", ">", ">="):
                return Compare(
                    e.op,
                    a,
                    b,
                    self._site("cmp", e, env, e.op, text_of(e.left), text_of(e.right)),
                    type=T.BOOL,
                    span=e.span,
                )
            # computed by the values' forms: a decimal held as an integer takes its own first
            a, b = widen(a, T.ANY), widen(b, T.ANY)
            return Arith(e.op, a, b, "any", type=T.ANY, span=e.span)
        for side, node in ((e.left, a), (e.right, b)):
            if T.is_nullable(node.type) and e.op not in ("==", "!="):
                self.error(
                    "nullable-operand",
                    f"`{text_of(side)}` may be null ({node.type})",
                    span_of(side),
                    "test it with `is not null` first, or give a default with `??`",
                )
                return self.bad(e)
        if e.op in ("==", "!=", "<", "<=", ">", ">="):
            return self._compare(e, a, b, env)
        return self._arith(e, a, b)

    def _compare(self, e: A.Binary, a: Node, b: Node, env: Env) -> Node:
        ta, tb = T.strip(a.type), T.strip(b.type)
        ok = T.unify(ta, tb) is not None or T.NULL in (ta, tb)
        if ta in (T.DURATION, T.MONTHS) or tb in (T.DURATION, T.MONTHS):
            ok = ta == tb
        if not ok:
            hint = None
            if {ta, tb} == {T.DATE, T.DATETIME}:
                hint = 'turn the datetime into a date in a zone with `local_date(x, "Area/City")`'
            elif T.MONEY in (ta, tb):
                hint = "compare money with money (`400 USD`), or use `.amount`"
            self.error("type-mismatch", f"cannot compare {a.type} with {b.type}", e.span, hint)
            return self.bad(e)
        if e.op not in ("==", "!=") and not T.is_orderable(ta):
            self.error("type-mismatch", f"`{e.op}` does not order {a.type}", e.span)
            return self.bad(e)
        for lit, other in ((e.right, ta), (e.left, tb)):
            if (
                isinstance(lit, A.Literal)
                and lit.kind == "string"
                and isinstance(other, T.EnumT)
                and other.closed
            ) and lit.value not in other.values:
                self.error(
                    "unknown-enum-value",
                    f'"{lit.value}" is not one of {", ".join(other.values)}',
                    lit.span,
                    did_you_mean(str(lit.value), other.values),
                )
        if isinstance(a, ConstMoney) and isinstance(b, ConstMoney) and a.currency != b.currency:
            self.error(
                "currency-mismatch",
                f"cannot mix {a.currency} and {b.currency}",
                e.span,
                "amounts in different currencies cannot be compared: convert explicitly",
            )
        sid = self._site("cmp", e, env, e.op, text_of(e.left), text_of(e.right))
        return Compare(e.op, a, b, sid, type=T.BOOL, span=e.span)

    def _membership(self, e: A.Binary, env: Env) -> Node:
        a = self.expr(e.left, env)
        b = self.expr(e.right, env)
        negated = e.op == "not in"
        tb = b.type
        if T.is_nullable(a.type) and a.type != T.ANY:
            self.error(
                "nullable-operand",
                f"`{text_of(e.left)}` may be null ({a.type})",
                span_of(e.left),
                "test it with `is not null` first",
            )
            return self.bad(e)
        sid = self._site("cmp", e, env, e.op, text_of(e.left), text_of(e.right))
        if isinstance(tb, T.ListT):
            if T.unify(a.type, tb.elem) is None and tb.elem != T.NEVER:
                self.error("type-mismatch", f"cannot look for {a.type} in {tb}", e.span)
                return self.bad(e)
            if isinstance(a.type, T.EnumT) and a.type.closed and isinstance(e.right, A.ListLit):
                for item in e.right.items:
                    if (
                        isinstance(item, A.Literal)
                        and item.kind == "string"
                        and item.value not in a.type.values
                    ):
                        self.error(
                            "unknown-enum-value",
                            f'"{item.value}" is not one of {", ".join(a.type.values)}',
                            item.span,
                            did_you_mean(str(item.value), a.type.values),
                        )
            return Member(a, b, negated, "list", sid, type=T.BOOL, span=e.span)
        if isinstance(tb, T.RangeT):
            if T.unify(a.type, tb.elem) is None and a.type != T.ANY:
                hint = None
                if {a.type, tb.elem} == {T.DATE, T.DATETIME}:
                    hint = "convert one side: `local_date(x, zone)` or `start_of_day(d, zone)`"
                self.error("type-mismatch", f"cannot look for {a.type} in {tb}", e.span, hint)
                return self.bad(e)
            return Member(a, b, negated, "range", sid, type=T.BOOL, span=e.span)
        if isinstance(tb, T.MapT):
            return Member(a, b, negated, "list", sid, type=T.BOOL, span=e.span)
        if tb != T.ANY:
            self.error(
                "type-mismatch",
                f"`in` needs a list or a range on its right, not {tb}",
                span_of(e.right),
            )
            return self.bad(e)
        return Member(a, b, negated, "list", sid, type=T.BOOL, span=e.span)

    def _arith(self, e: A.Binary, a: Node, b: Node) -> Node:
        ta, tb, op = a.type, b.type, e.op
        rt: Type | None = None
        mode = "num"
        if T.is_numeric(ta) and T.is_numeric(tb):
            rt = T.INT if (ta == tb == T.INT and op != "/") else T.DECIMAL
            mode = "int" if rt == T.INT else "dec"
            if op == "/":
                mode = "div"
        elif ta == tb == T.MONEY and op in "+-":
            rt, mode = T.MONEY, "money"
        elif ta == tb == T.MONEY and op == "/":
            rt, mode = T.DECIMAL, "money_ratio"
        elif (ta == T.MONEY and T.is_numeric(tb) and op in "*/") or (
            tb == T.MONEY and T.is_numeric(ta) and op == "*"
        ):
            rt, mode = T.MONEY, "money_scale"
        elif ta in (T.DATE, T.DATETIME) and tb == T.DURATION and op in "+-":
            rt, mode = ta, "time"
            if ta == T.DATE and not whole_days(b):
                self.error(
                    "unit-mismatch",
                    "only whole days can be added to a date",
                    span_of(e.right),
                    "use days, or convert the date to a datetime with `start_of_day(d, zone)`",
                )
        elif ta == tb == T.DATETIME and op == "-":
            # the time from one instant to another
            rt, mode = T.DURATION, "elapsed"
        elif ta == T.DATE and tb == T.MONTHS and op in "+-":
            rt, mode = T.DATE, "months"
        elif ta == T.DATETIME and tb == T.MONTHS:
            self.error(
                "unit-mismatch",
                "months can only be added to dates",
                e.span,
                "take the local date first: `local_date(x, zone) + 1 month`",
            )
            return self.bad(e)
        elif ta == tb == T.DURATION and op in "+-":
            rt, mode = T.DURATION, "time"
        elif ta == T.INT and tb in (T.DURATION, T.MONTHS) and op == "*":
            rt, mode = tb, "time"
        elif tb == T.INT and ta in (T.DURATION, T.MONTHS) and op == "*":
            rt, mode = ta, "time"
        elif T.is_string(ta) and T.is_string(tb) and op == "+":
            rt, mode = T.STRING, "concat"
        elif isinstance(ta, T.ListT) and isinstance(tb, T.ListT) and op == "+":
            # one list after the other
            rt, mode = T.unify(ta, tb), "list_concat"
            if rt is None:
                self.error(
                    "type-mismatch",
                    f"cannot join {ta} and {tb}: the items must be of one type",
                    e.span,
                )
                return self.bad(e)
        if rt is None:
            hint = None
            if T.MONEY in (ta, tb) and T.is_numeric(ta if tb == T.MONEY else tb):
                hint = (
                    "money adds only to money: write the amount with its currency, e.g. `400 USD`"
                )
            elif ta == tb == T.DATE and op == "-":
                hint = "use `days_between(a, b)`"
            self.error("type-mismatch", f"cannot apply `{op}` to {ta} and {tb}", e.span, hint)
            return self.bad(e)
        if (
            mode == "money"
            and isinstance(a, ConstMoney)
            and isinstance(b, ConstMoney)
            and a.currency != b.currency
        ):
            self.error(
                "currency-mismatch",
                f"cannot mix {a.currency} and {b.currency}",
                e.span,
                "amounts in different currencies never add up: convert explicitly",
            )
        if mode == "list_concat":
            a, b = widen(a, rt), widen(b, rt)
        return Arith(op, a, b, mode, type=rt, span=e.span)

    def e_RangeExpr(self, e: A.RangeExpr, env: Env) -> Node:
        a = self.expr(e.start, env)
        b = self.expr(e.end, env)
        u = T.unify(a.type, b.type)
        if u is None or T.is_nullable(u) or (u != T.ANY and not T.is_orderable(u)):
            self.error(
                "type-mismatch",
                f"a range needs two ends of one ordered type, not {a.type} and {b.type}",
                e.span,
            )
            return self.bad(e)
        return RangeLit(a, b, e.half_open, type=T.range_of(u), span=e.span)
