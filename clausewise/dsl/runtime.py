"""Run-time values and the standard library that compiled policies call.

Everything here is pure and immutable: compiled policies share it across threads.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import decimal
import math
import operator
import re
from decimal import Decimal
from typing import Any

from . import types as T
from .functions import WEEKDAYS, implementations
from .zones import to_zone

# Explicit contexts for all decimal arithmetic, so a host's own decimal settings never change a
# decision. Sums, differences and products are exact (unbounded precision: input decimals carry
# no exponent, so their digits are bounded by the input's size); division (rates) rounds
# half-even at the 50th digit, far below any rounding the output applies.
CTX = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
DIV_CTX = decimal.Context(
    prec=50,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
# RFC 3339 date-times as the language reads them: `T` between date and time, seconds and up to
# six digits of fraction optional, and an offset of `Z` or `+HH:MM`/`-HH:MM` with hours 00-23 and
# minutes 00-59 (`datetime.fromisoformat` alone also takes `+05:99`, read as +06:39, and forms
# RFC 3339 does not have: `+0530`, `+05:30:15`, a space for `T`).
_LOCAL_TEXT = r"\d\d\d\d-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?"
DATETIME_TEXT = _LOCAL_TEXT + r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
DATETIME_RE = re.compile(DATETIME_TEXT, re.ASCII)
_LOCAL_DATETIME_RE = re.compile(_LOCAL_TEXT, re.ASCII)


def parse_datetime(text: str, offset: str = "required") -> dt.datetime:
    """An RFC 3339 date-time (see `DATETIME_TEXT`); `ValueError` when `text` is not one. With
    `offset="optional"` a time without offset is accepted too, and returned naive."""
    if not (
        DATETIME_RE.fullmatch(text) or (offset == "optional" and _LOCAL_DATETIME_RE.fullmatch(text))
    ):
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    return dt.datetime.fromisoformat(text)


D0 = Decimal(0)
CENT = Decimal("0.01")
UTC = dt.UTC


class DecisionError(Exception):
    """Base of the errors a decision can raise."""

    code: str = "error"
    path: str = ""


class InputError(DecisionError):
    """Bad input: no decision is made. `code` is stable, `path` is the JSON pointer of the field."""

    def __init__(self, code: str, path: str, message: str):
        self.code = code
        self.path = path
        self.message = message
        super().__init__(f"{code} at {path or '/'}: {message}")

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "message": self.message}


# Every code an `EvaluationError` carries, with what it means (docs/errors.md lists the same):
# each operation of the language yields a value or fails with one of these.
EVALUATION_ERRORS: dict[str, str] = {
    "division_by_zero": "a number or an amount was divided by zero",
    "date_out_of_range": "an operation needs a calendar date or instant, and its argument lies "
    "off the calendar (before 0001-01-01 or after 9999-12-31, from date arithmetic that left it)",
    "duration_out_of_range": "a duration grew past what can be held (999,999,999 days), e.g. "
    "`n * 1 day` with a huge `n`",
    "number_out_of_range": "a number grew past what can be held or written (an integer of more "
    "than 4,000 digits, a decimal exponent out of bounds)",
    "type_mismatch": "a value of an untyped input field does not have the type the operation "
    "needs (`input.x + 1` when `x` is a string)",
    "cost_limit_exceeded": "the evaluation took more steps, or built more list items, than its "
    "budget allows",
    "currency_mismatch": "two amounts in different currencies were added, subtracted, divided "
    "or compared (the input rules let the currencies differ, or the policy mixes an amount with "
    "a constant in another currency); the message names both amounts",
    "internal_error": "the engine failed unexpectedly; the location names the policy text it was "
    "evaluating",
}


class EvaluationError(DecisionError):
    """The policy itself failed on this input (e.g. division by zero): a bug in the policy.

    `code` is one of `EVALUATION_ERRORS`; `location` is `file:line:col` of the policy text that
    failed, when known."""

    def __init__(self, code: str, message: str, location: str = ""):
        self.code = code
        self.path = ""
        self.message = message
        self.location = location
        super().__init__(f"{code}: {message}" + (f" ({location})" if location else ""))

    def to_json(self) -> dict[str, str]:
        return {
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "location": self.location,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class EvaluationBudget:
    """What one evaluation may spend before it stops with `cost_limit_exceeded`.

    `max_steps`: elements visited by the passes over lists (comprehensions, aggregates,
    requirements' `for`, membership tests in a list), each pass charged its length before it
    starts; `max_items`: elements of the lists an evaluation builds (comprehensions that
    produce a list or map, `flatten`, `indexed`, `values`, `order by`). The defaults are far
    above what the shipped policies spend on their largest inputs (docs/language.md, "Cost").
    """

    max_steps: int = 4_000_000
    max_items: int = 2_000_000


DEFAULT_BUDGET = EvaluationBudget()


class CostMeter:
    """The budget left to one evaluation. Generated code charges it once per pass over a list,
    before the pass: a pass that would go past the budget does not start."""

    __slots__ = ("budget", "items_left", "steps_left")

    def __init__(self, budget: EvaluationBudget):
        self.budget = budget
        self.steps_left = budget.max_steps
        self.items_left = budget.max_items

    def iterate(self, xs: Any) -> Any:
        """`xs`, charged its length in steps."""
        left = self.steps_left - len(xs)
        self.steps_left = left
        if left < 0:
            self._exceeded()
        return xs

    def materialise(self, xs: Any) -> Any:
        """`xs`, charged its length in steps and in items (a list as long is built from it)."""
        n = len(xs)
        self.steps_left -= n
        self.items_left -= n
        if self.steps_left < 0 or self.items_left < 0:
            self._exceeded()
        return xs

    def flatten(self, xss: Any) -> list[Any]:
        """`flatten(xss)`, charged before the flat list is built."""
        self.iterate(xss)
        total = 0
        for xs in xss:
            total += len(xs)
        self.steps_left -= total
        self.items_left -= total
        if self.steps_left < 0 or self.items_left < 0:
            self._exceeded()
        return flatten(xss)

    def spent(self) -> tuple[int, int]:
        """(steps, items) charged so far."""
        return (
            self.budget.max_steps - self.steps_left,
            self.budget.max_items - self.items_left,
        )

    def _exceeded(self) -> None:
        steps, items = self.spent()
        which = (
            f"{items:,} list items (limit {self.budget.max_items:,})"
            if self.items_left < 0
            else f"{steps:,} steps (limit {self.budget.max_steps:,})"
        )
        raise EvaluationError(
            "cost_limit_exceeded", f"the evaluation would take more than its budget: {which}"
        )


def pointer(parts: Any) -> str:
    """A JSON pointer from a linked path `(parent, key)` or a tuple of parts."""
    out: list[str] = []
    while (
        isinstance(parts, tuple)
        and len(parts) == 2
        and (isinstance(parts[0], tuple) or parts[0] is None)
    ):
        parts, key = parts
        if parts is None and key == "$":
            break  # the document root
        out.append(str(key).replace("~", "~0").replace("/", "~1"))
    return "".join("/" + p for p in reversed(out))


class TracedRecord(dict[str, Any]):
    """An input record in a traced decision: a dict that also knows its JSON path, so the
    explanation can say `launches[2]`. The path takes no part in equality."""

    __slots__ = ("path",)
    path: Any


def traced(d: dict[str, Any], path: Any) -> TracedRecord:
    r = TracedRecord(d)
    r.path = path
    return r


class CurrencyError(EvaluationError):
    """Two amounts in different currencies were added, subtracted, divided or compared: a bug
    of the policy, whose input rules (`require`) let the currencies differ. The message names
    both amounts, with the JSON path of an input amount's currency field."""

    def __init__(self, a: Money, b: Money, verb: str = "mix"):
        self.a, self.b = a, b
        super().__init__("currency_mismatch", f"cannot {verb} {_amount(a)} and {_amount(b)}")


def _amount(m: Money) -> str:
    where = m.path
    # an input amount keeps the linked path of its currency field; the JSON pointer is only
    # written out here, when it is needed
    where = where if isinstance(where, str) else pointer(where) if where else ""
    return f"{m.amount} {m.currency}" + (f" (input {where})" if where else "")


class Money:
    """An exact amount in a currency. Mixing currencies raises `CurrencyError`."""

    __slots__ = ("amount", "currency", "path")

    def __init__(self, amount: Decimal, currency: str, path: Any = None):
        self.amount = amount
        self.currency = currency
        self.path = path

    def _same(self, other: Money, verb: str = "compare") -> None:
        if other.currency != self.currency:
            raise CurrencyError(self, other, verb)

    def __add__(self, other: Money) -> Money:
        self._same(other, "add")
        return Money(CTX.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other, "subtract")
        return Money(CTX.subtract(self.amount, other.amount), self.currency)

    def __mul__(self, k: Decimal | int) -> Money:
        return Money(CTX.multiply(self.amount, Decimal(k)), self.currency)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        if isinstance(other, Money):
            self._same(other, "divide")
            return divide(self.amount, other.amount)
        return Money(divide(self.amount, other), self.currency)

    def __neg__(self) -> Money:
        return Money(self.amount.copy_negate(), self.currency)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return self.amount == other.amount

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __hash__(self) -> int:
        return hash((self.amount, self.currency))

    def __repr__(self) -> str:
        return f"{self.amount} {self.currency}"


class Months:
    """A number of calendar months; adding it to a date clamps to the month's last day."""

    __slots__ = ("n",)

    def __init__(self, n: int):
        self.n = n

    def __radd__(self, d: dt.date) -> dt.date:
        return add_months(d, self.n)

    def __rsub__(self, d: dt.date) -> dt.date:
        return add_months(d, -self.n)

    def __mul__(self, k: int) -> Months:
        return Months(self.n * k)

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Months) and other.n == self.n

    def __hash__(self) -> int:
        return hash(("months", self.n))

    def __repr__(self) -> str:
        return f"{self.n} months"


