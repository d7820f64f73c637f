"""A deliberately simple tree-walking interpreter over the typed program.

It gives every node kind of `clausewise.dsl.typed` its meaning as docs/language.md describes
it, one node at a time: no generated code, no constant folding, no inlining, no sets standing in
for lists. It shares only the run-time values (`Money`, `Range`, `Months`, the error classes)
and the codec (input converter, output writer) with the engine, so that outputs compare as JSON.

Meaning, where the compiled engine could choose differently:

- definitions are evaluated once per decision, in full, "whether or not the branch that uses
  it is taken" (docs/language.md): requirements are checked in source order, each after every
  definition it reads (directly, through other definitions or through functions) has been
  evaluated, in program order (which puts a definition after those it reads); then the
  definitions only the output reads, in program order; then the output. So when a definition a
  requirement reads fails, its error is the decision's, even where the requirement's condition
  would not have reached it;
- `+`, `-` and `*` on decimals and money are exact; `/` rounds half-even at 50 significant
  digits (the runtime's documented precision); `round` is half-even;
- comparing (`==`, `<`, `in`, ...) or adding two amounts in different currencies raises
  `CurrencyError` (an `EvaluationError` of the policy); `distinct` and `group` keys are values, so `1 USD` and `1 EUR` are two keys;
- records compare by their fields (the input's records carry their JSON path under `__path__`,
  which is not a field);
- `first`, `any`, `all` and `unique` stop at the first element that decides them; other
  aggregates look at every element; `order by` is a stable sort (`desc` keeps equal elements in input order);
- `xs[i]` is null when `i` is out of range (negative indexes count from the end);
- a date or instant moved off the calendar (past year 9999, before year 1) is a bound later
  (earlier) than every date (the runtime's `OffCalendar`), by days, months, a time zone or a
  window reaching before year 1; the start or end of its month and its first weekday are
  off the calendar too; `weekday` and `days_between` of it fail with `date_out_of_range`;
- a duration past 999,999,999 days fails with `duration_out_of_range`.
- the output is written by its static type where the output schema says nothing
  (docs/schemas.md): `if c then [0] else [0.5]` is a `list[decimal]`, written `["0"]`;
- a decimal is a decimal also when it holds a whole number: a value joined with others (a
  branch of `if`, an operand of `??`, `+` or of arithmetic on an untyped value, an item of a
  list or a range, an argument of `least`/`greatest`, a decision's case) is held as its own
  static type says, so a whole number typed decimal is written `"0"` even where the joined
  type is unknown (`input.untyped ?? [0, 0.5]` is `["0", "0.5"]`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import decimal
import functools
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from clausewise.dsl import typed as N
from clausewise.dsl import types as T
from clausewise.dsl.functions import ops
from clausewise.dsl.runtime import (
    MAX_DAYS,
    CurrencyError,
    EvaluationError,
    InputError,
    Money,
    Months,
    OffCalendar,
    Range,
)
from clausewise.dsl.typed import Node, Program, Requirement, children
from clausewise.engine.codec import build_input_converter, build_output_writer


def _is_of(v: Any, t: T.Type) -> bool:
    """Whether `v` is a value of type `t`, as docs/errors.md (`type_mismatch`) describes."""
    if isinstance(t, T.OptT):
        return v is None or _is_of(v, t.inner)
    if isinstance(t, T.ListT):
        return isinstance(v, list | tuple) and all(_is_of(x, t.elem) for x in v)
    if isinstance(t, T.MapT):
        return isinstance(v, dict) and all(_is_of(x, t.value) for x in v.values())
    if isinstance(t, T.RecordT):
        return isinstance(v, dict)
    if isinstance(t, T.RangeT):
        return isinstance(v, Range)
    if isinstance(t, T.EnumT) or t == T.STRING:
        return isinstance(v, str)
    if t == T.BOOL:
        return isinstance(v, bool)
    if isinstance(v, bool):
        return t in (T.ANY, T.NEVER)
    if t == T.INT:
        return isinstance(v, int)
    if t == T.DECIMAL:
        return isinstance(v, int | float | Decimal)  # any JSON number
    if t == T.DATE:
        return type(v) is dt.date or isinstance(v, OffCalendar)
    if t in (T.DATETIME, T.LOCAL_DATETIME):
        return isinstance(v, dt.datetime | OffCalendar)
    if t == T.MONEY:
        return isinstance(v, Money)
    if t == T.DURATION:
        return isinstance(v, dt.timedelta)
    if t == T.MONTHS:
        return isinstance(v, Months)
    if t == T.NULL:
        return v is None
    return True


EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
DIVISION = decimal.Context(
    prec=50,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
UTC = dt.UTC
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PATH_KEY = "__path__"


# ---- values ------------------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _dec(x: Any) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(x)


def same_currency(a: Money, b: Money) -> None:
    if a.currency != b.currency:
        raise CurrencyError(a, b)


def equal(a: Any, b: Any) -> bool:
    """`a == b` in the language."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, Money) or isinstance(b, Money):
        if not (isinstance(a, Money) and isinstance(b, Money)):
            return False
        same_currency(a, b)
        return a.amount == b.amount
    if isinstance(a, dict) and isinstance(b, dict):
        ka = [k for k in a if k != PATH_KEY]
        kb = [k for k in b if k != PATH_KEY]
        if sorted(ka) != sorted(kb):
            return False
        return all(equal(a[k], b[k]) for k in ka)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Range) and isinstance(b, Range):
        return a.half_open == b.half_open and equal(a.start, b.start) and equal(a.end, b.end)
    if isinstance(a, dt.datetime) != isinstance(b, dt.datetime):
        return False
    return bool(a == b)


