"""The input search behind `clausewise verify`: mutation of decision inputs (JSON), guided by the
policy's own constants and by the coverage each input reaches, repair of inputs the policy turns
away, and shrinking of a counterexample.

Inputs are plain JSON values. A mutation changes one leaf (a date moved to a period edge of
another date of the input, an amount set to a threshold, a flag flipped, a string set to a value
the policy compares with) or one list (grown to around a count the policy mentions, shrunk, or one
field of every element set alike). Everything is drawn from one `random.Random`, so a seed
repeats a search exactly.
"""

from __future__ import annotations

import datetime as dt
import marshal
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from random import Random
from typing import Any

from ..dsl.typed import (
    Const,
    ConstDuration,
    ConstMoney,
    ConstMonths,
    Node,
    Program,
    children,
)

Path = tuple[Any, ...]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
_MAX_LIST = 400  # the longest list a mutation builds


# ---- the policy's constants ----


@dataclass
class Constants:
    """The values a policy compares with: inputs at (and next to) them reach its branches."""

    dates: list[dt.date] = field(default_factory=list)
    ints: list[int] = field(default_factory=list)
    decimals: list[Decimal] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    days: list[int] = field(default_factory=list)  # durations, in days (and their sums)
    seconds: list[int] = field(default_factory=list)  # durations below a day
    currencies: list[str] = field(default_factory=list)  # of the amounts it names


def _nodes(node: Node) -> Iterator[Node]:
    yield node
    for a in children(node):
        yield from _nodes(a)


def program_nodes(prog: Program) -> Iterator[Node]:
    """Every typed expression of a program: definitions, functions, requirements, invariants
    and the output."""
    for d in prog.definitions.values():
        yield from _nodes(d.body)
    for f in prog.functions.values():
        yield from _nodes(f.body)
    for r in prog.requirements:
        yield from _nodes(r.cond)
    for inv in prog.invariants:
        yield from _nodes(inv.body)
    if prog.output is not None:
        yield from _nodes(prog.output)


def policy_constants(prog: Program) -> Constants:
    """Every constant in the policy's definitions, rules, requirements and invariants."""
    c = Constants()
    dates: set[dt.date] = set()
    ints: set[int] = set()
    decimals: set[Decimal] = set()
    strings: set[str] = set()
    days: set[int] = set()
    seconds: set[int] = set()
    currencies: set[str] = set()
    eff = prog.header.effective
    if eff is not None:
        for v in (eff.start, eff.until):
            if isinstance(v, dt.datetime):
                dates.add(v.date())
            elif isinstance(v, dt.date):
                dates.add(v)
    for n in program_nodes(prog):
        if isinstance(n, Const):
            v = n.value
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, dt.datetime):
                dates.add(v.date())
            elif isinstance(v, dt.date):
                dates.add(v)
            elif isinstance(v, int):
                ints.add(v)
            elif isinstance(v, Decimal):
                decimals.add(v)
            elif isinstance(v, str):
                strings.add(v)
        elif isinstance(n, ConstMoney):
            decimals.add(Decimal(n.amount))
            strings.add(n.currency)
            currencies.add(n.currency)
        elif isinstance(n, ConstDuration):
            count, unit = n.count, n.unit
            try:
                span = dt.timedelta(**{unit: count})
            except (TypeError, OverflowError):
                continue
            if span.days and not span.seconds:
                days.add(abs(span.days))
            elif span < dt.timedelta(days=1):
                seconds.add(int(span.total_seconds()))
        elif isinstance(n, ConstMonths):
            days.add(30 * int(n.count))
    base = sorted(d for d in days if d <= 3660)
    days |= {a + b for a in base for b in base if a + b <= 3660}
    c.dates = sorted(dates)
    c.ints = sorted(ints)
    c.decimals = sorted(decimals)
    c.strings = sorted(strings)
    c.days = sorted(days)
    c.seconds = sorted(seconds)
    c.currencies = sorted(currencies)
    return c


# ---- reading and writing JSON by path ----


def clone(value: Any) -> Any:
    """A deep copy of a JSON value (several times faster than `copy.deepcopy` for one)."""
    return marshal.loads(marshal.dumps(value))


