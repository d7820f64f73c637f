"""Typing calls of built-in functions, as the catalogue `dsl.functions` declares them.

A form whose parameter and result types are all declared is checked from the declaration alone
(the number of arguments, each argument's type, a zone parameter taking a zone name literal); a
built-in with an extra check (`in_zone`'s wall-clock time, `window`'s whole days, the weekday
literal of `first_weekday`) runs it after that. A built-in whose types depend on its arguments
(`round(x)` or `round(x, 2)`, `least` of any ordered type, `flatten` of a list of lists) is typed
by its own hook.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

from .. import ast as A
from .. import types as T
from ..diagnostics import Span, did_you_mean
from ..functions import FUNCTIONS, WEEKDAYS, BuiltinFunction, Form
from ..limits import MAX_ROUND_PLACES
from ..typed import Builtin, Const, Node
from ..types import Type
from .common import cast, text_of, whole_days, widen


class ExpressionChecks(Protocol):
    """What a built-in's typing needs of the expression checker (`exprs.ExpressionChecks`)."""

    def error(self, code: str, msg: str, span: Span, help: str | None = None) -> None: ...

    def bad(self, e: A.Expr) -> Node: ...

    def zone_literal(self, node: Node) -> bool: ...

    def _check_wall_clock(self, v: object, zone_name: str | None, span: Span) -> None: ...


# a built-in's own typing: the checker, the call, its checked arguments, the catalogue's entry
TypingHook = Callable[["ExpressionChecks", A.Call, list[Node], BuiltinFunction], Node]
# a check beyond the declared types, run on the call typed from them
ExtraCheck = Callable[["ExpressionChecks", A.Call, list[Node]], None]


def check_builtin(ck: ExpressionChecks, name: str, e: A.Call, args: list[Node]) -> Node:
    """The typed call of the built-in `name`, with its diagnostics reported to `ck`."""
    fn = FUNCTIONS[name]
    hook = TYPING_HOOKS.get(name)
    if hook is not None:
        return hook(ck, e, args, fn)
    node = _typed(ck, e, args, fn.forms[0])
    extra = EXTRA_CHECKS.get(name)
    if extra is not None:
        extra(ck, e, args)
    return node


def _typed(ck: ExpressionChecks, e: A.Call, args: list[Node], form: Form) -> Node:
    """A call typed from the form's declared types (a parameter shown only in words, such as a
    literal, is left to the built-in's extra check)."""
    _arity(ck, e, args, len(form.params))
    for i, (_, t) in enumerate(form.params):
        if t == T.ZONE:
            _want_zone(ck, e, args, i)
        elif isinstance(t, Type):
            _want(ck, e, args, i, t)
    assert isinstance(form.result, Type), form
    return Builtin(form.op, tuple(args), type=form.result, span=e.span)


# ---- extra checks ------------------------------------------------------------------------------


def _wall_clock(ck: ExpressionChecks, e: A.Call, args: list[Node]) -> None:
    if len(args) == 2 and isinstance(args[0], Const) and isinstance(args[1], Const):
        local, zone_name = args[0].value, args[1].value
        if isinstance(local, dt.datetime) and isinstance(zone_name, str):
            ck._check_wall_clock(local, zone_name, e.span)


def _weekday_literal(ck: ExpressionChecks, e: A.Call, args: list[Node]) -> None:
    if len(args) == 2:
        a = args[1]
        if not isinstance(a, Const) or a.value not in WEEKDAYS:
            ck.error(
                "invalid-argument",
                'the weekday must be a literal like "thursday"',
                a.span,
                did_you_mean(str(a.value), WEEKDAYS) if isinstance(a, Const) else None,
            )


def _window_in_days(ck: ExpressionChecks, e: A.Call, args: list[Node]) -> None:
    if len(args) == 2 and not whole_days(args[1]):
        ck.error("unit-mismatch", "a window of dates is measured in days", args[1].span)


EXTRA_CHECKS: dict[str, ExtraCheck] = {
    "in_zone": _wall_clock,
    "first_weekday": _weekday_literal,
    "window": _window_in_days,
}


# ---- built-ins typed by their arguments --------------------------------------------------------


