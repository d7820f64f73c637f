"""Comprehensions and aggregates: the source list, the bound variable, `where`, `order by`,
`by`, and the result type of each aggregate."""

from __future__ import annotations

from .. import ast as A
from .. import types as T
from ..ast import span_of
from ..diagnostics import did_you_mean
from ..typed import (
    Comp,
    Node,
    Pair,
)
from ..types import Type
from .common import cast, text_of
from .operators import OperatorChecks
from .state import AGGREGATES, Env

# the units a duration literal takes (`3 hours`), and the words an author may try instead


class ComprehensionChecks(OperatorChecks):
    """Typing comprehensions and aggregate calls."""

    def _comp_env(self, c: A.Comprehension, env: Env) -> tuple[Node, Type, str, Env]:
        src = self.expr(c.source, env)
        st = src.type
        if T.is_nullable(st) and st != T.ANY:
            self.error(
                "nullable-operand",
                f"`{text_of(c.source)}` may be null",
                span_of(c.source),
                "give it a default: `(xs ?? [])`",
            )
            st = T.strip(st)
        if isinstance(st, T.ListT):
            elem = st.elem
        elif st == T.ANY:
            elem = T.ANY
        else:
            self.error(
                "not-a-list", f"`{text_of(c.source)}` is {st}, not a list", span_of(c.source)
            )
            elem = T.ANY
        py = self.fresh(f"v_{c.var}")
        return src, elem, py, env.with_local(c.var, py, elem)

    def e_ListComp(self, e: A.ListComp, env: Env) -> Node:
        return self._comprehension("list", e.comp, env, e)

    def e_AggCall(self, e: A.AggCall, env: Env) -> Node:
        if e.func not in AGGREGATES:
            self.error(
                "unknown-aggregate",
                f"`{e.func or text_of(e)}` does not take `for ... in ...`",
                e.span,
                did_you_mean(e.func, AGGREGATES)
                or f"aggregates are: {', '.join(sorted(AGGREGATES))}",
            )
            return self.bad(e)
        return self._comprehension(e.func, e.comp, env, e)

    def e_MapComp(self, e: A.MapComp, env: Env) -> Node:
        return self._comprehension("map", e.comp, env, e, key=e.key)

    def _comprehension(
        self, agg: str, c: A.Comprehension, env: Env, e: A.Expr, key: A.Expr | None = None
    ) -> Node:
        src, item_t, py, cenv = self._comp_env(c, env)
        where = None
        if c.where is not None:
            where = self.expr(c.where, cenv)
            where = self._expect(where, T.BOOL, span_of(c.where), "a `where` filter")
            cenv = cenv.with_facts(self.facts(c.where, True, cenv))
        elem = self.expr(c.elem, cenv)
        if agg == "all":
            # `all` takes a condition: an untyped one is checked to be a boolean at run time
            elem = cast(elem, T.BOOL)
        order = None
        if c.order is not None:
            order = self.expr(c.order, cenv)
            if not T.is_orderable(order.type) and order.type != T.ANY:
                self.error("type-mismatch", f"cannot order by {order.type}", span_of(c.order))
        by = None
        if c.by is not None:
            if agg not in ("distinct", "group"):
                self.error(
                    "by-not-here",
                    "`by` groups or de-duplicates: use it with `distinct` or `group`",
                    span_of(c.by),
                )
            by = self.expr(c.by, cenv)
            if T.is_nullable(by.type):
                self.error("nullable-operand", "a grouping key may not be null", span_of(c.by))
        if agg == "group" and by is None:
            self.error("missing-by", "`group` needs `by key`", span_of(e))
        et = elem.type
        rt: Type
        if agg == "map":
            assert key is not None
            knode = self.expr(key, cenv)
            if not T.is_string(knode.type) and knode.type != T.ANY:
                self.error(
                    "type-mismatch", f"map keys must be strings, not {knode.type}", span_of(key)
                )
            elem = Pair(knode, elem, type=et, span=elem.span)
            rt, mode = T.map_of(et), ""
        else:
            rt, mode = self._aggregate_type(agg, c, et, item_t, by)
        sid = self._site("agg", e, env)
        return Comp(
            agg=agg,
            var=py,
            source=src,
            where=where,
            elem=elem,
            order=order,
            desc=c.descending,
            by=by,
            mode=mode,
            sid=sid,
            type=rt,
            span=span_of(e),
        )

    def _aggregate_type(
        self, agg: str, c: A.Comprehension, et: Type, item_t: Type, by: Node | None
    ) -> tuple[Type, str]:
        """The result type of aggregate `agg` over values of type `et` (the items themselves of
        type `item_t`), and the dispatch the compiler takes for it."""
        is_pred = et == T.BOOL
        rt: Type
        mode = ""
        if agg in ("list",):
            rt = T.list_of(et)
        elif agg in ("count", "any", "all"):
            rt = T.INT if agg == "count" else T.BOOL
            mode = "pred" if is_pred else "exists"
            if agg == "all" and not is_pred:
                self.error(
                    "type-mismatch",
                    "`all` needs a condition: `all(x.ok for x in xs)`",
                    span_of(c.elem),
                )
        elif agg == "sum":
            if et == T.MONEY:
                rt, mode = T.opt(T.MONEY), "money"
            elif et in (T.INT, T.DECIMAL):
                rt, mode = et, "num"
            elif et == T.ANY:
                rt, mode = T.ANY, "num"
            else:
                self.error("type-mismatch", f"cannot sum {et}", span_of(c.elem))
                rt = T.ANY
        elif agg in ("min", "max"):
            if not T.is_orderable(T.strip(et)) and et != T.ANY:
                self.error(
                    "type-mismatch", f"`{agg}` needs ordered values, not {et}", span_of(c.elem)
                )
            if T.is_nullable(et):
                self.error(
                    "nullable-operand",
                    f"`{agg}` values may not be null: filter them with `where`",
                    span_of(c.elem),
                )
            rt = T.opt(et)
        elif agg in ("first", "last"):
            rt = T.opt(et)
        elif agg == "distinct":
            rt = T.list_of(et)
        elif agg == "group":
            kt = by.type if by is not None else T.ANY
            rt = T.list_of(T.record([("key", kt), ("items", T.list_of(et))]))
        elif agg == "running_sum":
            # `[{item, total}]`: each item (in the comprehension's order) with the sum so far
            if et not in (T.MONEY, T.INT, T.DECIMAL, T.ANY):
                self.error("type-mismatch", f"cannot sum {et}", span_of(c.elem))
            rt = T.list_of(T.record([("item", item_t), ("total", et)]))
        elif agg == "unique":
            # whether no value occurs twice: one pass with a hash set
            rt = T.BOOL
        elif agg == "pairs":
            # `[{item, next}]`: each value (in the comprehension's order) with the one after it
            rt = T.list_of(T.record([("item", et), ("next", et)]))
        else:
            rt = T.ANY
        return rt, mode
