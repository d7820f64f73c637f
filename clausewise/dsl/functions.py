"""The catalogue of built-in functions: each declared once, with its forms' parameter and result
types, the runtime function that implements it and what it means.

A built-in has one or more forms (`days(n)` is a duration, `days(a .. b)` the dates of a range;
`round(x)` an integer, `round(x, 2)` a decimal). Each form has an `op`, the name the typed
program and the runtime know it by, and names its implementation in `dsl.runtime`. The
checker gives each built-in its check (from the declared types, plus an extra check where the
typing needs more: a literal argument, a result that depends on the argument); the runtime
builds its table of implementations from it (`implementations`); the reference interpreter
implements every op it declares; the table of built-ins in `docs/language.md` is generated from
it. The tests fail when any of them knows a built-in the catalogue does not declare.

To add a built-in: one `_fn(...)` entry here, its implementation in `dsl.runtime`, its
reference implementation in the tests' interpreter, then `make docs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import types as T
from .types import Type

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# a parameter or result type the declared types cannot say (it depends on the arguments): the
# text shown in the docs; the built-in's check hook types it
Shown = str


@dataclass(frozen=True, slots=True)
class Form:
    """One way of calling a built-in: its parameters (name, type), its result, the op the typed
    program and the runtime know it by, the runtime function that implements it, and what it
    means (the docs' text)."""

    op: str
    params: tuple[tuple[str, Type | Shown], ...]
    result: Type | Shown
    impl: str
    meaning: str

    @property
    def typed(self) -> bool:
        """Whether declared types alone type a call of this form."""
        return not isinstance(self.result, str) and not any(
            isinstance(t, str) for _, t in self.params
        )

    def call(self, name: str) -> str:
        """`name(a, b)`, as a policy calls it."""
        return f"{name}({', '.join(p for p, _ in self.params)})"

    def types(self) -> str:
        """`a: type, b: type -> type`, as the docs show it."""
        params = ", ".join(f"{p}: {_shown(t)}" for p, t in self.params)
        return f"{params} -> {_shown(self.result)}".lstrip()


def _shown(t: Type | Shown) -> str:
    if isinstance(t, T.EnumT):
        return f"string, one of {len(t.values)}"
    return str(t)


@dataclass(frozen=True, slots=True)
class BuiltinFunction:
    """A built-in function: its name in policies and its forms."""

    name: str
    forms: tuple[Form, ...]


FUNCTIONS: dict[str, BuiltinFunction] = {}


def _fn(name: str, *forms: Form) -> None:
    if name in FUNCTIONS:
        raise ValueError(f"built-in `{name}` is declared twice")
    FUNCTIONS[name] = BuiltinFunction(name, forms)


def _form(
    params: tuple[tuple[str, Type | Shown], ...],
    result: Type | Shown,
    impl: str,
    meaning: str,
    op: str = "",
) -> Form:
    return Form(op, params, result, impl, meaning)


def _one(
    name: str,
    params: tuple[tuple[str, Type | Shown], ...],
    result: Type | Shown,
    impl: str,
    meaning: str,
) -> None:
    """A built-in with one form, whose op is its name."""
    _fn(name, Form(name, params, result, impl, meaning))


NUMBER: Shown = "int or decimal"
ORDERED: Shown = "a value of an ordered type"

# ---- dates, instants and zones ---------------------------------------------------------------

_one(
    "local_date",
    (("t", T.DATETIME), ("zone", T.ZONE)),
    T.DATE,
    "local_date",
    "the calendar date of instant `t` in `zone`",
)
_one("utc_date", (("t", T.DATETIME),), T.DATE, "utc_date", "the date of `t` in UTC")
_one(
    "in_zone",
    (("local", T.LOCAL_DATETIME), ("zone", T.ZONE)),
    T.DATETIME,
    "in_zone",
    "a wall-clock time in a zone, as an instant (a literal time that does not exist, or occurs "
    "twice, in the zone is reported)",
)
_one(
    "start_of_day",
    (("d", T.DATE), ("zone", T.ZONE)),
    T.DATETIME,
    "start_of_day",
    "the instant day `d` begins in `zone`",
)
_one("start_of_month", (("d", T.DATE),), T.DATE, "start_of_month", "the first day of `d`'s month")
_one("end_of_month", (("d", T.DATE),), T.DATE, "end_of_month", "the last day of `d`'s month")
_one("weekday", (("d", T.DATE),), T.enum(WEEKDAYS), "weekday", '`"monday"` ... `"sunday"`')
_one(
    "first_weekday",
    (("d", T.DATE), ("weekday", "a weekday literal")),
    T.DATE,
    "first_weekday",
    '`first_weekday(d, "thursday")`: the first Thursday of `d`\'s month',
)
_one(
    "window",
    (("end", T.DATE), ("length", T.DURATION)),
    T.range_of(T.DATE),
    "window",
    "`window(end, 60 days)`: the 60 dates ending on `end`, both included (a range); the length "
    "is whole days",
)
_one("days_between", (("a", T.DATE), ("b", T.DATE)), T.INT, "days_between", "`b - a` in days")
_fn(
    "days",
    _form((("n", T.INT),), T.DURATION, "days", "a duration of `n` days", op="days"),
    _form(
        (("r", T.range_of(T.DATE)),),
        T.list_of(T.DATE),
        "days_of",
        "the dates of a range of dates, in order (`a ..< b` leaves out `b`; `[]` when `b` is "
        "before `a`; more than 100,000 dates is the error `out_of_range`): "
        '`count(d for d in days(window(end, 30 days)) where weekday(d) == "monday")`',
        op="days_in",
    ),
)
_one(
    "hours",
    (("n", T.INT),),
    T.DURATION,
    "hours",
    "a duration of `n` hours; `n` an integer. For a fixed count write `3 hours`",
)
_one(
    "minutes",
    (("n", T.INT),),
    T.DURATION,
    "minutes",
    "a duration of `n` minutes; `n` an integer. For a fixed count write `3 minutes`",
)
_one(
    "hours_between",
    (("a", T.DATETIME), ("b", T.DATETIME)),
    T.DECIMAL,
    "hours_between",
    "the time from instant `a` to instant `b` as a decimal number of hours, negative when `b` "
    "is earlier: `hours_between(input.scheduled, input.arrived) >= 3`",
)
_one(
    "minutes_between",
    (("a", T.DATETIME), ("b", T.DATETIME)),
    T.DECIMAL,
    "minutes_between",
    "the time from instant `a` to instant `b` as a decimal number of minutes",
)

# ---- numbers and money -----------------------------------------------------------------------

_one("floor", (("x", NUMBER),), T.INT, "floor_int", "`x` down to an integer; exact")
_one("ceil", (("x", NUMBER),), T.INT, "ceil_int", "`x` up to an integer; exact")
_fn(
    "round",
    _form(
        (("x", NUMBER),),
        T.INT,
        "round_int",
        "`x` to the nearest integer, half-even: `round(2.5) == 2`; exact",
        op="round_int",
    ),
    _form(
        (("x", "decimal or money"), ("places", "a whole-number literal")),
        "decimal, or money for money",
        "round_half_even",
        "`round(x, 2)`: half-even to `places` places, for decimals and money",
        op="round",
    ),
)
_one(
    "sqrt",
    (("x", NUMBER),),
    T.DECIMAL,
    "square_root",
    "the square root (`x >= 0`, else the error `invalid_argument`)",
)
_one(
    "sin",
    (("x", NUMBER),),
    T.DECIMAL,
    "sine",
    "`x` in radians (`abs(x) <= 10^15`, else `invalid_argument`)",
)
_one(
    "cos",
    (("x", NUMBER),),
    T.DECIMAL,
    "cosine",
    "`x` in radians (`abs(x) <= 10^15`, else `invalid_argument`)",
)
_one(
    "asin",
    (("x", NUMBER),),
    T.DECIMAL,
    "arc_sine",
    "in radians, `-pi()/2 .. pi()/2` (`-1 <= x <= 1`, else `invalid_argument`)",
)
_one(
    "atan2",
    (("y", NUMBER), ("x", NUMBER)),
    T.DECIMAL,
    "arc_tangent2",
    "the angle of the point `(x, y)` in radians, `-pi() .. pi()`",
)
_one("radians", (("degrees", NUMBER),), T.DECIMAL, "radians", "`degrees * pi() / 180`")
_one("pi", (), T.DECIMAL, "pi", "pi to 50 significant digits")
_one(
    "money",
    (("amount", T.DECIMAL), ("currency", T.STRING)),
    T.MONEY,
    "money",
    "an amount of money in a currency",
)
_one(
    "least",
    (("a", ORDERED), ("b, ...", ORDERED)),
    "their common type",
    "least",
    "the least of two or more values",
)
_one(
    "greatest",
    (("a", ORDERED), ("b, ...", ORDERED)),
    "their common type",
    "greatest",
    "the greatest of two or more values",
)
_one("abs", (("x", NUMBER),), "the type of x", "absolute", "the absolute value")

# ---- lists and maps --------------------------------------------------------------------------

_one(
    "indexed",
    (("xs", "list"),),
    "list of {index, item}",
    "indexed",
    "`[{index, item}]`: each item with its position (from 0), e.g. to tell apart equal items or "
    "break ties by input order",
)
_one(
    "flatten",
    (("xss", "list of lists"),),
    "list",
    "flatten",
    "the items of a list of lists, one list after the other",
)
_one(
    "values",
    (("m", "map"),),
    "list",
    "map_values",
    "the values of a map, in the order of its keys (a list): `sum(p.n for p in values(m))`",
)


def forms() -> list[Form]:
    """Every form of every built-in."""
    return [f for b in FUNCTIONS.values() for f in b.forms]


def ops() -> frozenset[str]:
    """The ops of every form: what a typed program's built-in call may name."""
    return frozenset(f.op for f in forms())


def implementations(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime's table of implementations, op -> function, from the module that holds them
    (its `globals()`); a form whose implementation is missing is an error at import."""
    missing = [f.impl for f in forms() if not callable(namespace.get(f.impl))]
    if missing:
        raise ImportError(f"built-ins without an implementation: {', '.join(missing)}")
    return {f.op: namespace[f.impl] for f in forms()}


DOCS_BEGIN = "<!-- built-in functions: generated from clausewise/dsl/functions.py -->"
DOCS_END = "<!-- end of built-in functions -->"


def markdown() -> str:
    """The table of built-ins in `docs/language.md`, between its markers."""
    rows = [DOCS_BEGIN, "", "| function | types | meaning |", "|---|---|---|"]
    for b in FUNCTIONS.values():
        for f in b.forms:
            rows.append(f"| `{f.call(b.name)}` | {f.types()} | {f.meaning} |")
    return "\n".join([*rows, "", DOCS_END])


def with_docs(text: str) -> str:
    """`text` (docs/language.md) with its table of built-ins regenerated."""
    start, end = text.index(DOCS_BEGIN), text.index(DOCS_END) + len(DOCS_END)
    return text[:start] + markdown() + text[end:]