def same_key(a: Any, b: Any) -> bool:
    """Whether two `distinct` / `group` keys are the same value (never an error)."""
    if isinstance(a, Money) or isinstance(b, Money):
        return (
            isinstance(a, Money)
            and isinstance(b, Money)
            and a.currency == b.currency
            and a.amount == b.amount
        )
    if isinstance(a, dict) and isinstance(b, dict):
        ka = sorted(k for k in a if k != PATH_KEY)
        kb = sorted(k for k in b if k != PATH_KEY)
        return ka == kb and all(same_key(a[k], b[k]) for k in ka)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_key(x, y) for x, y in zip(a, b, strict=True))
    if a is None or b is None:
        return a is None and b is None
    return equal(a, b)


def order(a: Any, b: Any) -> int:
    """-1, 0 or 1 as `a` is before, equal to or after `b` (ordered types only)."""
    if isinstance(a, Money) or isinstance(b, Money):
        same_currency(a, b)
        a, b = a.amount, b.amount
    if a < b:
        return -1
    if b < a:
        return 1
    return 0


def compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return equal(a, b)
    if op == "!=":
        return not equal(a, b)
    c = order(a, b)
    return {"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[op]


def lt(a: Any, b: Any) -> bool:
    return order(a, b) < 0


def in_range(x: Any, r: Range) -> bool:
    if not order(r.start, x) <= 0:
        return False
    c = order(x, r.end)
    return c < 0 if r.half_open else c <= 0


def divide(a: Any, b: Any) -> Decimal:
    if b == 0:
        raise EvaluationError("division_by_zero", "division by zero")
    return DIVISION.divide(_dec(a), _dec(b))


def add_months(d: Any, n: int) -> Any:
    if isinstance(d, OffCalendar):
        return d
    total = d.year * 12 + (d.month - 1) + n
    y, m = divmod(total, 12)
    m += 1
    if y < 1 or y > 9999:
        return OffCalendar(y > 9999)
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _duration(compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except OverflowError:
        raise EvaluationError("duration_out_of_range", "duration out of range") from None


def _real_date(d: Any) -> dt.date:
    if isinstance(d, OffCalendar):
        raise EvaluationError("date_out_of_range", "off the calendar")
    return d  # type: ignore[no-any-return]


def _off_near(t: Any) -> OffCalendar:
    return OffCalendar(t.year > 5000)


def _local_date(t: Any, z: Any) -> Any:
    if isinstance(t, OffCalendar):
        return t
    try:
        return t.astimezone(_zone(z)).date()
    except OverflowError:
        return _off_near(t)


def _in_zone(t: Any, z: Any) -> Any:
    try:
        return t.replace(tzinfo=_zone(z)).astimezone(UTC)
    except OverflowError:
        return _off_near(t)


def _start_of_day(d: Any, z: Any) -> Any:
    if isinstance(d, OffCalendar):
        return d
    try:
        return dt.datetime(d.year, d.month, d.day, tzinfo=_zone(z)).astimezone(UTC)
    except OverflowError:
        return _off_near(d)


def _window(end: Any, length: dt.timedelta) -> Range:
    back = length.days - 1
    if isinstance(end, OffCalendar):
        return Range(end, end, False)
    try:
        return Range(end - dt.timedelta(days=back), end, False)
    except OverflowError:
        return Range(OffCalendar(back < 0), end, False)


def _same_off(d: Any, f: Callable[[Any], Any]) -> Any:
    return d if isinstance(d, OffCalendar) else f(d)


def arith(op: str, a: Any, b: Any) -> Any:
    """`a op b` for every pair of operand types the checker lets through."""
    if op == "/":
        if isinstance(a, Money) and isinstance(b, Money):
            same_currency(a, b)
            return divide(a.amount, b.amount)
        if isinstance(a, Money):
            return Money(divide(a.amount, b), a.currency)
        return divide(a, b)
    if isinstance(a, Money) and isinstance(b, Money):
        same_currency(a, b)
        f = EXACT.add if op == "+" else EXACT.subtract
        return Money(f(a.amount, b.amount), a.currency)
    if isinstance(a, Money) or isinstance(b, Money):
        m, k = (a, b) if isinstance(a, Money) else (b, a)
        assert op == "*", op
        return Money(EXACT.multiply(m.amount, _dec(k)), m.currency)
    if op == "*" and (isinstance(a, Months) or isinstance(b, Months)):
        m, k = (a, b) if isinstance(a, Months) else (b, a)
        return Months(m.n * k)
    if isinstance(b, Months):
        assert isinstance(a, OffCalendar) or (
            isinstance(a, dt.date) and not isinstance(a, dt.datetime)
        )
        return add_months(a, b.n if op == "+" else -b.n)
    if isinstance(b, OffCalendar) or (isinstance(a, OffCalendar) and isinstance(b, dt.datetime)):
        raise EvaluationError("out_of_range", "an instant past the calendar")
    if isinstance(a, OffCalendar):
        return a
    if isinstance(a, dt.datetime | dt.date):
        # N days on an instant is N x 24 hours; on a date, N calendar days. Leaving the
        # calendar (years 1-9999) gives a bound later (earlier) than every date.
        if isinstance(a, dt.datetime):
            a = a.astimezone(UTC)
        else:
            assert isinstance(b, dt.timedelta) and b.seconds == 0 and b.microseconds == 0
        try:
            return a + b if op == "+" else a - b
        except OverflowError:
            return OffCalendar((b > dt.timedelta(0)) == (op == "+"))
    if isinstance(a, dt.timedelta) or isinstance(b, dt.timedelta):
        if op == "*":
            return _duration(lambda: a * b)
        return _duration(lambda: a + b if op == "+" else a - b)
    if isinstance(a, str):
        assert op == "+"
        return a + b
    if isinstance(a, list):
        assert op == "+"
        return list(a) + list(b)
    if _is_int(a) and _is_int(b):
        return {"+": a + b, "-": a - b, "*": a * b}[op]
    f = {"+": EXACT.add, "-": EXACT.subtract, "*": EXACT.multiply}[op]
    return f(_dec(a), _dec(b))


def negate(x: Any) -> Any:
    if isinstance(x, Decimal):
        return x.copy_negate()
    if isinstance(x, Money):
        return Money(x.amount.copy_negate(), x.currency)
    if isinstance(x, dt.timedelta):
        return _duration(lambda: -x)
    return -x


# ---- built-in functions ------------------------------------------------------------------


def _zone(z: Any) -> ZoneInfo:
    return z if isinstance(z, ZoneInfo) else ZoneInfo(z)


def _round(x: Any, places: int) -> Any:
    q = Decimal((0, (1,), -places))
    if isinstance(x, Money):
        return Money(
            x.amount.quantize(q, rounding=decimal.ROUND_HALF_EVEN, context=EXACT), x.currency
        )
    return _dec(x).quantize(q, rounding=decimal.ROUND_HALF_EVEN, context=EXACT)


def _least(*xs: Any) -> Any:
    best = xs[0]
    for x in xs[1:]:
        if lt(x, best):
            best = x
    return best


def _greatest(*xs: Any) -> Any:
    best = xs[0]
    for x in xs[1:]:
        if lt(best, x):
            best = x
    return best


def _abs(x: Any) -> Any:
    if isinstance(x, Decimal):
        return x.copy_abs()
    return abs(x)


def _first_weekday(d: dt.date, name: str) -> dt.date:
    day = dt.date(d.year, d.month, 1)
    while WEEKDAYS[day.weekday()] != name:
        day += dt.timedelta(days=1)
    return day


def _sqrt(x: Any) -> Decimal:
    if x < 0:
        raise EvaluationError("invalid_argument", "square root of a negative number")
    return Decimal(x).sqrt(decimal.Context(prec=50))


def _trig(f: Callable[..., float], *xs: Any) -> Decimal:
    # double precision, then 15 significant digits without trailing zeros
    if f in (math.sin, math.cos) and abs(xs[0]) > Decimal("1e15"):
        raise EvaluationError("invalid_argument", "angle too large")
    floats = [float(x) for x in xs]
    if f is math.atan2 and any(
        math.isinf(v) or (v == 0 and x != 0) for v, x in zip(floats, xs, strict=True)
    ):
        raise EvaluationError("invalid_argument", "coordinate out of range")
    y = f(*floats)
    return Decimal(0) if y == 0 else Decimal(format(y, ".15g")).normalize(decimal.Context(prec=15))


def _asin(x: Any) -> Decimal:
    if x < -1 or x > 1:
        raise EvaluationError("invalid_argument", "asin of a value outside -1 .. 1")
    return _trig(math.asin, x)


_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
_P50 = decimal.Context(prec=50)


def _between(a: dt.datetime, b: dt.datetime, unit_seconds: int) -> Decimal:
    if isinstance(a, OffCalendar) or isinstance(b, OffCalendar):
        raise EvaluationError("out_of_range", "an instant past the calendar")
    d = b - a
    micro = (d.days * 86400 + d.seconds) * 10**6 + d.microseconds
    return _P50.divide(Decimal(micro), Decimal(unit_seconds * 10**6))


def _days_in(r: Range) -> list[dt.date]:
    if isinstance(r.start, OffCalendar) or isinstance(r.end, OffCalendar):
        raise EvaluationError("out_of_range", "days past the calendar")
    if (r.end - r.start).days + (0 if r.half_open else 1) > 100_000:
        raise EvaluationError("out_of_range", "too many days")
    out = []
    d = r.start
    while d < r.end or (d == r.end and not r.half_open):
        out.append(d)
        if d == dt.date.max:
            break
        d += dt.timedelta(days=1)
    return out


BUILTINS: dict[str, Callable[..., Any]] = {
    "local_date": _local_date,
    "utc_date": lambda t: _same_off(t, lambda t: t.astimezone(UTC).date()),
    "in_zone": _in_zone,
    "start_of_day": _start_of_day,
    "start_of_month": lambda d: _same_off(d, lambda d: dt.date(d.year, d.month, 1)),
    "end_of_month": lambda d: _same_off(
        d, lambda d: dt.date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])
    ),
    "weekday": lambda d: WEEKDAYS[_real_date(d).weekday()],
    "first_weekday": lambda d, name: _same_off(d, lambda d: _first_weekday(d, name)),
    "window": _window,
    "days_between": lambda a, b: (_real_date(b) - _real_date(a)).days,
    "days": lambda n: dt.timedelta(days=max(-MAX_DAYS, min(n, MAX_DAYS))),
    "money": lambda amount, cur: Money(_dec(amount), cur),
    "round": _round,
    "least": _least,
    "greatest": _greatest,
    "abs": _abs,
    "indexed": lambda xs: [{"index": i, "item": x} for i, x in enumerate(xs)],
    "flatten": lambda xss: [x for xs in xss for x in xs],
    "values": lambda m: list(m.values()),
    "floor": math.floor,
    "ceil": math.ceil,
    "round_int": lambda x: round(x),
    "sqrt": _sqrt,
    "sin": lambda x: _trig(math.sin, x),
    "cos": lambda x: _trig(math.cos, x),
    "asin": _asin,
    "atan2": lambda y, x: _trig(math.atan2, y, x),
    "pi": lambda: _P50.plus(_PI),
    "radians": lambda x: _P50.divide(_P50.multiply(Decimal(x), _P50.plus(_PI)), Decimal(180)),
    "hours": lambda n: dt.timedelta(hours=max(-MAX_DAYS, min(n, MAX_DAYS))),
    "minutes": lambda n: dt.timedelta(minutes=max(-MAX_DAYS, min(n, MAX_DAYS))),
    "hours_between": lambda a, b: _between(a, b, 3600),
    "minutes_between": lambda a, b: _between(a, b, 60),
    "days_in": _days_in,
}