class Range:
    """`start .. end` (inclusive) or `start ..< end`."""

    __slots__ = ("end", "half_open", "start")

    def __init__(self, start: Any, end: Any, half_open: bool = False):
        self.start = start
        self.end = end
        self.half_open = half_open

    def __contains__(self, x: Any) -> bool:
        if self.half_open:
            return bool(self.start <= x < self.end)
        return bool(self.start <= x <= self.end)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and (self.start, self.end, self.half_open) == (
            other.start,
            other.end,
            other.half_open,
        )

    def __hash__(self) -> int:
        return hash((self.start, self.end, self.half_open))

    def __repr__(self) -> str:
        return f"{self.start} {'..<' if self.half_open else '..'} {self.end}"


def index_or_none(xs: Any, i: Any) -> Any:
    """`xs[i]`: a map's value (null when absent), or a list's item (null past its ends)."""
    if isinstance(xs, dict):
        return xs.get(i)
    return xs[i] if -len(xs) <= i < len(xs) else None


def dynamic_arith(op: str, a: Any, b: Any) -> Any:
    """Arithmetic on a value of unknown type (an untyped input field): by the run-time types."""
    if op == "/":
        return a / b if isinstance(a, Money) else divide(a, b)
    if (isinstance(a, Decimal) or isinstance(b, Decimal)) and not (
        isinstance(a, Money) or isinstance(b, Money)
    ):
        # exact, whatever the host's decimal context
        return {"+": CTX.add, "-": CTX.subtract, "*": CTX.multiply}[op](a, b)
    # the operators (not `a.__add__(b)`), so that `2 * money` and `2 + decimal` reach the
    # reflected method instead of returning NotImplemented as a value
    return {"+": operator.add, "-": operator.sub, "*": operator.mul}[op](a, b)