def walk(value: Any, path: Path = (), rng: Random | None = None) -> list[tuple[Path, Any]]:
    """Every (path, value) in a JSON value, each before its parts; with `rng`, into at most 3
    elements of each list, drawn at random (a sample that does not visit every element of a
    long list)."""
    out: list[tuple[Path, Any]] = []
    stack = [(path, value)]
    while stack:
        p, v = stack.pop()
        out.append((p, v))
        if isinstance(v, dict):
            stack.extend(((*p, k), x) for k, x in reversed(v.items()))
        elif isinstance(v, list):
            if rng is not None and len(v) > 3:
                stack.extend(((*p, i), v[i]) for i in rng.sample(range(len(v)), 3))
            else:
                stack.extend(((*p, i), x) for i, x in reversed(list(enumerate(v))))
    return out


def get(value: Any, path: Path) -> Any:
    for p in path:
        value = value[p]
    return value


def put(value: Any, path: Path, new: Any) -> Any:
    """`value` with the part at `path` replaced (in place; the root itself if `path` is empty)."""
    if not path:
        return new
    get(value, path[:-1])[path[-1]] = new
    return value


def generic(path: Path) -> Path:
    """The path with list positions as `*`: where the schema describes the value."""
    return tuple("*" if isinstance(p, int) else p for p in path)