# the oracle implements each form of each built-in on its own, and exactly those the catalogue
# declares: a built-in added to the language without a second implementation fails here
if set(BUILTINS) != ops():
    raise ImportError(
        "the reference interpreter's built-ins differ from the catalogue: "
        f"missing {sorted(ops() - set(BUILTINS))}, undeclared {sorted(set(BUILTINS) - ops())}"
    )


# ---- the interpreter ---------------------------------------------------------------------


class _Pending:
    """Marks a definition being evaluated (the checker rules out cycles; this guards it)."""


_PENDING = _Pending()


# operations that can meet a value of the wrong type when an operand's type is unknown
_FALLIBLE_ON_UNTYPED = (
    N.Arith,
    N.Neg,
    N.Compare,
    N.Member,
    N.Field,
    N.Index,
    N.Comp,
    N.Builtin,
    N.Call,
)

# the method that evaluates each kind of typed expression
_METHODS: dict[type, str] = {
    N.Const: "k_const",
    N.ConstMoney: "k_const_money",
    N.ConstDuration: "k_const_duration",
    N.ConstMonths: "k_const_months",
    N.Local: "k_local",
    N.Global: "k_global",
    N.InputRef: "k_input",
    N.OutputRef: "k_output",
    N.Field: "k_field",
    N.Attr: "k_attr",
    N.Index: "k_index",
    N.Builtin: "k_builtin",
    N.Call: "k_call",
    N.Arith: "k_arith",
    N.Neg: "k_neg",
    N.Compare: "k_cmp",
    N.Member: "k_in",
    N.Test: "k_test",
    N.Cast: "k_cast",
    N.Widen: "k_widen",
    N.BoolOp: "k_boolop",
    N.Not: "k_not",
    N.With: "k_with",
    N.If: "k_if",
    N.IsNull: "k_isnull",
    N.Coalesce: "k_coalesce",
    N.RangeLit: "k_range",
    N.ListLit: "k_list",
    N.RecordLit: "k_record",
    N.Reasons: "k_reasons",
    N.Pair: "k_pair",
    N.Rule: "k_rule",
    N.Decision: "k_decision",
    N.Comp: "k_comp",
}