def divide(a: Any, b: Any) -> Decimal:
    if b == 0:
        raise EvaluationError("division_by_zero", "division by zero")
    try:
        return DIV_CTX.divide(Decimal(a), Decimal(b))
    except decimal.Overflow:
        raise EvaluationError("number_out_of_range", f"{a} / {b} is too large to hold") from None


def _off_calendar_near(t: dt.date) -> OffCalendar:
    """The bound a result past the calendar's edge near `t` falls to (a time-zone shift or a
    month step overflows only within days or months of an edge)."""
    return OffCalendar(t.year > 5000)


def local_date(t: Any, z: Any) -> Any:
    """The calendar date of instant `t` in zone `z` (off the calendar when it falls past it)."""
    if t.__class__ is OffCalendar:
        return t
    try:
        return t.astimezone(to_zone(z)).date()
    except OverflowError:
        return _off_calendar_near(t)


def in_zone(t: dt.datetime, z: Any) -> Any:
    """A wall-clock time in zone `z` as an instant (UTC); off the calendar when it falls past it.

    As in java.time and RFC 5545: a time that does not exist (in the gap when clocks move
    forward) is read with the offset before the gap, so it lands as much later as the gap is
    long (02:30 becomes 03:30 when 02:00 jumps to 03:00); a time that occurs twice (when clocks
    move back) is the earlier of the two. See docs/language.md, "Time zones"."""
    try:
        return t.replace(tzinfo=to_zone(z)).astimezone(UTC)
    except OverflowError:
        return _off_calendar_near(t)


def start_of_day(d: Any, z: Any) -> Any:
    """The instant day `d` begins in zone `z` (UTC); off the calendar when it falls past it."""
    if d.__class__ is OffCalendar:
        return d
    try:
        return dt.datetime(d.year, d.month, d.day, tzinfo=to_zone(z)).astimezone(UTC)
    except OverflowError:
        return _off_calendar_near(d)