def _days(ck: ExpressionChecks, e: A.Call, args: list[Node], fn: BuiltinFunction) -> Node:
    count, dates = fn.forms
    _arity(ck, e, args, 1)
    if isinstance(args[0].type, T.RangeT) and args[0].type.elem in (T.DATE, T.ANY):
        # `days(a .. b)`: the dates of a range, to iterate over
        return _typed(ck, e, args, dates)
    if isinstance(args[0].type, T.RangeT):
        ck.error(
            "type-mismatch",
            f"`days` lists the dates of a range of dates, not of {args[0].type}",
            args[0].span,
            "take the dates first, e.g. `days(local_date(a, zone) .. local_date(b, zone))`",
        )
        return ck.bad(e)
    return _typed(ck, e, args, count)


def _numeric(
    ck: ExpressionChecks, e: A.Call, args: list[Node], form: Form, shown: str | None = None
) -> Node:
    _arity(ck, e, args, len(form.params))
    for a in args:
        if not T.is_numeric(a.type) and a.type != T.ANY:
            hint = "it may be null: check it first" if T.is_nullable(a.type) else None
            if a.type == T.MONEY:
                hint = "take the amount first: `x.amount`"
                if form.op == "round_int":
                    hint = "round money to places: `round(x, 2)`"
            what = f"`{shown or form.op}`"
            ck.error("type-mismatch", f"{what} needs a number, not {a.type}", a.span, hint)
    # an untyped argument must be a number (`int` fits where a decimal is expected)
    args[:] = [cast(a, T.DECIMAL) for a in args]
    assert isinstance(form.result, Type), form
    return Builtin(form.op, tuple(args), type=form.result, span=e.span)


def _number(ck: ExpressionChecks, e: A.Call, args: list[Node], fn: BuiltinFunction) -> Node:
    return _numeric(ck, e, args, fn.forms[0])


def _round(ck: ExpressionChecks, e: A.Call, args: list[Node], fn: BuiltinFunction) -> Node:
    to_int, to_places = fn.forms
    if len(args) == 1:
        # `round(x)`: half-even to an integer
        return _numeric(ck, e, args, to_int, "round(x)")
    _arity(ck, e, args, 2)
    if args and args[0].type not in (T.DECIMAL, T.INT, T.MONEY, T.ANY):
        ck.error("type-mismatch", f"`round` needs a number or money, not {args[0].type}", e.span)
    places = args[1] if len(args) == 2 else None
    if places is not None and (not isinstance(places, Const) or not isinstance(places.value, int)):
        ck.error(
            "invalid-argument", "the number of places must be a whole-number literal", args[1].span
        )
    elif isinstance(places, Const) and not 0 <= places.value <= MAX_ROUND_PLACES:
        ck.error(
            "literal-out-of-range",
            f"cannot round to {places.value} places",
            args[1].span,
            f"the number of places is from 0 to {MAX_ROUND_PLACES}",
        )
    rt = args[0].type if args and args[0].type == T.MONEY else T.DECIMAL
    if args:
        # an untyped value is rounded as a decimal (the result's type): it must be a number
        args[0] = cast(args[0], T.DECIMAL)
    return Builtin(to_places.op, tuple(args), type=rt, span=e.span)


def _pairwise(ck: ExpressionChecks, e: A.Call, args: list[Node], fn: BuiltinFunction) -> Node:
    name = fn.name
    if len(args) < 2:
        ck.error(
            "wrong-arguments",
            f"`{name}(a, b, ...)` takes two or more values; over a list write `{name}(x for x in xs)`",
            e.span,
        )
        return ck.bad(e)
    t: Type | None = args[0].type
    for a in args[1:]:
        t = T.unify(t, a.type) if t is not None else None
    if t is None or (not T.is_orderable(t) and t != T.ANY) or T.is_nullable(t):
        ck.error("type-mismatch", f"`{name}` needs values of one ordered type", e.span)
        return ck.bad(e)
    return Builtin(fn.forms[0].op, tuple(widen(a, t) for a in args), type=t, span=e.span)