def typed(v: Any, t: T.Type) -> Any:
    """`v` held as its static type `t` says: a whole number typed decimal as a decimal."""
    t = T.strip(t)
    if v is None:
        return None
    if t == T.DECIMAL:
        return Decimal(v) if _is_int(v) else v
    if isinstance(t, T.ListT):
        return [typed(x, t.elem) for x in v]
    if isinstance(t, T.MapT):
        return {k: typed(x, t.value) for k, x in v.items()}
    if isinstance(t, T.RangeT):
        return Range(typed(v.start, t.elem), typed(v.end, t.elem), v.half_open)
    if isinstance(t, T.RecordT):
        return {k: typed(x, t.field(k) or T.ANY) for k, x in v.items()}
    return v


def _untyped(t: T.Type) -> bool:
    t = T.strip(t)
    if t == T.ANY:
        return True
    if isinstance(t, T.ListT):
        return _untyped(t.elem)
    if isinstance(t, T.MapT):
        return _untyped(t.value)
    return False


class Interpreter:
    """Evaluates a checked `Program` on JSON input, giving the output as JSON."""

    def __init__(self, program: Program):
        self.p = program
        self.convert = build_input_converter(program.input_schema, with_paths=True)
        out_type = program.output.type if program.output is not None else None
        self.write = build_output_writer(program.output_schema, out_type)
        self.inp: Any = None
        self.memo: dict[str, Any] = {}

    # -- entry --
    def run(self, data: Any) -> Any:
        return self.write(self.value(data))

    def value(self, data: Any) -> Any:
        """The output as a run-time value (before it is written)."""
        self.inp = self.convert(data)
        self.memo = {}
        for req in self.p.requirements:
            for key in self.definitions_read(req.deps):
                self.global_(key)
            self.require(req)
        for key in self.used_definitions():
            self.global_(key)
        return self.ev(self.p.output, {}) if self.p.output is not None else None

    def used_definitions(self) -> list[str]:
        """The definitions the output or a requirement depends on (directly, through other
        definitions, or through the functions it calls), in the program's order."""
        roots = set(self.p.output_deps)
        for r in self.p.requirements:
            roots |= r.deps
        return self.definitions_read(roots)

    def definitions_read(self, roots: set[str]) -> list[str]:
        """The definitions `roots` (names of definitions and functions) read, directly or
        through others, in the program's order."""
        p = self.p
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            if k in p.definitions:
                todo.extend(p.definitions[k].deps)
            elif k in p.functions:
                todo.extend(p.functions[k].deps)
        return [k for k in p.definitions if k in seen]

    # -- requirements --
    def require(self, r: Requirement) -> None:
        def walk(i: int, env: dict[str, Any], idx: list[int]) -> None:
            if i == len(r.fors):
                if not self.ev(r.cond, env):
                    raise InputError(r.code, self.pointer(r.at, idx), r.message)
                return
            var, src, where, _path = r.fors[i]
            for n, x in enumerate(self.ev(src, env)):
                inner = {**env, var: x}
                if where is not None and not self.ev(where, inner):
                    continue
                walk(i + 1, inner, [*idx, n])

        walk(0, {}, [])

    def pointer(self, parts: tuple[Any, ...], idx: list[int]) -> str:
        out: list[str] = []

        def expand(ps: tuple[Any, ...]) -> None:
            for part in ps:
                if isinstance(part, tuple) and part[0] == "alt":
                    expand(part[2][idx[part[1]]])
                elif isinstance(part, tuple):
                    out.append(str(idx[part[1]]))
                else:
                    out.append(str(part).replace("~", "~0").replace("/", "~1"))

        expand(parts)
        return "".join("/" + p for p in out)

    # -- definitions and functions --
    def global_(self, key: str) -> Any:
        if key in self.memo:
            v = self.memo[key]
            if v is _PENDING:
                raise AssertionError(f"cyclic definition {key}")
            return v
        self.memo[key] = _PENDING
        try:
            v = self.body(self.p.definitions[key].body, {})
        except BaseException:
            del self.memo[key]
            raise
        self.memo[key] = v
        return v

    def call(self, key: str, args: list[Any]) -> Any:
        fn = self.p.functions[key]
        return self.body(fn.body, dict(zip(fn.params, args, strict=True)))

    def body(self, node: Node, env: dict[str, Any]) -> Any:
        if isinstance(node, N.Rule):
            return bool(self.ev(node.when, env))
        if isinstance(node, N.Decision):
            strategy, cases, default = node.strategy, node.cases, node.default
            if strategy == "collect":
                out = [self.ev_typed(then, env) for _rid, when, then in cases if self.ev(when, env)]
                if not out and default is not None:
                    out.append(self.ev_typed(default, env))
                return out
            for _rid, when, then in cases:
                if self.ev(when, env):
                    return self.ev_typed(then, env)
            return self.ev_typed(default, env) if default is not None else None
        return self.ev(node, env)

    # -- expressions --
    def ev(self, n: Node, env: dict[str, Any]) -> Any:
        method: Callable[[Any, dict[str, Any]], Any] = getattr(self, _METHODS[type(n)])
        if isinstance(n, _FALLIBLE_ON_UNTYPED) and any(_untyped(a.type) for a in children(n)):
            # an operand the schema leaves untyped may not fit the operation: `type_mismatch`
            # (the assertions below hold for the operand types the checker lets through, which
            # an untyped value need not be)
            try:
                return method(n, env)
            except (
                TypeError,
                KeyError,
                AttributeError,
                ValueError,
                IndexError,
                ArithmeticError,
                AssertionError,
            ):
                raise EvaluationError("type_mismatch", "an untyped value") from None
        return method(n, env)

    def ev_typed(self, n: N.Node, env: dict[str, Any]) -> Any:
        """`n`'s value held as its static type says (where it is joined with other values)."""
        return typed(self.ev(n, env), n.type)

    def k_const(self, n: N.Const, env: dict[str, Any]) -> Any:
        return n.value

    def k_const_money(self, n: N.ConstMoney, env: dict[str, Any]) -> Any:
        return Money(n.amount, n.currency)

    def k_const_duration(self, n: N.ConstDuration, env: dict[str, Any]) -> Any:
        count, unit = n.count, n.unit
        return dt.timedelta(**{unit: count})

    def k_const_months(self, n: N.ConstMonths, env: dict[str, Any]) -> Any:
        return Months(n.count)

    def k_local(self, n: N.Local, env: dict[str, Any]) -> Any:
        return env[n.name]

    def k_global(self, n: N.Global, env: dict[str, Any]) -> Any:
        return self.global_(n.key)

    def k_input(self, n: N.InputRef, env: dict[str, Any]) -> Any:
        return self.inp

    def k_output(self, n: N.OutputRef, env: dict[str, Any]) -> Any:
        raise NotImplementedError("`output` is only readable in invariants")

    def k_field(self, n: N.Field, env: dict[str, Any]) -> Any:
        return self.ev(n.obj, env)[n.name]

    def k_attr(self, n: N.Attr, env: dict[str, Any]) -> Any:
        return getattr(self.ev(n.obj, env), n.name)

    def k_index(self, n: N.Index, env: dict[str, Any]) -> Any:
        xs = self.ev(n.obj, env)
        i = self.ev(n.index, env)
        if isinstance(xs, dict):
            return xs.get(i)
        if i < 0:
            i += len(xs)
        return xs[i] if 0 <= i < len(xs) else None

    def k_builtin(self, n: N.Builtin, env: dict[str, Any]) -> Any:
        name, args = n.name, n.args
        if name in ("least", "greatest"):
            return BUILTINS[name](*(self.ev_typed(a, env) for a in args))
        return BUILTINS[name](*(self.ev(a, env) for a in args))

    def k_call(self, n: N.Call, env: dict[str, Any]) -> Any:
        key, args = n.key, n.args
        return self.call(key, [self.ev(a, env) for a in args])

    def k_arith(self, n: N.Arith, env: dict[str, Any]) -> Any:
        op, a, b, mode = n.op, n.left, n.right, n.mode
        if mode in ("any", "list_concat"):
            value = arith(op, self.ev_typed(a, env), self.ev_typed(b, env))
        else:
            value = arith(op, self.ev(a, env), self.ev(b, env))
        if mode == "dec" and _is_int(value):
            value = Decimal(value)  # the checker typed it decimal: 0 * 1 where 0 is `least(0, 0.9)`
        return value

    def k_neg(self, n: N.Neg, env: dict[str, Any]) -> Any:
        return negate(self.ev(n.operand, env))

    def k_cmp(self, n: N.Compare, env: dict[str, Any]) -> Any:
        op, a, b = n.op, n.left, n.right
        return compare(op, self.ev(a, env), self.ev(b, env))

    def k_in(self, n: N.Member, env: dict[str, Any]) -> Any:
        a, b, negated = n.item, n.container, n.negated
        x = self.ev(a, env)
        c = self.ev(b, env)
        if isinstance(c, Range):
            found = in_range(x, c)
        elif isinstance(c, dict):
            found = x in c
        else:
            found = any(equal(x, y) for y in c)
        return not found if negated else found

    def k_test(self, n: N.Test, env: dict[str, Any]) -> Any:
        return self.ev(n.operand, env)

    def k_cast(self, n: N.Cast, env: dict[str, Any]) -> Any:
        # an untyped value where a typed one is expected (a condition, a typed parameter)
        v = self.ev(n.operand, env)
        if not _is_of(v, n.type):
            raise EvaluationError("type_mismatch", f"an untyped value is not a {n.type}")
        return v

    def k_widen(self, n: N.Widen, env: dict[str, Any]) -> Any:
        # a typed value whose type becomes unknown: held as its own type says
        return self.ev_typed(n.operand, env)

    def k_boolop(self, n: N.BoolOp, env: dict[str, Any]) -> Any:
        if n.op == "and":
            return all(self.ev(x, env) for x in n.operands)
        return any(self.ev(x, env) for x in n.operands)

    def k_not(self, n: N.Not, env: dict[str, Any]) -> Any:
        return not self.ev(n.operand, env)

    def k_with(self, n: N.With, env: dict[str, Any]) -> Any:
        name, value, body = n.name, n.value, n.body
        return self.ev(body, {**env, name: self.ev(value, env)})

    def k_if(self, n: N.If, env: dict[str, Any]) -> Any:
        c, t, e = n.cond, n.then, n.orelse
        return self.ev_typed(t, env) if self.ev(c, env) else self.ev_typed(e, env)

    def k_isnull(self, n: N.IsNull, env: dict[str, Any]) -> Any:
        x, negated = n.operand, n.negated
        return (self.ev(x, env) is None) != negated

    def k_coalesce(self, n: N.Coalesce, env: dict[str, Any]) -> Any:
        a, b = n.left, n.right
        v = self.ev_typed(a, env)
        return self.ev_typed(b, env) if v is None else v

    def k_range(self, n: N.RangeLit, env: dict[str, Any]) -> Any:
        a, b, half = n.low, n.high, n.half_open
        return Range(self.ev_typed(a, env), self.ev_typed(b, env), half)

    def k_list(self, n: N.ListLit, env: dict[str, Any]) -> Any:
        items = [self.ev_typed(x, env) for x in n.items]
        if isinstance(n.type, T.ListT) and n.type.elem == T.DECIMAL:
            # the checker typed the items decimal: `[0.5, 0]` holds the decimal 0
            items = [Decimal(x) if _is_int(x) else x for x in items]
        return items

    def k_record(self, n: N.RecordLit, env: dict[str, Any]) -> Any:
        return {k: self.ev(v, env) for k, v in n.fields}

    def k_reasons(self, n: N.Reasons, env: dict[str, Any]) -> Any:
        """`reasons(d)`: `{code, reason}` of the rules of `d` that apply (the first only, unless
        `d` collects), each reason's `{...}` placeholders replaced by their values as shown (a value the output
        writes as a rate or money with the output's places)."""
        from clausewise.engine.explain import placeholder_places, render_reason

        strategy, rules = n.strategy, n.rules
        out = []
        for rid, when in rules:
            if not self.ev(when, env):
                continue
            m = self.p.rules[rid]
            values = tuple(self.ev(ph, env) for ph in m.placeholders)
            shown = render_reason(m.reason, values, placeholder_places(self.p, rid))
            out.append({"code": m.name, "reason": shown})
            if strategy != "collect":
                break
        return out

    def k_pair(self, n: N.Pair, env: dict[str, Any]) -> Any:
        return (self.ev(n.key, env), self.ev(n.value, env))

    def k_rule(self, n: N.Rule, env: dict[str, Any]) -> Any:
        return self.body(n, env)

    def k_decision(self, n: N.Decision, env: dict[str, Any]) -> Any:
        return self.body(n, env)

    def k_comp(self, n: N.Comp, env: dict[str, Any]) -> Any:
        agg, var, src, where, elem = n.agg, n.var, n.source, n.where, n.elem
        order_by, desc, by, mode = n.order, n.desc, n.by, n.mode
        items = list(self.ev(src, env))

        def bind(x: Any) -> dict[str, Any]:
            return {**env, var: x}

        def keep(x: Any) -> bool:
            return where is None or bool(self.ev(where, bind(x)))

        def val(x: Any) -> Any:
            return self.ev(elem, bind(x))

        if order_by is not None:
            chosen = [x for x in items if keep(x)]
            keys = [self.ev(order_by, bind(x)) for x in chosen]
            pairs = sorted(
                zip(keys, chosen, strict=True),
                key=functools.cmp_to_key(lambda p, q: order(p[0], q[0])),  # type: ignore[index]
                reverse=desc,
            )
            items, where = [x for _k, x in pairs], None

        # aggregates that can stop early
        if agg == "first":
            for x in items:
                if keep(x):
                    return val(x)
            return None
        if agg == "any":
            return any(keep(x) and (mode != "pred" or val(x)) for x in items)
        if agg == "all":
            return all(val(x) for x in items if keep(x))

        chosen = [x for x in items if keep(x)]
        if agg == "last":
            return val(chosen[-1]) if chosen else None
        if agg == "count":
            if mode == "pred":
                return sum(1 for x in chosen if val(x))
            return len(chosen)
        if agg == "list":
            return [val(x) for x in chosen]
        if agg == "map":
            out: dict[Any, Any] = {}
            for x in chosen:
                k, v = val(x)
                out[k] = v
            return out
        if agg == "sum":
            vals = [val(x) for x in chosen]
            if mode == "money":
                if not vals:
                    return None
                total = vals[0]
                for v in vals[1:]:
                    total = arith("+", total, v)
                return total
            total_n: Any = 0 if elem.type == T.INT else Decimal(0)
            for v in vals:
                total_n = arith("+", total_n, v)
            return total_n
        if agg in ("min", "max"):
            vals = [val(x) for x in chosen]
            if not vals:
                return None
            return _least(*vals) if agg == "min" else _greatest(*vals)
        if agg in ("distinct", "group"):
            keys_: list[Any] = []
            groups: list[list[Any]] = []
            for x in chosen:
                v = val(x)
                k = self.ev(by, bind(x)) if by is not None else v
                for i, seen in enumerate(keys_):
                    if same_key(seen, k):
                        groups[i].append(v)
                        break
                else:
                    keys_.append(k)
                    groups.append([v])
            if agg == "distinct":
                return [g[0] for g in groups]
            return [{"key": k, "items": g} for k, g in zip(keys_, groups, strict=True)]
        if agg == "running_sum":
            out_l = []
            running: Any = None
            for x in chosen:
                v = val(x)
                running = v if running is None else arith("+", running, v)
                out_l.append({"item": x, "total": running})
            return out_l
        if agg == "unique":
            # pairwise, as a reader would check it (the engine hashes); like `all`, it stops at
            # the first value that decides it (one seen before)
            vals: list[Any] = []
            for x in chosen:
                v = val(x)
                if any(same_key(seen_v, v) for seen_v in vals):
                    return False
                vals.append(v)
            return True
        if agg == "pairs":
            vals = [val(x) for x in chosen]
            return [{"item": vals[i], "next": vals[i + 1]} for i in range(len(vals) - 1)]
        raise NotImplementedError(agg)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """`("ok", value)` or `("error", (class name, code, path))` of calling `fn`."""
    try:
        return ("ok", fn())
    except (InputError, EvaluationError) as e:
        # a currency mismatch is an evaluation error of the policy, whatever raised it
        name = "EvaluationError" if isinstance(e, EvaluationError) else type(e).__name__
        return ("error", (name, e.code, e.path))
    except Exception as e:  # an internal error: compared by class only
        return ("error", (type(e).__name__, None, None))