def utc_date(t: Any) -> Any:
    if t.__class__ is OffCalendar:
        return t
    return t.astimezone(UTC).date()


# A date off the calendar stays off it at the start or end of its month: the month of a date
# after 9999-12-31 starts after it, that of a date before 0001-01-01 ends before it.
def start_of_month(d: Any) -> Any:
    if d.__class__ is OffCalendar:
        return d
    return d.replace(day=1)


def end_of_month(d: Any) -> Any:
    if d.__class__ is OffCalendar:
        return d
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def add_months(d: Any, n: int) -> Any:
    """`d` moved by `n` calendar months, clamped to the month's last day; off the calendar
    (an `OffCalendar` bound) when it leaves years 1-9999."""
    if d.__class__ is OffCalendar:
        return d
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    if not dt.MINYEAR <= y <= dt.MAXYEAR:
        return OffCalendar(y > dt.MAXYEAR)
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _calendar_date(d: Any, what: str) -> dt.date:
    """`d` itself, which `what` needs as a real date: an off-calendar bound fails."""
    if d.__class__ is OffCalendar:
        raise EvaluationError(
            "date_out_of_range", f"{what} needs a date of years 1-9999, not one {d!r}"
        )
    return d


def weekday(d: Any) -> str:
    return WEEKDAYS[_calendar_date(d, "weekday").weekday()]


def first_weekday(d: Any, name: str) -> Any:
    """The first `name`day of the month `d` is in (off the calendar when `d` is: see
    `start_of_month`)."""
    if d.__class__ is OffCalendar:
        return d
    first = d.replace(day=1)
    return first + dt.timedelta(days=(WEEKDAYS.index(name) - first.weekday()) % 7)


def window(end: Any, length: dt.timedelta) -> Range:
    """The `length` days ending on `end`, both ends included. A window reaching before
    0001-01-01 starts at the calendar's lower bound (it holds every date up to `end`)."""
    if end.__class__ is OffCalendar:
        return Range(end, end)
    back = length.days - 1
    if back >= MAX_DAYS:
        return Range(OffCalendar(False), end)
    # a negative length gives an empty window (its start after its end)
    back = max(back, -MAX_DAYS)
    return Range(shift(end, "-", dt.timedelta(days=back)), end)


def days_between(a: Any, b: Any) -> int:
    return (_calendar_date(b, "days_between") - _calendar_date(a, "days_between")).days


# More days than the calendar (years 1-9999) spans: a longer duration moves any date off it.
MAX_DAYS = 999_999_999


def scale_duration(a: Any, b: Any) -> dt.timedelta:
    """`a * b`, a duration times a whole number (either way round)."""
    try:
        return a * b
    except OverflowError:
        raise EvaluationError(
            "duration_out_of_range",
            f"{_count(a)} x {_count(b)} is longer than a duration can be (999,999,999 days)",
        ) from None


def add_durations(a: dt.timedelta, op: str, b: dt.timedelta) -> dt.timedelta:
    """`a + b` or `a - b` of two durations."""
    try:
        return a + b if op == "+" else a - b
    except OverflowError:
        raise EvaluationError(
            "duration_out_of_range",
            f"{a.days} days {op} {b.days} days is longer than a duration can be (999,999,999 days)",
        ) from None


def negate_duration(a: dt.timedelta) -> dt.timedelta:
    try:
        return -a
    except OverflowError:
        raise EvaluationError(
            "duration_out_of_range", "the duration is too long to negate"
        ) from None


def _count(x: Any) -> str:
    if isinstance(x, dt.timedelta):
        return f"{x.days} days" if not x.seconds else str(x)
    text = str(x) if isinstance(x, int) and abs(x) < 10**40 else "a huge number"
    return text


def days(n: int) -> dt.timedelta:
    """`n` days; counts beyond the calendar's span saturate (the result is off the calendar anyway)."""
    return dt.timedelta(days=max(-MAX_DAYS, min(n, MAX_DAYS)))