def _abs(ck: ExpressionChecks, e: A.Call, args: list[Node], fn: BuiltinFunction) -> Node:
    _arity(ck, e, args, 1)
    if args and args[0].type not in (T.INT, T.DECIMAL, T.ANY):
        ck.error("type-mismatch", f"`abs` needs a number, not {args[0].type}", e.span)
    return Builtin(fn.forms[0].op, tuple(args), type=args[0].type if args else T.ANY, span=e.span)


def _indexed(ck: ExpressionChecks, e: A.Call, args: list[Node], fn: BuiltinFunction) -> Node:
    _arity(ck, e, args, 1)
    t = args[0].type if args else T.ANY
    if not isinstance(t, T.ListT) and t != T.ANY:
        ck.error("not-a-list", f"`indexed` needs a list, not {t}", e.span)
    elem = t.elem if isinstance(t, T.ListT) else T.ANY
    rt = T.list_of(T.record([("index", T.INT), ("item", elem)]))
    return Builtin(fn.forms[0].op, tuple(args), type=rt, span=e.span)


def _flatten(ck: ExpressionChecks, e: A.Call, args: list[Node], fn: BuiltinFunction) -> Node:
    op = fn.forms[0].op
    _arity(ck, e, args, 1)
    t = args[0].type if args else T.ANY
    if isinstance(t, T.ListT) and isinstance(t.elem, T.ListT):
        return Builtin(op, tuple(args), type=t.elem, span=e.span)
    if isinstance(t, T.ListT) and t.elem == T.NEVER:
        return Builtin(op, tuple(args), type=t, span=e.span)
    # a list of unknown items (an untyped parameter's) may be a list of lists
    if t != T.ANY and not (isinstance(t, T.ListT) and t.elem == T.ANY):
        ck.error("type-mismatch", f"`flatten` needs a list of lists, not {t}", e.span)
    return Builtin(op, tuple(args), type=T.ANY, span=e.span)


def _values(ck: ExpressionChecks, e: A.Call, args: list[Node], fn: BuiltinFunction) -> Node:
    op = fn.forms[0].op
    _arity(ck, e, args, 1)
    t = args[0].type if args else T.ANY
    if isinstance(t, T.MapT):
        return Builtin(op, tuple(args), type=T.list_of(t.value), span=e.span)
    if t != T.ANY:
        ck.error("type-mismatch", f"`values` needs a map, not {t}", e.span)
    return Builtin(op, tuple(args), type=T.ANY, span=e.span)


TYPING_HOOKS: dict[str, TypingHook] = {
    "days": _days,
    "round": _round,
    "least": _pairwise,
    "greatest": _pairwise,
    "abs": _abs,
    "indexed": _indexed,
    "flatten": _flatten,
    "values": _values,
    **{n: _number for n in ("floor", "ceil", "sqrt", "sin", "cos", "asin", "atan2", "radians")},
    "pi": _number,
}


# ---- arguments ---------------------------------------------------------------------------------


def _arity(ck: ExpressionChecks, e: A.Call, args: list[Node], n: int) -> None:
    if len(args) != n:
        name = text_of(e.func)
        ck.error("wrong-arguments", f"`{name}` takes {n} argument(s), not {len(args)}", e.span)
        args.extend(Const(None, type=T.ANY, span=e.span) for _ in range(n - len(args)))


def _want(ck: ExpressionChecks, e: A.Call, args: list[Node], i: int, t: Type) -> None:
    """Argument `i` must be a `t` (an untyped one is checked to be one at run time)."""
    if i < len(args) and not T.assignable(args[i].type, t):
        hint = "it may be null: check it first" if T.is_nullable(args[i].type) else None
        ck.error(
            "type-mismatch",
            f"argument {i + 1} of `{text_of(e.func)}` must be {t}, not {args[i].type}",
            args[i].span,
            hint,
        )
    elif i < len(args):
        args[i] = cast(args[i], t)


def _want_zone(ck: ExpressionChecks, e: A.Call, args: list[Node], i: int) -> None:
    if i >= len(args):
        return
    a = args[i]
    if a.type == T.ZONE or a.type == T.ANY or ck.zone_literal(a):
        return
    ck.error(
        "type-mismatch",
        f"argument {i + 1} of `{text_of(e.func)}` must be a time zone, not {a.type}",
        a.span,
        'write a zone name literal ("Asia/Bangkok") or a field with `format: time-zone`',
    )