def parse_pointer(pointer: str) -> Path | None:
    """A JSON pointer (as input errors give it) as a path; None when it is not one."""
    if pointer in ("", "/"):
        return ()
    if not pointer.startswith("/"):
        return None
    out: list[Any] = []
    for part in pointer[1:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        out.append(int(part) if part.isdigit() else part)
    return tuple(out)


def kind_of(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        if _DATE.fullmatch(v):
            return "date"
        if _DATETIME.fullmatch(v):
            return "datetime"
        if _DECIMAL.fullmatch(v):
            return "decimal"
        return "str"
    if isinstance(v, list):
        return "list"
    return "dict"


# ---- values seen at each place of the input ----


class Bank:
    """The values seen at each generic path of the inputs drawn from the schema and of the
    test cases: what a field can hold, including null and the members of an enum."""

    def __init__(self) -> None:
        self.values: dict[Path, list[Any]] = {}
        self._seen: dict[Path, set[str]] = {}

    def add(self, data: Any) -> None:
        for path, v in walk(data):
            key = generic(path)
            marker = repr(v)[:200]
            seen = self._seen.setdefault(key, set())
            if marker in seen or len(seen) >= 40:
                continue
            seen.add(marker)
            self.values.setdefault(key, []).append(clone(v))

    def at(self, path: Path) -> list[Any]:
        return self.values.get(generic(path), [])


# ---- mutation ----


class Mutator:
    """Draws mutations of inputs from the policy's constants, the input's own values and the bank."""

    def __init__(self, rng: Random, consts: Constants, bank: Bank):
        self.rng = rng
        self.c = consts
        self.bank = bank
        self.nodes: list[tuple[Path, Any]] = []  # those of the input being mutated
        self._by_kind: dict[str, list[Any]] | None = None

    def _values(self, kind: str) -> list[Any]:
        by_kind = self._by_kind
        if by_kind is None:
            by_kind = self._by_kind = {}
            for _, v in self.nodes:
                if isinstance(v, str):
                    by_kind.setdefault(kind_of(v), []).append(v)
        return by_kind.get(kind, [])

    def mutate(self, data: Any, steps: int) -> Any:
        data = clone(data)
        for _ in range(steps):
            data = self.step(data)
        return data

    def sample(self, value: Any) -> list[tuple[Path, Any]]:
        """The fields a mutation chooses from, and the values it relates them to."""
        return walk(value, (), self.rng)

    def step(self, data: Any) -> Any:
        nodes = self.nodes = self.sample(data)
        self._by_kind = None
        lists = [(p, v) for p, v in nodes if isinstance(v, list)]
        leaves = [(p, v) for p, v in nodes if not isinstance(v, dict | list)]
        r = self.rng.random()
        if lists and r < 0.3:
            path, xs = self.pick(lists)
            return self.mutate_list(data, path, xs)
        if r < 0.4:
            return self.splice(data, nodes)
        if leaves:
            path, v = self.pick(leaves)
            new = self.leaf(data, path, v)
            if path and path[-1] == "currency" and isinstance(new, str):
                # the amounts of an input share a currency: change them all
                for p, x in walk(data):
                    if p and p[-1] == "currency" and x == v:
                        put(data, p, new)
                return data
            return put(data, path, new)
        return data

    def pick(self, nodes: list[tuple[Path, Any]]) -> tuple[Path, Any]:
        """A node, each field of the schema as likely as another: a field of the input's top
        level is not drowned by the many fields of a long list's elements."""
        groups: dict[Path, list[tuple[Path, Any]]] = {}
        for node in nodes:
            groups.setdefault(generic(node[0]), []).append(node)
        return self.rng.choice(self.rng.choice(list(groups.values())))

    def splice(self, data: Any, nodes: list[tuple[Path, Any]]) -> Any:
        """A part of the input replaced by another value seen at its place (another enum value,
        null for a nullable field, a different record)."""
        path, v = self.pick(nodes)
        options = [x for x in self.bank.at(path) if x != v]
        if not options:
            return data
        return put(data, path, clone(self.rng.choice(options)))

    # -- lists --
    def mutate_list(self, data: Any, path: Path, xs: list[Any]) -> Any:
        r = self.rng.random()
        if r < 0.45:
            return self.grow(data, path, xs)
        if r < 0.6 and xs:
            keep = self.rng.randrange(len(xs))
            if self.rng.random() < 0.5:
                del xs[keep:]
            else:
                del xs[keep]
            return data
        if xs:
            return self.broadcast(data, path, xs)
        return self.grow(data, path, xs)

    def list_sizes(self, n: int) -> list[int]:
        """Longer lengths for a list of `n`: a little longer, double, and around each count
        the policy mentions, up to a bound that leaves room for twice the largest of them."""
        limit = min(_MAX_LIST, max(64, 2 * max(self.c.ints, default=0) + 2))
        sizes = {n + 1, n + self.rng.randint(2, 6), 2 * n}
        for k in self.c.ints:
            sizes.update((k - 1, k, k + 1))
        return sorted(s for s in sizes if n < s <= limit)

    def grow(self, data: Any, path: Path, xs: list[Any]) -> Any:
        sizes = self.list_sizes(len(xs))
        if not sizes:
            return data
        size = self.rng.choice(sizes)
        pool = list(xs) or [x for x in self.bank.at((*path, 0)) if x is not None]
        if not pool:
            return data
        while len(xs) < size:
            item = clone(self.rng.choice(pool))
            if self.rng.random() < 0.15:
                item = self.step_within(data, item)
            xs.append(item)
        return data

    def step_within(self, data: Any, item: Any) -> Any:
        """One leaf of a list element changed (a variation of a copied element)."""
        leaves = [(p, v) for p, v in self.sample(item) if not isinstance(v, dict | list)]
        if not leaves:
            return item
        path, v = self.rng.choice(leaves)
        return put(item, path, self.leaf(data, path, v))

    def broadcast(self, data: Any, path: Path, xs: list[Any]) -> Any:
        """One field of every element (or of a random share of them) set to one value."""
        first = xs[self.rng.randrange(len(xs))]
        leaves = [(p, v) for p, v in self.sample(first) if not isinstance(v, dict | list)]
        if not leaves:
            return data
        rel, v = self.rng.choice(leaves)
        # half the time every element is made like this one in the field (no defect in any
        # transaction, say); otherwise they all get a new value
        value = v if self.rng.random() < 0.5 else self.leaf(data, (*path, 0, *rel), v)
        share = self.rng.choice([1.0, 1.0, 0.5, 0.1])
        for x in xs:
            if share == 1.0 or self.rng.random() < share:
                try:
                    put(x, rel, clone(value))
                except (KeyError, IndexError, TypeError):
                    continue
        return data

    # -- leaves --
    def leaf(self, data: Any, path: Path, v: Any) -> Any:
        kind = kind_of(v)
        rng = self.rng
        seen = [x for x in self.bank.at(path) if x != v]
        if seen and rng.random() < 0.2:
            return clone(rng.choice(seen))
        if kind == "bool":
            return not v
        if kind == "null":
            options = [x for x in seen if x is not None]
            return clone(rng.choice(options)) if options else v
        if kind == "int":
            return self.integer(v)
        if kind == "decimal":
            return self.decimal(data, v)
        if kind == "date":
            return self.date(data, v)
        if kind == "datetime":
            return self.datetime(data, v)
        if kind == "str":
            # the strings the policy compares with first: an arbitrary string rarely matters
            if self.c.strings and rng.random() < 0.5:
                return rng.choice(self.c.strings)
            here = generic(path)
            same = [x for p, x in self.nodes if isinstance(x, str) and generic(p) == here]
            options = seen + same
            return rng.choice(options) if options else v
        return v

    def integer(self, v: int) -> int:
        rng = self.rng
        options = [0, 1, v + 1, max(0, v - 1), v * 2]
        for k in self.c.ints + self.c.days:
            options += [k - 1, k, k + 1]
        out = rng.choice(options)
        return out if v < 0 or out >= 0 else 0

    def decimal(self, data: Any, v: str) -> str:
        rng = self.rng
        try:
            d = Decimal(v)
        except InvalidOperation:
            return v
        others = [Decimal(x) for x in self._values("decimal") if x != v]
        cent = Decimal("0.01")
        options = [Decimal(0), d + cent, d - cent, d * 2, d + 1]
        for k in self.c.decimals:
            options += [k, k + cent, k - cent, k * 100]
        for o in others[:20]:
            options += [o, o + cent, o - cent, o * 2, o + d]
        out = rng.choice(options)
        if d >= 0 and out < 0:
            out = Decimal(0)
        return _decimal_text(out)

    def date(self, data: Any, v: str) -> str:
        rng = self.rng
        d = dt.date.fromisoformat(v)
        anchors = [dt.date.fromisoformat(x) for x in self._values("date")]
        anchors += [_parse_datetime(x).date() for x in self._values("datetime")]
        r = rng.random()
        if self.c.dates and r < 0.25:
            base = rng.choice(self.c.dates)
        elif anchors:
            base = rng.choice(anchors)
        else:
            base = d
        return _shift_date(base, self._offset_days()).isoformat()

    def _offset_days(self) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.2:
            return 0
        if self.c.days and r < 0.75:
            k = rng.choice(self.c.days)
            return rng.choice([-k, -k + 1, -k - 1, k, k - 1, k + 1])
        return rng.randint(-60, 60)

    def datetime(self, data: Any, v: str) -> str:
        rng = self.rng
        t = _parse_datetime(v)
        anchors = [_parse_datetime(x) for x in self._values("datetime")]
        r = rng.random()
        if self.c.dates and r < 0.2:
            day = rng.choice(self.c.dates)
            base = dt.datetime.combine(day, dt.time(), t.tzinfo)
        elif anchors:
            base = rng.choice(anchors)
        else:
            base = t
        shift = dt.timedelta(days=self._offset_days())
        if self.c.seconds and rng.random() < 0.3:
            shift += dt.timedelta(seconds=rng.choice(self.c.seconds) * rng.choice([-1, 1]))
        if rng.random() < 0.3:
            shift += dt.timedelta(seconds=rng.choice([-1, 1, -60, 60, 3600]))
        try:
            out = base + shift
        except OverflowError:
            return v
        if not 1 <= out.year <= 9999:
            return v
        return _datetime_text(out, v)


def _decimal_text(d: Decimal) -> str:
    text = format(d.normalize(), "f") if d == d.to_integral_value() else format(d, "f")
    return text if "E" not in text else format(d, "f")


def _parse_datetime(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _datetime_text(t: dt.datetime, like: str) -> str:
    frac = f".{t.microsecond:06d}" if t.microsecond else ""
    offset = t.utcoffset() or dt.timedelta()
    if like.endswith("Z") and not offset:
        zone = "Z"
    else:
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{t.date().isoformat()}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}{frac}{zone}"


def _shift_date(d: dt.date, days: int) -> dt.date:
    try:
        return d + dt.timedelta(days=days)
    except OverflowError:
        return d


# ---- repair ----


def repair_candidates(data: Any, path: Path, bank: Bank, rng: Random) -> list[Any]:
    """Inputs that change the part an input error points at: to another value of the input of
    the same kind (a currency, a date), a value seen at that place, null; or without the list
    element that holds it."""
    try:
        current = get(data, path)
    except (KeyError, IndexError, TypeError):
        return []
    kind = kind_of(current)
    out: list[Any] = []
    same: list[Any] = []
    for p, v in walk(data):
        if p != path and kind_of(v) == kind and v != current and v not in same:
            if p and path and p[-1] == path[-1]:
                same.insert(0, v)  # the same field elsewhere (a currency) first
            else:
                same.append(v)
    seen = [v for v in bank.at(path) if v != current]
    rng.shuffle(seen)
    # the same value in the same field of other list elements (copies of one element) is
    # likely the same fault: change those too
    here = generic(path)
    twins = [p for p, v in walk(data) if v == current and p != path and generic(p) == here]
    for v in [*same[:4], *seen[:3], None]:
        candidate = put(clone(data), path, clone(v))
        for p in twins:
            put(candidate, p, clone(v))
        out.append(candidate)
    for i in range(len(path) - 1, -1, -1):
        if isinstance(path[i], int):
            trimmed = clone(data)
            del get(trimmed, path[:i])[path[i]]
            out.append(trimmed)
            break
    return out


# ---- shrinking ----


def shrink(data: Any, fails: Callable[[Any], bool], budget: int = 600) -> Any:
    """A smaller input that still `fails`: list elements removed, numbers made small, flags
    false, optional values null, as long as the failure stays."""
    calls = 0

    def attempt(candidate: Any) -> bool:
        nonlocal calls
        if calls >= budget:
            return False
        calls += 1
        return fails(candidate)

    changed = True
    while changed and calls < budget:
        changed = False
        # lists: drop chunks, halving the chunk size
        lists = sorted(
            ((p, v) for p, v in walk(data) if isinstance(v, list) and v),
            key=lambda pv: -len(pv[1]),
        )
        for path, _ in lists:
            xs = get(data, path)
            chunk = max(1, len(xs) // 2)
            while chunk >= 1 and calls < budget:
                i = 0
                while i < len(get(data, path)) and calls < budget:
                    candidate = clone(data)
                    del get(candidate, path)[i : i + chunk]
                    if attempt(candidate):
                        data = candidate
                        changed = True
                    else:
                        i += chunk
                chunk //= 2
        # leaves: simpler values
        for path, v in list(walk(data)):
            if calls >= budget:
                break
            try:
                current = get(data, path)
            except (KeyError, IndexError, TypeError):
                continue
            if current != v:
                continue
            for simpler in _simpler(v):
                candidate = put(clone(data), path, simpler)
                if attempt(candidate):
                    data = candidate
                    changed = True
                    break
            else:
                smaller = _bisect_number(data, path, v, attempt)
                if smaller is not None:
                    data = smaller
                    changed = True
    return data


def _simpler(v: Any) -> list[Any]:
    kind = kind_of(v)
    if kind == "bool":
        return [False] if v else []
    if kind == "int":
        return [0] if v != 0 else []
    if kind == "str":
        return ["a"] if len(v) > 1 else []
    if kind == "decimal":
        out = []
        if Decimal(v) != 0:
            out.append("0")
        whole = _decimal_text(Decimal(v).to_integral_value())
        if whole != v:
            out.append(whole)
        return out
    return []


def _bisect_number(data: Any, path: Path, v: Any, attempt: Callable[[Any], bool]) -> Any:
    """The smallest whole number between 0 and `v` at `path` that still fails (the failing
    values are assumed to be those above some bound)."""
    kind = kind_of(v)
    if kind not in ("int", "decimal"):
        return None
    value = Decimal(v)
    if value <= 1 or value != value.to_integral_value():
        return None
    lo, hi = 0, int(value)  # hi fails (it is v); lo = 0 was tried by `_simpler`
    best = None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        text: Any = mid if kind == "int" else str(mid)
        candidate = put(clone(data), path, text)
        if attempt(candidate):
            hi, best = mid, candidate
        else:
            lo = mid
    return best