class OffCalendar:
    """A date or instant past the end of the calendar (after 9999-12-31, or before 0001-01-01
    when `later` is false), from date arithmetic that leaves it, e.g. `created_at + days(n)` with
    a huge `n`. It compares after (before) every date and instant, so windows ending there
    contain everything after their start; it cannot be written out or used as a date."""

    __slots__ = ("later",)

    def __init__(self, later: bool):
        self.later = later

    def _key(self, other: Any) -> tuple[int, int]:
        mine = 1 if self.later else -1
        return mine, (1 if other.later else -1) if isinstance(other, OffCalendar) else 0

    def __lt__(self, other: Any) -> bool:
        a, b = self._key(other)
        return a < b

    def __le__(self, other: Any) -> bool:
        a, b = self._key(other)
        return a <= b

    def __gt__(self, other: Any) -> bool:
        a, b = self._key(other)
        return a > b

    def __ge__(self, other: Any) -> bool:
        a, b = self._key(other)
        return a >= b

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OffCalendar) and other.later == self.later

    def __hash__(self) -> int:
        return hash(("off-calendar", self.later))

    def __add__(self, other: Any) -> OffCalendar:
        return self

    __radd__ = __add__
    __sub__ = __add__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        where = "after 9999-12-31" if self.later else "before 0001-01-01"
        raise EvaluationError("date_out_of_range", f"a date {where} cannot be used or written")

    def __repr__(self) -> str:
        return "after 9999-12-31" if self.later else "before 0001-01-01"


def shift(a: Any, op: str, b: dt.timedelta) -> Any:
    """`a + b` or `a - b` for a date or instant; off the calendar, an `OffCalendar` bound."""
    try:
        return a + b if op == "+" else a - b
    except OverflowError:
        return OffCalendar((b > dt.timedelta(0)) == (op == "+"))


def untyped(compute: Any, location: str) -> Any:
    """`compute()`, an operation on a value whose type the input schema leaves open; a value
    of the wrong type for it fails with `type_mismatch` instead of a Python exception."""
    try:
        return compute()
    except (TypeError, KeyError, AttributeError, ValueError, IndexError, ArithmeticError) as e:
        raise EvaluationError(
            "type_mismatch",
            f"an untyped value does not fit the operation ({type(e).__name__}: {e})",
            location,
        ) from None


def fits(value: Any, t: T.Type) -> bool:
    """Whether `value` is a value of type `t` (the items of a list and the values of a map
    too; a record is an object, its fields are checked where they are read)."""
    if isinstance(t, T.OptT):
        return value is None or fits(value, t.inner)
    if isinstance(t, T.ListT):
        return isinstance(value, list | tuple) and all(fits(x, t.elem) for x in value)
    if isinstance(t, T.MapT):
        return isinstance(value, dict) and all(fits(x, t.value) for x in value.values())
    if isinstance(t, T.RecordT):
        return isinstance(value, dict)
    if isinstance(t, T.RangeT):
        return isinstance(value, Range)
    if isinstance(t, T.EnumT):
        return isinstance(value, str)
    check = _FITS.get(t.name)
    return True if check is None else check(value)


_FITS: dict[str, Any] = {
    "bool": lambda v: v is True or v is False,
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    # a number of an untyped field may be held as a float (JSON's number)
    "decimal": lambda v: isinstance(v, Decimal | int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "date": lambda v: type(v) is dt.date or isinstance(v, OffCalendar),
    "datetime": lambda v: isinstance(v, dt.datetime | OffCalendar),
    "local_datetime": lambda v: isinstance(v, dt.datetime | OffCalendar),
    "money": lambda v: isinstance(v, Money),
    "duration": lambda v: isinstance(v, dt.timedelta),
    "months": lambda v: isinstance(v, Months),
    "null": lambda v: v is None,
}


def cast(value: Any, t: T.Type, location: str) -> Any:
    """`value`, a value of unknown type (an input field the schema leaves untyped), where a
    value of type `t` is expected (a condition, a typed parameter); one of another type fails
    with `type_mismatch` there."""
    if fits(value, t):
        return value
    raise EvaluationError(
        "type_mismatch",
        f"an untyped value is used as {t} but holds {describe_kind(value)}",
        location,
    )


def widened(value: Any, t: T.Type) -> Any:
    """`value`, of type `t`, in the form a value of unknown type takes: each decimal a
    `Decimal` (one that is a whole number may be held as an `int` while its type is known)."""
    if value is None:
        return None
    t = T.strip(t)
    if t == T.DECIMAL:
        return Decimal(value) if value.__class__ is int else value
    if isinstance(t, T.ListT):
        return [widened(x, t.elem) for x in value]
    if isinstance(t, T.MapT):
        return {k: widened(x, t.value) for k, x in value.items()}
    if isinstance(t, T.RecordT) and isinstance(value, dict):
        changed = {}
        for k, ft in t.fields:
            if k in value:
                x = value[k]
                w = widened(x, ft)
                if w is not x:
                    changed[k] = w
        if not changed:
            return value
        out = dict(value)
        out.update(changed)
        return out
    return value


def cast_bool(value: Any, location: str) -> bool:
    """`value` used as a condition: a boolean, else `type_mismatch` there."""
    if value is True or value is False:
        return value
    raise EvaluationError(
        "type_mismatch",
        f"an untyped value is used as a condition but holds {describe_kind(value)}",
        location,
    )


def describe_kind(value: Any) -> str:
    """The kind of a value, in the language's words."""
    for name, check in _FITS.items():
        if name != "local_datetime" and check(value):
            return "null" if name == "null" else f"a {name}" if name != "int" else "an int"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def untyped_list(value: Any, location: str) -> Any:
    """`value` when it is a list; a value the schema leaves untyped that is not one fails with
    `type_mismatch` where the policy iterates it."""
    if isinstance(value, list | tuple):
        return value
    raise EvaluationError(
        "type_mismatch", f"an untyped value is iterated but holds {type(value).__name__}", location
    )


def money(amount: Any, currency: str) -> Money:
    return Money(Decimal(amount), currency)


def round_half_even(x: Any, places: int) -> Any:
    q = Decimal(1).scaleb(-places)
    if isinstance(x, Money):
        return Money(
            x.amount.quantize(q, rounding=decimal.ROUND_HALF_EVEN, context=CTX), x.currency
        )
    return Decimal(x).quantize(q, rounding=decimal.ROUND_HALF_EVEN, context=CTX)


def round_to(x: Any, q: Decimal) -> Any:
    """`x` rounded half-even to the exponent of `q` (e.g. Decimal("0.01"))."""
    if x.__class__ is Money:
        return Money(
            x.amount.quantize(q, rounding=decimal.ROUND_HALF_EVEN, context=CTX), x.currency
        )
    if x.__class__ is not Decimal:
        x = Decimal(x)
    return x.quantize(q, rounding=decimal.ROUND_HALF_EVEN, context=CTX)


def negate(x: Any) -> Any:
    """`-x`; exact for decimals (`-d` rounds to the host's decimal context, 28 digits by default)."""
    return x.copy_negate() if x.__class__ is Decimal else -x


def absolute(x: Any) -> Any:
    """`abs(x)`; exact for decimals (`abs(d)` rounds to the host's decimal context)."""
    return x.copy_abs() if x.__class__ is Decimal else abs(x)


def least(*xs: Any) -> Any:
    return min(xs)


def greatest(*xs: Any) -> Any:
    return max(xs)


def sum_money(xs: list[Money]) -> Money | None:
    if not xs:
        return None
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


def sum_decimal(xs: Any) -> Decimal:
    total = D0
    for x in xs:
        total = CTX.add(total, x)
    return total


def value_key(x: Any) -> Any:
    """A hashable stand-in for a value used as a `distinct` or `group` key: records and lists
    (which are not hashable) by their contents, amounts by amount and currency."""
    if isinstance(x, dict):
        return ("record", tuple(sorted((k, value_key(v)) for k, v in x.items())))
    if isinstance(x, list):
        return ("list", tuple(value_key(v) for v in x))
    if isinstance(x, Money):
        return ("money", x.amount, x.currency)
    return x


def distinct(pairs: Any) -> list[Any]:
    """The values of `(key, value)` pairs, keeping the first value of each key."""
    pairs = pairs if isinstance(pairs, list) else list(pairs)
    seen: dict[Any, Any] = {}
    try:
        for k, v in pairs:
            if k not in seen:
                seen[k] = v
    except TypeError:  # a record or list key
        seen = {}
        for k, v in pairs:
            seen.setdefault(value_key(k), v)
    return list(seen.values())


def distinct_values(xs: list[Any]) -> list[Any]:
    """The first occurrence of each value."""
    try:
        return list(dict.fromkeys(xs))
    except TypeError:  # records or lists
        return distinct([(x, x) for x in xs])


def group(pairs: Any) -> list[dict[str, Any]]:
    """`(key, value)` pairs grouped by key, keys in order of first appearance."""
    pairs = pairs if isinstance(pairs, list) else list(pairs)
    return group_keys([k for k, _ in pairs], [v for _, v in pairs])


def group_keys(keys: list[Any], items: list[Any]) -> list[dict[str, Any]]:
    """`items` grouped by `keys` (one key per item, in step), keys in order of first appearance."""
    groups: dict[Any, list[Any]] = {}
    try:
        for k, v in zip(keys, items, strict=True):
            members = groups.get(k)
            if members is None:
                groups[k] = [v]
            else:
                members.append(v)
        return [{"key": k, "items": v} for k, v in groups.items()]
    except TypeError:  # a record or list key: group by value, keeping the first key of each
        first: dict[Any, Any] = {}
        by_value: dict[Any, list[Any]] = {}
        for k, v in zip(keys, items, strict=True):
            vk = value_key(k)
            first.setdefault(vk, k)
            by_value.setdefault(vk, []).append(v)
        return [{"key": first[vk], "items": v} for vk, v in by_value.items()]


def first_match(xs: Any, test: Any) -> list[Any]:
    """`[x]` for the first `x` that passes `test`, or `[]`; the rest are not looked at."""
    for x in xs:
        if test(x):
            return [x]
    return []


def all_until(xs: Any, test: Any, value: Any) -> tuple[list[Any], bool]:
    """`all(value(x) for x in xs if test(x))` and the `x` that passed `test` up to the answer;
    the elements after the first whose value is false are not looked at."""
    matched: list[Any] = []
    for x in xs:
        if test(x):
            matched.append(x)
            if not value(x):
                return matched, False
    return matched, True


def first_or_none(xs: Any) -> Any:
    for x in xs:
        return x
    return None


def last_or_none(xs: Any) -> Any:
    out = None
    for x in xs:
        out = x
    return out


def last_of(xs: list[Any], value: Any) -> Any:
    """`value(x)` of the last of `xs`, or None when there is none."""
    return value(xs[-1]) if xs else None


def min_or_none(xs: Any) -> Any:
    xs = list(xs)
    return min(xs) if xs else None


def max_or_none(xs: Any) -> Any:
    xs = list(xs)
    return max(xs) if xs else None


def running_sum(pairs: Any) -> list[dict[str, Any]]:
    """`(item, value)` pairs in order -> `[{item, total}]`, total being the sum up to the item."""
    out: list[dict[str, Any]] = []
    total: Any = None
    for item, v in pairs:
        if total is None:
            total = v
        elif isinstance(v, Decimal):
            total = CTX.add(total, v)
        else:
            total = total + v
        out.append({"item": item, "total": total})
    return out


def indexed(xs: Any) -> list[dict[str, Any]]:
    """`[{index, item}]`: each item with its position in the list, from 0. An input element keeps
    its path (traced runs), so the explanation names it (`launches[2]`)."""
    out: list[dict[str, Any]] = []
    for i, x in enumerate(xs):
        r = {"index": i, "item": x}
        out.append(traced(r, x.path) if isinstance(x, TracedRecord) else r)
    return out


def flatten(xss: Any) -> list[Any]:
    """The items of a list of lists, one list after the other."""
    return [x for xs in xss for x in xs]


def map_values(m: dict[str, Any]) -> list[Any]:
    """The values of a map, in the order of its keys."""
    return list(m.values())


# ---- integers, roots and angles ---------------------------------------------------------


def floor_int(x: Any) -> int:
    """The largest integer not above `x` (exact)."""
    return x if isinstance(x, int) else int(Decimal(x).to_integral_value(decimal.ROUND_FLOOR))


def ceil_int(x: Any) -> int:
    """The smallest integer not below `x` (exact)."""
    return x if isinstance(x, int) else int(Decimal(x).to_integral_value(decimal.ROUND_CEILING))


def round_int(x: Any) -> int:
    """`x` rounded half-even to an integer (exact)."""
    return x if isinstance(x, int) else int(Decimal(x).to_integral_value(decimal.ROUND_HALF_EVEN))


def square_root(x: Any) -> Decimal:
    """The square root, correctly rounded to 50 significant digits (as `/`)."""
    if x < 0:
        raise EvaluationError("invalid_argument", f"square root of a negative number: {x}")
    return DIV_CTX.sqrt(Decimal(x))


# Trigonometry runs in binary double precision; the result is rounded to 15 significant digits,
# the digits a double carries exactly, so that the last bits of a platform's math library never
# show in a decision.
TRIG_DIGITS = 15
PI = Decimal("3.1415926535897932384626433832795028841971693993751")


# Beyond this size an angle in radians has no digits left after the point in a double: its sine
# would be noise.
TRIG_MAX = Decimal(10) ** 15


def _angle(x: Any) -> float:
    if abs(x) > TRIG_MAX:
        raise EvaluationError("invalid_argument", f"an angle too large for trigonometry: {x}")
    return float(x)


def _trig_result(y: float) -> Decimal:
    if y == 0:
        return D0
    ctx = decimal.Context(prec=TRIG_DIGITS, rounding=decimal.ROUND_HALF_EVEN)
    return ctx.create_decimal(y).normalize(ctx)


def sine(x: Any) -> Decimal:
    """`sin(x)`, `x` in radians, to 15 significant digits."""
    return _trig_result(math.sin(_angle(x)))


def cosine(x: Any) -> Decimal:
    """`cos(x)`, `x` in radians, to 15 significant digits."""
    return _trig_result(math.cos(_angle(x)))


def arc_sine(x: Any) -> Decimal:
    """`asin(x)` in radians (-pi/2 .. pi/2) to 15 significant digits; `x` must be in -1 .. 1."""
    if not -1 <= x <= 1:
        raise EvaluationError("invalid_argument", f"asin needs a value in -1 .. 1, not {x}")
    return _trig_result(math.asin(float(x)))


def arc_tangent2(y: Any, x: Any) -> Decimal:
    """The angle of the point (x, y) in radians (-pi .. pi), to 15 significant digits."""
    return _trig_result(math.atan2(_ratio_part(y), _ratio_part(x)))


def _ratio_part(x: Any) -> float:
    """A coordinate for `atan2`, scaled into what a double holds (the angle depends on the
    ratio only)."""
    f = float(x)
    if math.isinf(f) or (f == 0 and x != 0):
        raise EvaluationError("invalid_argument", f"a coordinate too large or small for atan2: {x}")
    return f


def pi() -> Decimal:
    """Pi to 50 significant digits."""
    return PI


def radians(degrees: Any) -> Decimal:
    """Degrees to radians: `degrees * pi / 180`, rounded to 50 significant digits."""
    return DIV_CTX.divide(DIV_CTX.multiply(Decimal(degrees), PI), Decimal(180))


# ---- time spans ---------------------------------------------------------------------------


def elapsed(a: Any, b: Any) -> dt.timedelta:
    """`a - b` for two instants: the time from `b` to `a`."""
    if isinstance(a, OffCalendar) or isinstance(b, OffCalendar):
        raise EvaluationError("out_of_range", "an instant past the calendar has no distance")
    return a - b


def hours(n: int) -> dt.timedelta:
    """`n` hours."""
    return dt.timedelta(hours=max(-MAX_DAYS, min(n, MAX_DAYS)))


def minutes(n: int) -> dt.timedelta:
    """`n` minutes."""
    return dt.timedelta(minutes=max(-MAX_DAYS, min(n, MAX_DAYS)))


def _span_seconds(a: Any, b: Any) -> int:
    """Microseconds from `a` to `b` (two instants)."""
    d = elapsed(b, a)
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def hours_between(a: dt.datetime, b: dt.datetime) -> Decimal:
    """The hours from instant `a` to instant `b` (negative when `b` is earlier)."""
    return DIV_CTX.divide(Decimal(_span_seconds(a, b)), Decimal(3_600_000_000))


def minutes_between(a: dt.datetime, b: dt.datetime) -> Decimal:
    """The minutes from instant `a` to instant `b` (negative when `b` is earlier)."""
    return DIV_CTX.divide(Decimal(_span_seconds(a, b)), Decimal(60_000_000))


# `days(a .. b)` lists at most this many dates (over 270 years), so that two dates of an input
# never make a decision build millions of values.
MAX_LISTED_DAYS = 100_000


def days_of(r: Range) -> list[dt.date]:
    """The dates of a range of dates, in order (its end excluded for `a ..< b`)."""
    start, end = r.start, r.end
    if isinstance(start, OffCalendar) or isinstance(end, OffCalendar):
        raise EvaluationError("out_of_range", "a range of dates past the calendar has no days")
    n = (end - start).days + (0 if r.half_open else 1)
    if n > MAX_LISTED_DAYS:
        raise EvaluationError(
            "out_of_range",
            f"{start} .. {end} has {n} days, more than `days(...)` lists ({MAX_LISTED_DAYS})",
        )
    one = dt.timedelta(days=1)
    out: list[dt.date] = []
    d = start
    for _ in range(max(n, 0)):
        out.append(d)
        if d != dt.date.max:
            d += one
    return out


def concat(a: list[Any], b: list[Any]) -> list[Any]:
    """The items of `a`, then those of `b`."""
    return [*a, *b]


def unique(keys: Any) -> bool:
    """Whether no value occurs twice (hashing: linear in the number of values)."""
    seen: set[Any] = set()
    for k in keys:
        kk = value_key(k)
        if kk in seen:
            return False
        seen.add(kk)
    return True


def pairs(xs: Any) -> list[dict[str, Any]]:
    """`[{item, next}]`: each item with the one after it (the last item has none)."""
    xs = xs if isinstance(xs, list) else list(xs)
    return [{"item": xs[i], "next": xs[i + 1]} for i in range(len(xs) - 1)]


def sort_stable(xs: Any, key: Any, descending: bool) -> list[Any]:
    return sorted(xs, key=key, reverse=descending)


# op -> implementation, for each form of each built-in the catalogue declares
STDLIB: dict[str, Any] = implementations(globals())
