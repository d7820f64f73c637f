"""Generators of well-typed policies, their schemas and their inputs, shared by the property tests
(tests/test_properties.py) and the fuzzer (tests/fuzz/).

A policy is drawn through a `Draw`: a callable taking a small choice description (`C.integers`,
`C.sampled_from`, ...). `HypothesisDraw` turns each description into a hypothesis strategy (so
that failing examples shrink); `RandomDraw` answers from a seeded `random.Random`, which is what
the fuzzer uses to reach a high throughput. Both draw the same policies from the same generator.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from clausewise import Diagnostic, PolicyError, PolicySyntaxError
from clausewise.dsl import types as T
from clausewise.dsl.check import check_policy
from clausewise.dsl.parser import parse
from clausewise.dsl.typed import Program, RecordLit
from clausewise.engine.compiler import CompiledPolicy, compile_program

# ---- choices -----------------------------------------------------------------------------


class C:
    """Descriptions of one choice (hashable tuples), answered by a `Draw`."""

    INT_LITERAL = ("int_literal",)
    DEC_LITERAL = ("dec_literal",)
    DATE = ("date",)

    @staticmethod
    def integers(lo: int, hi: int) -> tuple[Any, ...]:
        return ("integers", lo, hi)

    @staticmethod
    def sampled_from(values: Any) -> tuple[Any, ...]:
        return ("sampled_from", tuple(values))

    @staticmethod
    def int_list(lo: int, hi: int, min_size: int, max_size: int) -> tuple[Any, ...]:
        return ("int_list", lo, hi, min_size, max_size)

    @staticmethod
    def permutation(values: Any) -> tuple[Any, ...]:
        return ("permutation", tuple(values))


class Draw(Protocol):
    def __call__(self, choice: tuple[Any, ...]) -> Any: ...


class HypothesisDraw:
    """Answers choices with hypothesis strategies (examples shrink)."""

    def __init__(self, draw: st.DrawFn):
        self.draw = draw

    def __call__(self, choice: tuple[Any, ...]) -> Any:
        try:
            strategy = _cached_strategy(choice)
        except TypeError:  # a choice among unhashable values (lists)
            strategy = _strategy(choice)
        return self.draw(strategy)


@functools.lru_cache(maxsize=4096)
def _cached_strategy(choice: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return _strategy(choice)


def _strategy(choice: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    what = choice[0]
    if what == "integers":
        return st.integers(choice[1], choice[2])
    if what == "sampled_from":
        return st.sampled_from(choice[1])
    if what == "int_list":
        return st.lists(st.integers(choice[1], choice[2]), min_size=choice[3], max_size=choice[4])
    if what == "permutation":
        return st.permutations(list(choice[1]))
    if what == "int_literal":
        return INT_LITERALS
    if what == "dec_literal":
        return DEC_LITERALS
    if what == "date":
        return dates()
    raise AssertionError(choice)


class RandomDraw:
    """Answers choices from a seeded `random.Random` (fast; no shrinking)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def __call__(self, choice: tuple[Any, ...]) -> Any:
        r = self.rng
        what = choice[0]
        if what == "integers":
            return r.randint(choice[1], choice[2])
        if what == "sampled_from":
            return r.choice(choice[1])
        if what == "int_list":
            return [r.randint(choice[1], choice[2]) for _ in range(r.randint(*choice[3:5]))]
        if what == "permutation":
            out = list(choice[1])
            r.shuffle(out)
            return out
        if what == "int_literal":
            return r.randint(0, 12) if r.random() < 0.7 else r.choice([30, 1000, 2**31, 2**40])
        if what == "dec_literal":
            if r.random() < 0.4:
                return r.choice(["0.5", "1.25", "2.5%", "0.1", "3.333", "0.0001", "12.5%"])
            return random_decimal_text(r, 6, 4)
        if what == "date":
            return random_date(r)
        raise AssertionError(choice)


# ---- schemas -----------------------------------------------------------------------------

DEC_SCHEMA: dict[str, Any] = {
    "type": ["string", "integer"],
    "format": "decimal",
    "pattern": "^\\d+(\\.\\d+)?$",
    "minimum": 0,
}
MONEY_DEF: dict[str, Any] = {
    "type": "object",
    "format": "money",
    "properties": {"amount": DEC_SCHEMA, "currency": {"type": "string"}},
    "required": ["amount", "currency"],
}

# Generator types: plain strings for scalars, tuples for structured types.
INT, DEC, MONEY, DATE, DT, BOOL, STR, ENUM = (
    "int",
    "dec",
    "money",
    "date",
    "dt",
    "bool",
    "str",
    "enum",
)
ITEM, REC, ZONE, ANY, NULL = "item", "rec", "zone", "any", "null"


def L(t: Any) -> Any:
    return ("list", t)


def O(t: Any) -> Any:  # noqa: E743
    return t if is_opt(t) else ("opt", t)


def RG(t: Any) -> Any:
    return ("range", t)


def GRP(k: Any) -> Any:
    return ("grp", k)


def MAP(t: Any) -> Any:
    return ("map", t)


def is_opt(t: Any) -> bool:
    return isinstance(t, tuple) and t[0] == "opt"


def strip(t: Any) -> Any:
    return t[1] if is_opt(t) else t


def kind(t: Any) -> str:
    return t[0] if isinstance(t, tuple) else t


ENUM_VALUES = ("a", "b", "c")
ITEM_FIELDS: dict[str, Any] = {
    "k": ENUM,
    "q": INT,
    "p": DEC,
    "amt": MONEY,
    "on": DATE,
    "flag": BOOL,
    "opt": O(INT),
}
REC_FIELDS: dict[str, Any] = {"k": ENUM, "q": INT}
# a record built in the policy whose fields join an int and a decimal (`{a: 1, b: 2}` with
# `{a: 0.5, b: 3}`): where the engine and the interpreter once wrote numbers differently
DREC = "drec"
DREC_FIELDS: dict[str, Any] = {"a": DEC, "b": INT}
FIELDS: dict[str, Any] = {
    "i1": INT,
    "i2": INT,
    "d1": DEC,
    "d2": DEC,
    "m1": MONEY,
    "m2": MONEY,
    "day": DATE,
    "ts": DT,
    "ok": BOOL,
    "kind": ENUM,
    "name": STR,
    "tz": ZONE,
    "ni": O(INT),
    "nd": O(DEC),
    "nm": O(MONEY),
    "nday": O(DATE),
    "nat": O(DT),
    "nkind": O(ENUM),
    "ints": L(INT),
    "items": L(ITEM),
    "r1": REC,
    "r2": REC,
    "u": ANY,
}
ZONES = ("UTC", "America/Los_Angeles", "Asia/Kolkata", "Europe/Paris", "Australia/Lord_Howe")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CURRENCIES = ("USD", "EUR")


def schema_of(t: Any) -> dict[str, Any]:
    if is_opt(t):
        return {"anyOf": [schema_of(t[1]), {"type": "null"}]}
    k = kind(t)
    if k == "list":
        return {"type": "array", "items": schema_of(t[1])}
    if k in (ITEM, REC):
        fields = ITEM_FIELDS if k == ITEM else REC_FIELDS
        return {
            "type": "object",
            "properties": {f: schema_of(ft) for f, ft in fields.items()},
            "required": list(fields),
        }
    return {
        INT: {"type": "integer"},
        DEC: DEC_SCHEMA,
        MONEY: {"$ref": "#/$defs/money"},
        DATE: {"type": "string", "format": "date"},
        DT: {"type": "string", "format": "date-time"},
        BOOL: {"type": "boolean"},
        STR: {"type": "string"},
        ENUM: {"type": "string", "enum": list(ENUM_VALUES)},
        ZONE: {"type": "string", "format": "time-zone"},
        ANY: {},
    }[k]


def input_schema(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {name: schema_of(t) for name, t in fields.items()},
        "required": list(fields),
        "$defs": {"money": MONEY_DEF},
    }


def type_schema(t: T.Type, rate: bool = False) -> dict[str, Any]:
    """An output schema for values of the checker's type `t` (`{}` where there is none)."""
    if isinstance(t, T.OptT):
        inner = type_schema(t.inner, rate)
        return {"anyOf": [inner, {"type": "null"}]} if inner else {}
    if t == T.INT:
        return {"type": "integer"}
    if t == T.DECIMAL:
        return {**DEC_SCHEMA, "format": "rate"} if rate else dict(DEC_SCHEMA)
    if t == T.MONEY:
        return {"$ref": "#/$defs/money"}
    if t == T.DATE:
        return {"type": "string", "format": "date"}
    if t == T.DATETIME:
        return {"type": "string", "format": "date-time"}
    if t == T.BOOL:
        return {"type": "boolean"}
    if T.is_string(t):
        return {"type": "string"}
    if isinstance(t, T.ListT):
        return {"type": "array", "items": type_schema(t.elem, rate)}
    if isinstance(t, T.RecordT):
        return {
            "type": "object",
            "properties": {k: type_schema(v, rate) for k, v in t.fields},
            "required": [k for k, _ in t.fields],
        }
    if isinstance(t, T.MapT):
        return {"type": "object", "additionalProperties": type_schema(t.value, rate)}
    return {}


# ---- input values ------------------------------------------------------------------------


@functools.cache
def decimal_texts(max_int: int = 8, max_frac: int = 6) -> st.SearchStrategy[str]:
    digits = st.text("0123456789", min_size=1, max_size=max_int)
    frac = st.text("0123456789", min_size=1, max_size=max_frac)
    return st.one_of(
        st.sampled_from(["0", "1", "0.5", "2.50", "10", "0.01", "100.00", "0.0000001"]),
        st.builds(lambda a, b: f"{a}.{b}" if b else a, digits, st.none() | frac),
    )


@functools.cache
def decimal_json(max_int: int = 8, max_frac: int = 6) -> st.SearchStrategy[Any]:
    return st.one_of(decimal_texts(max_int, max_frac), st.integers(0, 10**6))


OFFSETS = [dt.timedelta(0), dt.timedelta(hours=-7), dt.timedelta(hours=5, minutes=30)]


@st.composite
def _datetime_text(draw: st.DrawFn) -> str:
    t = draw(
        st.datetimes(
            min_value=dt.datetime(2019, 1, 1),
            max_value=dt.datetime(2026, 1, 1),
            timezones=st.just(dt.UTC),
        )
    )
    t = t.replace(microsecond=draw(st.sampled_from([0, 0, 250000, 1])))
    off = draw(st.sampled_from(OFFSETS))
    text = t.astimezone(dt.timezone(off)).isoformat()
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


@functools.cache
def datetime_text() -> st.SearchStrategy[str]:
    return _datetime_text()


@functools.cache
def dates() -> st.SearchStrategy[dt.date]:
    return st.one_of(
        st.dates(dt.date(2019, 1, 1), dt.date(2026, 1, 1)),
        st.sampled_from([dt.date(2024, 2, 29), dt.date(2022, 1, 31), dt.date(2022, 12, 31)]),
    )


@functools.cache
def value_of(t: Any, cur: str) -> st.SearchStrategy[Any]:
    """Valid JSON for a field of generator type `t`; money mostly in currency `cur`."""
    if is_opt(t):
        return st.one_of(st.none(), value_of(t[1], cur))
    k = kind(t)
    if k == "list":
        return st.lists(value_of(t[1], cur), max_size=4)
    if k in (ITEM, REC):
        fields = ITEM_FIELDS if k == ITEM else REC_FIELDS
        return st.fixed_dictionaries({f: value_of(ft, cur) for f, ft in fields.items()})
    if k == INT:
        return st.one_of(st.integers(-20, 200), st.sampled_from([0, 1, 2**40]))
    if k == ANY:
        return st.one_of(st.integers(0, 50), st.none())
    if k == DEC:
        return decimal_json()
    if k == MONEY:
        other = next(c for c in CURRENCIES if c != cur)
        return st.fixed_dictionaries(
            {
                "amount": decimal_json(6, 3),
                "currency": st.sampled_from([cur] * 9 + [other]),
            }
        )
    if k == DATE:
        return dates().map(dt.date.isoformat)
    if k == DT:
        return datetime_text()
    if k == BOOL:
        return st.booleans()
    if k == ENUM:
        return st.sampled_from(ENUM_VALUES)
    if k == STR:
        return st.text("ab ", max_size=3)
    if k == ZONE:
        return st.sampled_from(ZONES)
    raise AssertionError(t)


# ---- policy text -------------------------------------------------------------------------

INT_LITERALS = st.one_of(st.integers(0, 12), st.sampled_from([30, 1000, 2**31, 2**40]))
DEC_LITERALS = st.one_of(
    st.sampled_from(["0.5", "1.25", "2.5%", "0.1", "3.333", "0.0001", "12.5%"]),
    decimal_texts(6, 4),
)
ORDERED = [INT, DEC, MONEY, DATE, DT, STR]
SCALARS = [INT, DEC, MONEY, DATE, DT, BOOL, STR]
TYPE_NAMES = {
    INT: "int",
    DEC: "decimal",
    MONEY: "money",
    DATE: "date",
    DT: "datetime",
    BOOL: "bool",
    STR: "string",
}


def type_name(t: Any) -> str | None:
    if is_opt(t):
        inner = type_name(t[1])
        return None if inner is None else inner + "?"
    if kind(t) == "list":
        inner = type_name(t[1])
        return None if inner is None else f"list[{inner}]"
    return TYPE_NAMES.get(t)


def fits(actual: Any, want: Any) -> bool:
    """Whether an expression of generator type `actual` may stand where `want` is expected."""
    if actual == want:
        return True
    if actual == ANY:
        return want in (INT, DEC, O(INT), O(DEC))
    if want == DEC:
        return actual == INT
    if want == STR:
        return actual == ENUM
    if is_opt(want):
        return actual == NULL or fits(strip(actual), want[1])
    if kind(want) == "list" and kind(actual) == "list":
        return fits(actual[1], want[1]) and actual[1] != ANY
    return False


@dataclass
class Fn:
    name: str
    params: list[Any]
    result: Any


class PolicyGen:
    """Draws the text of a policy, tracking the type of every expression it writes."""

    def __init__(self, draw: Draw, fields: dict[str, Any], cur: str):
        self.draw = draw
        self.fields = fields
        self.cur = cur
        self.globals: dict[str, Any] = {}
        self.fns: list[Fn] = []
        self.decls: list[str] = []
        self.n = 0

    # -- helpers --
    def fresh(self, base: str) -> str:
        self.n += 1
        return f"{base}{self.n}"

    def choose(self, options: list[Callable[[], str | None]]) -> str:
        """Try the drawn option; options that do not apply (None) fall back to the first."""
        i = self.draw(C.integers(0, len(options) - 1))
        out = options[i]()
        if out is None:
            out = options[0]()
        assert out is not None
        return out

    def flip(self, p: float = 0.5) -> bool:
        return self.draw(C.integers(0, 99)) < p * 100

    def refs(self, env: dict[str, Any], nar: frozenset[str]) -> list[tuple[str, Any]]:
        bases = [(f"input.{k}", t) for k, t in self.fields.items()]
        bases += list(env.items()) + list(self.globals.items())
        out = []
        for txt, t in bases:
            if txt in nar:
                t = strip(t)
            out.append((txt, t))
            out.extend(self.subrefs(txt, t, nar))
        return out

    def subrefs(self, txt: str, t: Any, nar: frozenset[str]) -> list[tuple[str, Any]]:
        k = kind(t)
        if k in (ITEM, REC, DREC):
            fields = {ITEM: ITEM_FIELDS, REC: REC_FIELDS, DREC: DREC_FIELDS}[k]
            out = []
            for f, ft in fields.items():
                path = f"{txt}.{f}"
                out.append((path, strip(ft) if path in nar else ft))
            return out
        if k == "grp":
            return [(f"{txt}.key", t[1]), (f"{txt}.items", L(ITEM))]
        if k == "idx":  # an element of indexed(xs)
            return [(f"{txt}.index", INT), (f"{txt}.item", t[1])]
        if k == "run":  # an element of running_sum(...)
            return [(f"{txt}.item", t[1]), (f"{txt}.total", t[2])]
        if t == MONEY:
            return [(f"{txt}.amount", DEC), (f"{txt}.currency", STR)]
        return []

    def leaf(self, t: Any, env: dict[str, Any], nar: frozenset[str]) -> str | None:
        cands = [txt for txt, a in self.refs(env, nar) if fits(a, t)]
        if not cands:
            return None
        return self.draw(C.sampled_from(cands))

    def has_leaf(self, t: Any, env: dict[str, Any], nar: frozenset[str] = frozenset()) -> bool:
        return any(fits(a, t) for _txt, a in self.refs(env, nar))

    # -- literals --
    def lit(self, t: Any) -> str:
        d = self.draw
        if is_opt(t):
            return "null" if self.flip(0.3) else self.lit(t[1])
        k = kind(t)
        if k == "list":
            return "[" + ", ".join(self.lit(t[1]) for _ in range(d(C.integers(1, 3)))) + "]"
        if t in (INT, ANY):
            return str(d(C.INT_LITERAL))
        if t == DEC:  # a whole number stands for a decimal too (`[0, 0.5]`)
            return d(C.DEC_LITERAL) if self.flip(0.75) else str(d(C.integers(0, 12)))
        if t == MONEY:
            amount = d(C.sampled_from(["0", "5", "12.50", "0.01", "100", "7.125"]))
            cur = self.cur if self.flip(0.9) else d(C.sampled_from(CURRENCIES))
            return f"{amount} {cur}"
        if t == DATE:
            return d(C.DATE).isoformat()
        if t == DT:
            return d(
                C.sampled_from(
                    [
                        "2022-09-26T00:00:00-07:00",
                        "2022-11-06T01:30:00-07:00",
                        "2022-03-13T10:00:00Z",
                        "2023-01-01T00:00Z",
                        "2022-10-05T16:30:00.25+05:30",
                        'in_zone(2022-11-06T01:30, "America/Los_Angeles")',
                        'in_zone(2024-03-31T02:30, "Europe/Paris")',
                    ]
                )
            )
        if t == BOOL:
            return d(C.sampled_from(["true", "false"]))
        if t in (STR, ENUM):
            return '"' + d(C.sampled_from(ENUM_VALUES)) + '"'
        if t == REC:
            return "{k: " + self.lit(ENUM) + ", q: " + self.lit(INT) + "}"
        if t == DREC:
            return "{a: " + self.lit(DEC) + ", b: " + self.lit(INT) + "}"
        if k == "range":
            a, b = self.lit(t[1]), self.lit(t[1])
            return f"({a} {d(C.sampled_from(['..', '..<']))} {b})"
        raise AssertionError(t)

    def zone(self, env: dict[str, Any], nar: frozenset[str]) -> str:
        if "tz" in self.fields and self.flip(0.3):
            return "input.tz"
        return '"' + self.draw(C.sampled_from(ZONES)) + '"'

    # -- comprehensions --
    def source(self, env: dict[str, Any], depth: int, nar: frozenset[str]) -> tuple[str, Any]:
        """A list to iterate over, and its element type."""
        lists = [(txt, a[1]) for txt, a in self.refs(env, nar) if kind(a) == "list"]
        options: list[Callable[[], tuple[str, Any] | None]] = [
            lambda: (self.lit(L(INT)), INT),
            lambda: self.draw(C.sampled_from(lists)) if lists else None,
            lambda: self.draw(C.sampled_from(lists)) if lists else None,
            lambda: (self.lit(L(e)), e) if (e := self.draw(C.sampled_from(ORDERED))) else None,
        ]
        if depth > 0:
            options.append(lambda: self._nested_source(env, depth, nar))
            options.append(lambda: self._indexed_source(env, depth, nar))
            options.append(lambda: self._running_source(env, depth, nar))
        i = self.draw(C.integers(0, len(options) - 1))
        got = options[i]()
        return got if got is not None else options[0]()  # type: ignore[return-value]

    def _nested_source(self, env: dict[str, Any], depth: int, nar: frozenset[str]) -> Any:
        e = self.draw(C.sampled_from([INT, DEC, DATE, STR, MONEY, ITEM, GRP(ENUM)]))
        if kind(e) in (ITEM, "grp") and not self.has_leaf(L(ITEM), env, nar):
            e = INT
        return (self.expr(L(e), env, depth - 1, nar), e)

    def _indexed_source(self, env: dict[str, Any], depth: int, nar: frozenset[str]) -> Any:
        e = self.draw(C.sampled_from([INT, STR, MONEY]))
        return (f"indexed({self.expr(L(e), env, depth - 1, nar)})", ("idx", e))

    def _running_source(self, env: dict[str, Any], depth: int, nar: frozenset[str]) -> Any:
        src, et = self.source(env, depth - 1, nar)
        var = self.fresh("x")
        inner = {**env, var: et}
        total = self.draw(C.sampled_from([INT, DEC, MONEY]))
        elem = self.expr(total, inner, depth - 1, nar)
        where = f" where {self.expr(BOOL, inner, depth - 1, nar)}" if self.flip(0.3) else ""
        text = f"running_sum({elem} for {var} in {src}{where}{self.order_by(inner, depth, nar)})"
        return (text, ("run", et, total))

    def comp_parts(
        self, env: dict[str, Any], depth: int, nar: frozenset[str], src_t: Any = None
    ) -> tuple[str, str, dict[str, Any], Any]:
        """`x in src [where c]`: the head text (without the element), the variable and env."""
        if src_t is not None:
            src = self.expr(L(src_t), env, depth - 1, nar)
            et = src_t
        else:
            src, et = self.source(env, depth - 1, nar)
        var = self.fresh("x")
        inner = {**env, var: et}
        text = f"for {var} in {src}"
        if self.flip(0.05):
            text += " where false"  # aggregates over an empty list
        elif self.flip(0.5):
            text += " where " + self.expr(BOOL, inner, depth - 1, nar)
        return text, var, inner, et

    def order_by(self, inner: dict[str, Any], depth: int, nar: frozenset[str]) -> str:
        if not self.flip(0.35):
            return ""
        kt = self.draw(C.sampled_from(ORDERED))
        key = self.expr(kt, inner, depth - 1, nar)
        return f" order by {key}" + (" desc" if self.flip() else "")

    def agg(self, name: str, t: Any, env: dict[str, Any], depth: int, nar: frozenset[str]) -> str:
        head, _var, inner, _et = self.comp_parts(env, depth, nar)
        elem = self.expr(t, inner, depth - 1, nar)
        return f"{name}({elem} {head}{self.order_by(inner, depth, nar)})"

    # -- expressions --
    def expr(
        self, t: Any, env: dict[str, Any], depth: int, nar: frozenset[str] = frozenset()
    ) -> str:
        leaf = self.leaf(t, env, nar)
        base: list[Callable[[], str | None]] = [
            (lambda: leaf)
            if leaf is not None and self.flip(0.6)
            else (lambda: self.lit_or_leaf(t, env, nar)),
        ]
        if depth <= 0:
            return self.choose(base)
        sub = functools.partial(self.expr, env=env, depth=depth - 1, nar=nar)
        options = base + self.options(t, env, depth, nar, sub)
        # shapes every type has
        options.append(lambda: f"(if {sub(BOOL)} then {sub(t)} else {sub(t)})")
        if not is_opt(t):
            options.append(lambda: f"({sub(O(t))} ?? {sub(t)})")
        options.append(lambda: self.narrowing(t, env, depth, nar))
        options.append(lambda: self.with_binding(t, env, depth, nar))
        options.append(lambda: self.call(t, env, depth, nar))
        return self.choose(options)

    def untyped_join(self, text: str, t: Any) -> str:
        """`text` (of type `t`) joined with the untyped `input.u`: the joined type is unknown,
        so the output writes what the value holds (a decimal still as a decimal)."""
        shapes = [
            f"(input.u ?? {text})",
            f"(if {self.expr(BOOL, {}, 1)} then input.u else {text})",
            f"(if {self.expr(BOOL, {}, 1)} then {text} else input.u)",
            f"[{text}, input.u]",
            f"([{text}] + [input.u])",
            f"({text} .. (input.u ?? {self.expr(t, {}, 0)}))" if t in (INT, DEC) else None,
            f"{self.draw(C.sampled_from(['least', 'greatest']))}(input.u, {text})"
            if t in (INT, DEC)
            else None,
            f"(input.u + {text})" if t in (INT, DEC) else None,
        ]
        got = shapes[self.draw(C.integers(0, len(shapes) - 1))]
        return got if got is not None else shapes[0]  # type: ignore[return-value]

    def with_binding(self, t: Any, env: dict[str, Any], depth: int, nar: frozenset[str]) -> str:
        """`(with w = value: body)`, the body reading `w` where it can."""
        vt = self.draw(C.sampled_from([INT, DEC, DATE, BOOL, L(INT)]))
        var = self.fresh("w")
        value = self.expr(vt, env, depth - 1, nar)
        return f"(with {var} = {value}: {self.expr(t, {**env, var: vt}, depth - 1, nar)})"

    def lit_or_leaf(self, t: Any, env: dict[str, Any], nar: frozenset[str]) -> str:
        inner = strip(t)
        k = kind(inner)
        only_leaves = k in (ITEM, "grp", "map") or (k == "list" and kind(inner[1]) in (ITEM, "grp"))
        if not only_leaves:
            return self.lit(t)
        got = self.leaf(t, env, nar)
        if got is not None:
            return got
        if is_opt(t):
            return "null"
        if k == "list":
            return "[]"
        if k == "map" and "items" in self.fields:
            return "{x.k => x.q for x in input.items}"
        raise AssertionError(f"no {t} in scope")

    def narrowing(self, t: Any, env: dict[str, Any], depth: int, nar: frozenset[str]) -> str | None:
        opts = [txt for txt, a in self.refs(env, nar) if is_opt(a) and txt not in nar]
        if not opts:
            return None
        x = self.draw(C.sampled_from(opts))
        narrowed = nar | {x}
        if self.flip():
            return (
                f"(if {x} is not null then {self.expr(t, env, depth - 1, narrowed)}"
                f" else {self.expr(t, env, depth - 1, nar)})"
            )
        return (
            f"(if {x} is null then {self.expr(t, env, depth - 1, nar)}"
            f" else {self.expr(t, env, depth - 1, narrowed)})"
        )

    def call(self, t: Any, env: dict[str, Any], depth: int, nar: frozenset[str]) -> str | None:
        fns = [f for f in self.fns if fits(f.result, t)]
        if not fns:
            return None
        f = self.draw(C.sampled_from(fns))
        args = []
        for p in f.params:
            if kind(p) in (ITEM,) and not self.has_leaf(p, env, nar):
                return None
            args.append(self.expr(p, env, depth - 1, nar))
        return f"{f.name}({', '.join(args)})"

    def options(
        self,
        t: Any,
        env: dict[str, Any],
        depth: int,
        nar: frozenset[str],
        sub: Callable[[Any], str],
    ) -> list[Callable[[], str | None]]:
        d = self.draw
        k = kind(t)
        has_items = self.has_leaf(L(ITEM), env, nar)
        if t == INT:
            return [
                lambda: f"({sub(INT)} {d(C.sampled_from(['+', '-', '*']))} {sub(INT)})",
                lambda: f"(-{sub(INT)})",
                lambda: f"abs({sub(INT)})",
                lambda: self.agg("count", BOOL, env, depth, nar),
                lambda: f"count({self.source(env, depth - 1, nar)[0]})",
                lambda: self.agg("sum", INT, env, depth, nar),
                lambda: f"days_between({sub(DATE)}, {sub(DATE)})",
                lambda: f"{d(C.sampled_from(['floor', 'ceil', 'round']))}({sub(DEC)})",
                lambda: f"count(days(window({sub(DATE)}, {d(C.integers(1, 40))} days)))",
                lambda: f"count(pairs({sub(L(INT))}))",
                lambda: f"{d(C.sampled_from(['least', 'greatest']))}({sub(INT)}, {sub(INT)})",
                lambda: (
                    f"({sub(L(INT))}[{d(C.sampled_from(['0', '1', '-1', '5']))}] ?? {sub(INT)})"
                ),
                lambda: (
                    f"({self.agg(d(C.sampled_from(['min', 'max', 'first', 'last'])), INT, env, depth, nar)} ?? {sub(INT)})"
                ),
            ]
        if t == DEC:
            return [
                lambda: f"({sub(DEC)} {d(C.sampled_from(['+', '-', '*', '/']))} {sub(DEC)})",
                lambda: sub(INT),
                lambda: f"(-{sub(DEC)})",
                lambda: f"abs({sub(DEC)})",
                lambda: f"round({sub(DEC)}, {d(C.integers(0, 4))})",
                lambda: f"sqrt({sub(DEC)})",
                lambda: f"{d(C.sampled_from(['sin', 'cos', 'asin', 'radians']))}({sub(DEC)})",
                lambda: f"atan2({sub(DEC)}, {sub(DEC)})",
                lambda: f"hours_between({sub(DT)}, {sub(DT)})",
                lambda: f"minutes_between({sub(DT)}, {sub(DT)})",
                lambda: f"({sub(MONEY)}).amount",
                lambda: f"({sub(MONEY)} / {sub(MONEY)})",
                lambda: self.agg("sum", DEC, env, depth, nar),
                lambda: f"{d(C.sampled_from(['least', 'greatest']))}({sub(DEC)}, {sub(DEC)})",
                lambda: (
                    f"({self.agg(d(C.sampled_from(['min', 'max', 'first', 'last'])), DEC, env, depth, nar)} ?? {sub(DEC)})"
                ),
            ]
        if t == MONEY:
            return [
                lambda: f'money({sub(DEC)}, "{self.cur}")',
                lambda: f"({sub(MONEY)} {d(C.sampled_from(['+', '-']))} {sub(MONEY)})",
                lambda: f"({sub(MONEY)} * {sub(DEC)})",
                lambda: f"({sub(DEC)} * {sub(MONEY)})",
                lambda: f"({sub(MONEY)} / {sub(DEC)})",
                lambda: f"round({sub(MONEY)}, {d(C.integers(0, 3))})",
                lambda: f"({self.agg('sum', MONEY, env, depth, nar)} ?? {sub(MONEY)})",
                lambda: (
                    f"({self.agg(d(C.sampled_from(['min', 'max', 'first', 'last'])), MONEY, env, depth, nar)} ?? {sub(MONEY)})"
                ),
                lambda: f"{d(C.sampled_from(['least', 'greatest']))}({sub(MONEY)}, {sub(MONEY)})",
            ]
        if t == DATE:
            n = d(C.integers(0, 40))
            return [
                lambda: (
                    f"({sub(DATE)} {d(C.sampled_from(['+', '-']))} {n} {d(C.sampled_from(['days', 'weeks']))})"
                ),
                lambda: f"({sub(DATE)} + days({sub(INT) if not self.flip(0.7) else n}))",
                lambda: (
                    f"({sub(DATE)} {d(C.sampled_from(['+', '-']))} {d(C.integers(0, 14))} months)"
                ),
                lambda: f"({sub(DATE)} + {d(C.integers(1, 3))} * 1 month)",
                lambda: f"{d(C.sampled_from(['start_of_month', 'end_of_month']))}({sub(DATE)})",
                lambda: f'first_weekday({sub(DATE)}, "{d(C.sampled_from(WEEKDAYS))}")',
                lambda: f"local_date({sub(DT)}, {self.zone(env, nar)})",
                lambda: f"utc_date({sub(DT)})",
                lambda: (
                    f"window({sub(DATE)}, {d(C.integers(1, 60))} days).{d(C.sampled_from(['start', 'end']))}"
                ),
                lambda: f"{d(C.sampled_from(['least', 'greatest']))}({sub(DATE)}, {sub(DATE)})",
                lambda: (
                    f"({self.agg(d(C.sampled_from(['min', 'max', 'first', 'last'])), DATE, env, depth, nar)} ?? {sub(DATE)})"
                ),
            ]
        if t == DT:
            return [
                lambda: (
                    f"({sub(DT)} {d(C.sampled_from(['+', '-']))} {d(C.integers(0, 50))} {d(C.sampled_from(['hours', 'minutes', 'days', 'seconds']))})"
                ),
                lambda: f"({sub(DT)} + {d(C.integers(0, 5))} * 1 day)",
                lambda: f"start_of_day({sub(DATE)}, {self.zone(env, nar)})",
                lambda: f"{d(C.sampled_from(['least', 'greatest']))}({sub(DT)}, {sub(DT)})",
                lambda: (
                    f"({self.agg(d(C.sampled_from(['min', 'max', 'first', 'last'])), DT, env, depth, nar)} ?? {sub(DT)})"
                ),
            ]
        if t == BOOL:
            return [
                lambda: self.comparison(env, depth, nar, sub),
                lambda: self.comparison(env, depth, nar, sub),
                lambda: self.equality(env, depth, nar, sub),
                lambda: f"({sub(BOOL)} {d(C.sampled_from(['and', 'or', 'implies']))} {sub(BOOL)})",
                lambda: f"(not {sub(BOOL)})",
                lambda: self.membership(env, depth, nar, sub),
                lambda: self.null_test(env, nar),
                lambda: self.agg(d(C.sampled_from(["any", "all"])), BOOL, env, depth, nar),
                lambda: f"unique({sub(L(INT))})",
                lambda: self.agg("unique", d(C.sampled_from([INT, DATE, MONEY])), env, depth, nar),
                lambda: f"(({sub(DT)} - {sub(DT)}) > {d(C.integers(0, 50))} hours)",
                lambda: self.exists(env, depth, nar),
                lambda: (
                    f'("{d(C.sampled_from(ENUM_VALUES))}" in {sub(MAP(INT))})'
                    if "items" in self.fields
                    else None
                ),
            ]
        if t in (STR, ENUM):
            return [
                lambda: (
                    f'({sub(STR)} + "{d(C.sampled_from(["x", "", "a"]))}")' if t == STR else None
                ),
                lambda: f"weekday({sub(DATE)})" if t == STR else None,
                lambda: (
                    f"({self.agg(d(C.sampled_from(['min', 'max', 'first', 'last'])), t, env, depth, nar)} ?? {sub(t)})"
                ),
            ]
        if k == "opt":
            e = t[1]
            opts: list[Callable[[], str | None]] = [
                lambda: f"(if {sub(BOOL)} then {sub(e)} else null)",
                lambda: f"({sub(t)} ?? {sub(t)})",
            ]
            if e in ORDERED or e in (BOOL, ITEM, ENUM):
                opts.append(
                    lambda: (
                        self.agg(
                            d(
                                C.sampled_from(
                                    ["first", "last"]
                                    + (["min", "max"] if e in [*ORDERED, ENUM] else [])
                                )
                            ),
                            e,
                            env,
                            depth,
                            nar,
                        )
                        if e != ITEM or has_items
                        else None
                    )
                )
                opts.append(lambda: f"{sub(L(e))}[{d(C.sampled_from(['0', '1', '-1', '3']))}]")
            if e == MONEY:
                opts.append(lambda: self.agg("sum", MONEY, env, depth, nar))
            if e == INT and "items" in self.fields:
                opts.append(lambda: f'{sub(MAP(INT))}["{d(C.sampled_from(ENUM_VALUES))}"]')
            return opts
        if k == "list":
            e = t[1]
            if kind(e) == "grp":
                if not has_items:
                    return []
                keys = {"k": ENUM, "q": INT, "on": DATE, "flag": BOOL}
                key = d(C.sampled_from([f for f, ft in keys.items() if fits(ft, e[1])]))
                return [
                    lambda: "group({v} for {v} in {src} by {v}.{key})".format(
                        v=(v := self.fresh("x")), src=sub(L(ITEM)), key=key
                    )
                ]
            opts = [
                lambda: self.list_comp(e, env, depth, nar),
                lambda: self.list_comp(e, env, depth, nar),
                lambda: f"distinct({sub(t)})",
                lambda: f"flatten([{sub(t)}, {sub(t)}])",
                lambda: f"({sub(t)} + {sub(t)})",
                lambda: self.flatten_comp(e, env, depth, nar),
            ]
            if e == INT and "items" in self.fields:
                opts.append(lambda: f"values({sub(MAP(INT))})")
            if e == ITEM and has_items:
                opts.append(
                    lambda: "distinct({v} for {v} in {src} by {v}.{key})".format(
                        v=(v := self.fresh("x")),
                        src=sub(L(ITEM)),
                        key=d(C.sampled_from(["k", "q", "on", "amt"])),
                    )
                )
            return opts
        if k == "range":
            e = t[1]
            return [
                lambda: f"({sub(e)} {d(C.sampled_from(['..', '..<']))} {sub(e)})",
                lambda: f"window({sub(DATE)}, {d(C.integers(1, 40))} days)" if e == DATE else None,
            ]
        if k == "map":
            if "items" not in self.fields:
                return []
            return [
                lambda: "{{{v}.k => {val} for {v} in input.items{w}}}".format(
                    v=(v := self.fresh("x")),
                    val=self.expr(t[1], {**env, v: ITEM}, depth - 1, nar),
                    w=(" where " + self.expr(BOOL, {**env, v: ITEM}, depth - 1, nar))
                    if self.flip(0.3)
                    else "",
                )
            ]
        if t == REC:
            return [lambda: "{k: " + sub(ENUM) + ", q: " + sub(INT) + "}"]
        if t == DREC:
            return [lambda: "{a: " + sub(DEC) + ", b: " + sub(INT) + "}"]
        return []

    def list_comp(self, e: Any, env: dict[str, Any], depth: int, nar: frozenset[str]) -> str | None:
        if kind(e) == ITEM:
            head, _v, inner, _et = self.comp_parts(env, depth, nar, src_t=ITEM)
            return f"[{_v} {head}{self.order_by(inner, depth, nar)}]"
        head, _v, inner, _et = self.comp_parts(env, depth, nar)
        elem = self.expr(e, inner, depth - 1, nar)
        return f"[{elem} {head}{self.order_by(inner, depth, nar)}]"

    def flatten_comp(self, e: Any, env: dict[str, Any], depth: int, nar: frozenset[str]) -> str:
        head, _v, inner, _et = self.comp_parts(env, depth, nar)
        return f"flatten([{self.expr(L(e), inner, depth - 1, nar)} {head}])"

    def exists(self, env: dict[str, Any], depth: int, nar: frozenset[str]) -> str:
        head, v, _inner, _et = self.comp_parts(env, depth, nar)
        return f"any({v} {head})"

    def comparison(
        self, env: dict[str, Any], depth: int, nar: frozenset[str], sub: Callable[[Any], str]
    ) -> str:
        t = self.draw(C.sampled_from(ORDERED))
        op = self.draw(C.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"({sub(t)} {op} {sub(t)})"

    def equality(
        self, env: dict[str, Any], depth: int, nar: frozenset[str], sub: Callable[[Any], str]
    ) -> str | None:
        d = self.draw
        op = d(C.sampled_from(["==", "!="]))
        t = d(
            C.sampled_from(
                [BOOL, L(INT), REC, ITEM, O(INT), O(MONEY), O(DATE), MONEY, DREC, L(DEC)]
            )
        )
        if t in (REC, ITEM) and not self.has_leaf(t, env, nar):
            t = BOOL if t == ITEM else t
        if is_opt(t) and self.flip():
            return f"({sub(t)} {op} null)"
        return f"({sub(t)} {op} {sub(t)})"

    def membership(
        self, env: dict[str, Any], depth: int, nar: frozenset[str], sub: Callable[[Any], str]
    ) -> str | None:
        d = self.draw
        t = d(C.sampled_from([INT, DEC, STR, DATE, MONEY, REC, DT]))
        neg = " not" if self.flip(0.3) else ""
        x = sub(t)
        if self.flip(0.3) and t in ORDERED:
            return f"({x}{neg} in {sub(RG(t))})"
        if self.flip(0.3):
            return f"({x}{neg} in {self.lit(L(t))})"
        return f"({x}{neg} in {sub(L(t))})"

    def null_test(self, env: dict[str, Any], nar: frozenset[str]) -> str | None:
        opts = [txt for txt, a in self.refs(env, nar) if is_opt(a)]
        if not opts:
            return None
        neg = " not" if self.flip() else ""
        return f"({self.draw(C.sampled_from(opts))} is{neg} null)"

    # -- declarations --
    def decl_type(self) -> Any:
        return self.draw(C.sampled_from(DECLARED_TYPES))

    def declaration(self, depth: int) -> None:
        d = self.draw
        what = d(C.sampled_from(["let", "let", "loop", "fn", "rule", "rule0", "decision", "table"]))
        if what == "loop" and "items" in self.fields:
            # a pass over the input's items (passes over one list share a loop when compiled)
            name, v = self.fresh("v"), self.fresh("x")
            inner = {v: ITEM}
            where = f" where {self.expr(BOOL, inner, depth - 1)}" if self.flip(0.6) else ""
            shape = d(C.sampled_from(["count", "list", "group", "pred"]))
            if shape == "count":
                body, t = f"count({v} for {v} in input.items{where})", INT
            elif shape == "pred":
                body, t = (
                    f"count({self.expr(BOOL, inner, depth - 1)} for {v} in input.items{where})",
                    INT,
                )
            elif shape == "list":
                e = d(C.sampled_from([INT, DEC, MONEY, STR]))
                body, t = f"[{self.expr(e, inner, depth - 1)} for {v} in input.items{where}]", L(e)
            else:
                key = d(C.sampled_from(["k", "q", "on", "flag"]))
                kt = {"k": ENUM, "q": INT, "on": DATE, "flag": BOOL}[key]
                body, t = f"group({v} for {v} in input.items{where} by {v}.{key})", L(GRP(kt))
            self.decls.append(f"let {name} = {body}")
            self.globals[name] = t
        elif what in ("let", "loop"):
            t = self.decl_type()
            if t == L(ITEM) and "items" not in self.fields:
                t = L(INT)
            name = self.fresh("v")
            self.decls.append(f"let {name} = {self.expr(t, {}, depth)}")
            self.globals[name] = t
        elif what == "fn":
            p, r = (
                d(C.sampled_from([INT, DEC, MONEY, DATE, STR, BOOL, O(INT), L(INT), ITEM])),
                self.decl_type(),
            )
            if p == ITEM and "items" not in self.fields:
                p = INT
            if r == L(ITEM) and "items" not in self.fields:
                r = L(INT)
            name, param = self.fresh("f"), self.fresh("p")
            tn = type_name(p)
            annot = f": {tn}" if tn is not None and self.flip() else ""
            body = self.expr(r, {param: p}, depth)
            self.decls.append(f"let {name}({param}{annot}) = {body}")
            self.fns.append(Fn(name, [p], r))
        elif what in ("rule", "rule0"):
            name = self.fresh("r")
            if what == "rule0":
                self.decls.append(
                    f'rule {name} cites A1 "A rule." when {self.expr(BOOL, {}, depth)}'
                )
                self.globals[name] = BOOL
            else:
                p = d(C.sampled_from([INT, DEC, STR, ITEM, MONEY]))
                if p == ITEM and "items" not in self.fields:
                    p = INT
                param = self.fresh("p")
                self.decls.append(
                    f'rule {name}({param}) cites A2 "A rule." when {self.expr(BOOL, {param: p}, depth)}'
                )
                self.fns.append(Fn(name, [p], BOOL))
        elif what == "decision":
            self.decision(depth)
        else:
            self.table(depth)

    def decision(self, depth: int) -> None:
        d = self.draw
        strategy = d(C.sampled_from(["first", "collect", "priority"]))
        r = d(C.sampled_from([INT, DEC, MONEY, STR, DATE, L(INT), L(DEC), DREC, O(DEC)]))
        name = self.fresh("d")
        params: list[Any] = []
        env: dict[str, Any] = {}
        head = f"decision {name}"
        if self.flip(0.6):
            p = d(C.sampled_from([INT, STR, ITEM, DEC]))
            if p == ITEM and "items" not in self.fields:
                p = INT
            param = self.fresh("p")
            params, env = [p], {param: p}
            head += f"({param})"
        lines = [f"{head} {strategy} cites B1 {{"]
        named = r == STR and self.flip()
        for _ in range(d(C.integers(1, 3))):
            rule = self.fresh("c")
            prio = f" priority {d(C.integers(-2, 5))}" if strategy == "priority" else ""
            then = "" if named else f" then {self.expr(r, env, depth)}"
            lines.append(
                f'  rule {rule}{prio} cites B2 "A case." when {self.expr(BOOL, env, depth)}{then}'
            )
        has_else = self.flip(0.6)
        if has_else:
            lines.append(f"  else {self.expr(r, env, depth)}")
        lines.append("}")
        self.decls.append("\n".join(lines))
        result = L(r) if strategy == "collect" else (r if has_else else O(r))
        if params:
            self.fns.append(Fn(name, params, result))
        else:
            self.globals[name] = result

    def table(self, depth: int) -> None:
        d = self.draw
        r = d(C.sampled_from([INT, DEC, MONEY, STR, BOOL, DREC, L(DEC)]))
        name = self.fresh("t")
        p1, p2 = self.fresh("p"), self.fresh("p")
        two = self.flip(0.4)
        env: dict[str, Any] = {p1: INT, **({p2: STR} if two else {})}
        unique = not two and self.flip(0.4)
        rows = []
        if unique:
            cuts = sorted(set(d(C.int_list(-5, 30, 1, 3))))
            cells = [f"< {cuts[0]}"]
            cells += [f"{a} ..< {b}" for a, b in itertools.pairwise(cuts)]
            cells.append(f">= {cuts[-1]}")
            for c in cells:
                rows.append(f"  | {c} => {self.expr(r, env, depth - 1)}")
        else:
            for _ in range(d(C.integers(1, 4))):
                c1 = d(
                    C.sampled_from(
                        [
                            "-",
                            "< 3",
                            ">= 10",
                            "0 .. 5",
                            "1 ..< 4",
                            "1, 2, 3",
                            "== 7",
                            "!= 0",
                            "<= 0",
                        ]
                    )
                )
                row = f"| {c1} "
                if two:
                    c2 = d(C.sampled_from(["-", '"a"', '"a", "b"', '!= "c"', '== "b"']))
                    row += f"| {c2} "
                rows.append(f"  {row}=> {self.expr(r, env, depth - 1)}")
            rows.append(f"  else => {self.expr(r, env, depth - 1)}")
        params = f"{p1}: int" + (f", {p2}: string" if two else "")
        hit = "unique" if unique else "first"
        self.decls.append(f"table {name}({params}) {hit} cites C1 {{\n" + "\n".join(rows) + "\n}")
        self.fns.append(Fn(name, [INT, STR] if two else [INT], r))

    def requirement(self, depth: int) -> str:
        d = self.draw
        code = self.fresh("rq")
        scalars = [k for k, t in self.fields.items() if kind(t) not in ("list",)]
        if "items" in self.fields and self.flip():
            v = self.fresh("x")
            env = {v: ITEM}
            where = f" where {self.expr(BOOL, env, depth - 1)}" if self.flip(0.3) else ""
            cond = self.expr(BOOL, env, depth)
            item_field = d(C.sampled_from(list(ITEM_FIELDS)))
            return f'require {code} for {v} in input.items{where}: {cond} or {self.expr(BOOL, env, 0)}\n  at {v}.{item_field} "Each item must hold."'
        same: dict[Any, list[str]] = {}
        for k, t in self.fields.items():
            if t in (INT, DEC, MONEY, DATE, STR):
                same.setdefault(t, []).append(k)
        pairs = [(t, ks) for t, ks in same.items() if len(ks) > 1]
        if pairs and self.flip(0.3):
            # each field of a list is reported at its own path
            t, ks = d(C.sampled_from(pairs))
            v = self.fresh("f")
            cond = self.expr(BOOL, {v: t}, depth)
            at_field = f"{v}.currency" if t == MONEY else v
            listed = ", ".join(f"input.{k}" for k in ks)
            return f'require {code} for {v} in [{listed}]: {cond} or {self.expr(BOOL, {v: t}, 0)}\n  at {at_field} "Each field must hold."'
        at = d(C.sampled_from(scalars)) if scalars else None
        if at is None:
            return ""
        cond = self.expr(BOOL, {}, depth)
        return f'require {code}: {cond} or {self.expr(BOOL, {}, 0)}\n  at input.{at} "The input must hold."'


# the types of definitions, and (with more) of output fields
DECLARED_TYPES = [
    INT,
    DEC,
    MONEY,
    DATE,
    DT,
    BOOL,
    STR,
    L(INT),
    L(DEC),
    L(MONEY),
    O(INT),
    O(MONEY),
    RG(INT),
    L(ITEM),
    O(DEC),
    DREC,
    L(DREC),
]
OUTPUT_TYPES = [
    *DECLARED_TYPES,
    L(L(DEC)),
    RG(DEC),
    L(O(DEC)),
    L(STR),
    L(DATE),
    O(DATE),
    L(GRP(ENUM)),
    RG(DATE),
    MAP(INT),
    REC,
    L(BOOL),
]


@dataclass
class Case:
    """A generated policy: its text, input schema, inputs, and whether its output is typed."""

    text: str
    fields: dict[str, Any]
    inputs: list[Any]
    typed_output: bool = False
    rate: bool = False
    currency: str = "USD"

    def __repr__(self) -> str:
        return (
            f"Case(text={self.text!r},\n fields={self.fields!r},\n inputs={self.inputs!r},\n"
            f" typed_output={self.typed_output!r}, rate={self.rate!r})"
        )


def policy_text(draw: Draw) -> tuple[str, dict[str, Any], str]:
    """A generated policy: its text, its input fields (generator types) and its currency."""
    names = [k for k in FIELDS if draw(C.integers(0, 99)) < 80]
    fields: dict[str, Any] = {}
    for k in names:
        t = FIELDS[k]
        if t in SCALARS and t != STR and draw(C.integers(0, 99)) < 10:
            t = O(t)
        fields[k] = t
    cur = draw(C.sampled_from(CURRENCIES))
    g = PolicyGen(draw, fields, cur)
    for _ in range(draw(C.integers(0, 4))):
        g.declaration(2)
    reqs = [g.requirement(1) for _ in range(draw(C.integers(0, 1)))]
    outs = []
    for name in ("r", "s")[: draw(C.integers(1, 2))]:
        t = draw(C.sampled_from(OUTPUT_TYPES))
        needs_items = (kind(t) == "list" and kind(t[1]) in (ITEM, "grp")) or kind(t) == "map"
        if needs_items and "items" not in fields:
            t = L(INT)
        if t == REC and "r1" not in fields:
            t = INT
        out = g.expr(t, {}, 3)
        if "u" in fields and draw(C.integers(0, 99)) < 25:
            out = g.untyped_join(out, t)
        outs.append(f"  {name}: {out},")
    decls = draw(C.permutation(g.decls)) if g.decls else []
    text = "\n".join(
        [
            'policy "t/p"',
            'version "1.0.0"',
            'input schema "input.schema.json"',
            'output schema "output.schema.json"',
            "",
            *decls,
            *[r for r in reqs if r],
            "output {",
            *outs,
            "}",
            "",
        ]
    )
    return text, fields, cur


@st.composite
def policy_cases(draw: st.DrawFn) -> Case:
    text, fields, cur = policy_text(HypothesisDraw(draw))
    inputs = [
        draw(st.fixed_dictionaries({k: value_of(t, cur) for k, t in fields.items()}))
        for _ in range(draw(st.integers(1, 3)))
    ]
    return Case(text, fields, inputs, draw(st.booleans()), draw(st.integers(0, 9)) == 0, cur)


def random_case(rng: random.Random, n_inputs: int = 1) -> Case:
    """A generated policy with `n_inputs` inputs, drawn from `rng` (the fuzzer's fast path)."""
    text, fields, cur = policy_text(RandomDraw(rng))
    inputs = [random_input(rng, fields, cur) for _ in range(n_inputs)]
    return Case(text, fields, inputs, rng.random() < 0.5, rng.random() < 0.1, cur)


# ---- input values, drawn from a `random.Random` ----------------------------------------------

_SPECIAL_DECIMALS = ("0", "1", "0.5", "2.50", "10", "0.01", "100.00", "0.0000001")
_SPECIAL_DATES = (dt.date(2024, 2, 29), dt.date(2022, 1, 31), dt.date(2022, 12, 31))
_DATE_LO = dt.date(2019, 1, 1).toordinal()
_DATE_HI = dt.date(2026, 1, 1).toordinal()


def random_decimal_text(r: random.Random, max_int: int = 8, max_frac: int = 6) -> str:
    if r.random() < 0.3:
        return r.choice(_SPECIAL_DECIMALS)
    whole = "".join(r.choice("0123456789") for _ in range(r.randint(1, max_int)))
    if r.random() < 0.3:
        return whole
    return whole + "." + "".join(r.choice("0123456789") for _ in range(r.randint(1, max_frac)))


def random_decimal_json(r: random.Random, max_int: int = 8, max_frac: int = 6) -> Any:
    return r.randint(0, 10**6) if r.random() < 0.2 else random_decimal_text(r, max_int, max_frac)


def random_date(r: random.Random) -> dt.date:
    if r.random() < 0.15:
        return r.choice(_SPECIAL_DATES)
    return dt.date.fromordinal(r.randint(_DATE_LO, _DATE_HI))


def random_datetime_text(r: random.Random) -> str:
    t = dt.datetime.combine(random_date(r), dt.time(), tzinfo=dt.UTC) + dt.timedelta(
        seconds=r.randint(0, 86399), microseconds=r.choice([0, 0, 250000, 1])
    )
    text = t.astimezone(dt.timezone(r.choice(OFFSETS))).isoformat()
    return text.replace("+00:00", "Z") if r.random() < 0.5 else text


def random_value(r: random.Random, t: Any, cur: str) -> Any:
    """Valid JSON for a field of generator type `t` (as `value_of` draws it)."""
    if is_opt(t):
        return None if r.random() < 0.3 else random_value(r, t[1], cur)
    k = kind(t)
    if k == "list":
        return [random_value(r, t[1], cur) for _ in range(r.randint(0, 4))]
    if k in (ITEM, REC):
        fields = ITEM_FIELDS if k == ITEM else REC_FIELDS
        return {f: random_value(r, ft, cur) for f, ft in fields.items()}
    if k == INT:
        return r.randint(-20, 200) if r.random() < 0.85 else r.choice([0, 1, 2**40])
    if k == ANY:
        return None if r.random() < 0.15 else r.randint(0, 50)
    if k == DEC:
        return random_decimal_json(r)
    if k == MONEY:
        other = next(c for c in CURRENCIES if c != cur)
        return {
            "amount": random_decimal_json(r, 6, 3),
            "currency": cur if r.random() < 0.9 else other,
        }
    if k == DATE:
        return random_date(r).isoformat()
    if k == DT:
        return random_datetime_text(r)
    if k == BOOL:
        return r.random() < 0.5
    if k == ENUM:
        return r.choice(ENUM_VALUES)
    if k == STR:
        return "".join(r.choice("ab ") for _ in range(r.randint(0, 3)))
    if k == ZONE:
        return r.choice(ZONES)
    raise AssertionError(t)


def random_input(r: random.Random, fields: dict[str, Any], cur: str) -> dict[str, Any]:
    return {k: random_value(r, t, cur) for k, t in fields.items()}


def random_json(r: random.Random, schema: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """Mostly valid JSON for a schema of the kind clausewise reads (as `json_from_schema`)."""
    if schema is True or schema == {} or depth > 6:
        return r.choice([None, r.randint(0, 9), "a", "ab"])
    try:
        s, nullable = T.split_nullable(schema, root, "")
        t = T.strip(T.schema_type(schema, root, ""))
    except Exception:  # a schema the checker would reject: any JSON will do
        return r.choice([None, 0, "a", [], {}])
    if nullable and r.random() < 0.2:
        return None
    fmt = s.get("format")
    if t == T.MONEY:
        return {
            "amount": random_decimal_json(r, 5, 2),
            "currency": r.choice(["USD", "USD", "THB"]),
        }
    if t == T.DECIMAL:
        return random_decimal_json(r, 2, 4) if fmt == "rate" else random_decimal_json(r, 5, 2)
    if t == T.DATE:
        return random_date(r).isoformat()
    if t == T.DATETIME:
        return random_datetime_text(r)
    if t == T.ZONE:
        return r.choice(ZONES)
    if t == T.BOOL:
        return r.random() < 0.5
    if t == T.INT:
        lo = s.get("minimum", s.get("exclusiveMinimum", -5))
        hi = s.get("maximum", s.get("exclusiveMaximum", 400))
        lo, hi = (int(lo), int(hi)) if isinstance(lo, int) and isinstance(hi, int) else (-5, 400)
        return r.randint(lo, max(lo, hi))
    if isinstance(t, T.EnumT):
        return r.choice(list(t.values)) if t.values else "a"
    if t == T.STRING:
        # a mutated schema may ask for a billion characters: a short (invalid) string then
        least = s.get("minLength", 0)
        least = least if isinstance(least, int) and 0 <= least <= 1000 else 0
        size = r.randint(least, max(least, 6))
        return "".join(r.choice("abcXYZ-_0123") for _ in range(size))
    if isinstance(t, T.ListT):
        lo = s.get("minItems", 0)
        lo = lo if isinstance(lo, int) and 0 <= lo <= 100 else 0  # (bounded, as minLength)
        most = s.get("maxItems", 5)
        most = most if isinstance(most, int) else 5
        n = r.randint(lo, max(lo, min(most, 5 if depth == 0 else 3)))
        return [random_json(r, s.get("items", True), root, depth + 1) for _ in range(n)]
    if isinstance(t, T.MapT):
        extra = s.get("additionalProperties", True)
        return {
            "".join(r.choice("abc") for _ in range(r.randint(1, 3))): random_json(
                r, extra, root, depth + 1
            )
            for _ in range(r.randint(0, 3))
        }
    if isinstance(t, T.RecordT):
        required = set(s.get("required", ()))
        return {
            k: random_json(r, v, root, depth + 1)
            for k, v in s.get("properties", {}).items()
            if k in required or r.random() < 0.5
        }
    return None


# ---- loading -----------------------------------------------------------------------------


def explain(text: str) -> None:
    """Show `text` with a failing example (hypothesis' `note`, outside a test a no-op)."""
    if currently_in_test_context():
        note(text)


def load_text(
    text: str, in_schema: dict[str, Any], out_schema: dict[str, Any]
) -> tuple[Program | None, list[Diagnostic]]:
    """Parse and check policy text against schemas, as `check_file` does but in memory (so that
    thousands of generated policies and schemas do not go to disk, nor to the user's caches)."""
    try:
        tree = parse(text, "generated.cw")
    except PolicyError as e:
        return None, e.diagnostics
    result = check_policy(tree, "generated.cw", in_schema, out_schema)
    if result.program is None:
        return None, result.diagnostics
    return result.program, result.warnings


def typed_output_schema(prog: Program, rate: bool = False) -> dict[str, Any] | None:
    """An output schema that follows the types of the program's output record (None when the
    output is not a record)."""
    if not isinstance(prog.output, RecordLit):
        return None
    props = {k: type_schema(n.type, rate) for k, n in prog.output.fields}
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "$defs": {"money": MONEY_DEF},
    }


def load_case(case: Case) -> Program | None:
    """Check the case's policy; with a typed output, the output schema follows the types."""
    in_schema = input_schema(case.fields)
    prog, diags = load_text(case.text, in_schema, {})
    if prog is None:
        for d in diags[:3]:
            explain(d.render())
        return None
    out_schema = typed_output_schema(prog, case.rate) if case.typed_output else None
    if out_schema is not None:
        prog, diags = load_text(case.text, in_schema, out_schema)
        assert prog is not None, "\n".join(d.render() for d in diags)
    return prog


_COMPILED: dict[str, tuple[Program, CompiledPolicy] | None] = {}


def compiled_case(case: Case) -> tuple[Program, CompiledPolicy] | None:
    """The case's checked and compiled policy (None when it does not check), cached."""
    key = repr((case.text, case.fields, case.typed_output, case.rate))
    if key not in _COMPILED:
        if len(_COMPILED) > 200:
            _COMPILED.clear()
        prog = load_case(case)
        _COMPILED[key] = None if prog is None else (prog, compile_program(prog))
    return _COMPILED[key]


def error_key(o: tuple[str, Any], with_currency_path: bool = False) -> Any:
    """What two outcomes must share: the output, or the error's class, code (and path)."""
    kind_, v = o
    if kind_ == "ok":
        return o
    cls, code, _path = v
    if cls == "CurrencyError" and not with_currency_path:
        return ("error", (cls, code))
    return o


def json_from_schema(schema: Any, root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly valid JSON for a schema of the kind clausewise reads (docs/schemas.md)."""
    if schema is True or schema == {}:
        return st.one_of(st.none(), st.integers(0, 9), st.text("ab", max_size=2))
    s, nullable = T.split_nullable(schema, root, "")
    t = T.strip(T.schema_type(schema, root, ""))
    base: st.SearchStrategy[Any]
    fmt = s.get("format")
    if t == T.MONEY:
        base = st.fixed_dictionaries(
            {"amount": decimal_json(5, 2), "currency": st.sampled_from(["USD", "USD", "THB"])}
        )
    elif t == T.DECIMAL:
        base = decimal_json(2, 4) if fmt == "rate" else decimal_json(5, 2)
        if "maximum" in s:
            mx = Decimal(str(s["maximum"]))
            base = base.filter(lambda v: Decimal(v) <= mx)
    elif t == T.DATE:
        base = dates().map(dt.date.isoformat)
    elif t == T.DATETIME:
        base = datetime_text()
    elif t == T.ZONE:
        base = st.sampled_from(ZONES)
    elif t == T.BOOL:
        base = st.booleans()
    elif t == T.INT:
        lo = s.get("minimum", s.get("exclusiveMinimum", -5) + ("exclusiveMinimum" in s))
        hi = s.get("maximum", s.get("exclusiveMaximum", 400) - ("exclusiveMaximum" in s))
        base = st.integers(lo, max(lo, hi))
    elif isinstance(t, T.EnumT):
        base = st.sampled_from(list(t.values))
    elif t == T.STRING:
        if "pattern" in s:
            base = st.from_regex(s["pattern"])
        else:
            base = st.text(
                "abcXYZ-_0123",
                min_size=s.get("minLength", 0),
                max_size=min(s.get("maxLength", 6), 6),
            )
    elif isinstance(t, T.ListT):
        items = s.get("items", True)
        base = st.lists(
            json_from_schema(items, root, depth + 1),
            min_size=s.get("minItems", 0),
            max_size=max(s.get("minItems", 0), min(s.get("maxItems", 5), 5 if depth == 0 else 3)),
        )
    elif isinstance(t, T.MapT):
        base = st.dictionaries(
            st.text("abc", min_size=1, max_size=3),
            json_from_schema(s.get("additionalProperties", True), root, depth + 1),
            max_size=3,
        )
    elif isinstance(t, T.RecordT):
        props = s.get("properties", {})
        required = set(s.get("required", ()))
        base = st.fixed_dictionaries(
            {k: json_from_schema(v, root, depth + 1) for k, v in props.items() if k in required},
            optional={
                k: json_from_schema(v, root, depth + 1)
                for k, v in props.items()
                if k not in required
            },
        )
    else:
        base = st.none()
    return st.one_of(st.none(), base) if nullable else base


def check_parse(text: str) -> None:
    try:
        parse(text)
    except PolicySyntaxError as e:
        assert e.diagnostics, "a syntax error without a diagnostic"
        lines = text.split("\n")
        for d in e.diagnostics:
            where = f"{d.code} at {d.span.line}:{d.span.col}"
            assert 1 <= d.span.line <= len(lines), f"{where}: line outside the text"
            assert 1 <= d.span.col <= len(lines[d.span.line - 1]) + 1, f"{where}: column outside"


SAMPLE_POLICY = """# A policy using most of the grammar.
policy "t/sample"
version "1.0.0"
title "Sample"
source "Terms A1-A9"
input schema "input.schema.json"
output schema "output.schema.json"
effective from 2022-09-26T00:00 until 2023-01-01 in "America/Los_Angeles"
out of scope A9 "Not decided here."

let stores = ["FR", "IT", "ES"]
let period = in_zone(2022-09-26T00:00, "America/Los_Angeles") ..< 2023-01-01T08:00:00Z
let launch_day(l) = local_date(l.launched_at, "America/Los_Angeles")
let f(x: int, d: date?) = if d is not null then x + 1 else -x

rule eligible cites A1, A2.1 "The store takes part." when input.store in stores

decision reason(c) first cites D6 {
  rule paused cites D5 "Paused." when c.paused and c.end is not null then "paused"
  rule late priority 2 cites D5 "Late." when c.at not in period
  else "ok"
}

table credit(store, rate: decimal) first cites A2 {
  | "FR", "IT" | < 0.01 => 400 USD
  | - | 0.01 ..< 4% => 300 USD
  else => 0 USD
}

require ordered for c in input.costs where c.amount.amount > 0:
  c.amount.currency == "USD" at c.amount.currency "Costs are in dollars."

invariant capped cites A3 "Capped": output.total.amount <= 1200

output {
  eligible: eligible and count(c for c in input.costs where c.flag) > 0,
  codes: [reason(c) for c in input.costs where c.ok order by c.at desc],
  groups: {g.key => sum(x.amount for x in g.items) ?? 0 USD for g in group(c for c in input.costs by c.kind)},
  first: first(c.at for c in input.costs) ?? 2022-01-01T00:00:00Z,
  total: round(sum(c.amount for c in input.costs) ?? 0 USD, 2),
  days: days_between(2022-01-01, input.day + 30 days - 1 month),
  s: distinct(c.kind for c in input.costs by c.kind)[0],
}
"""
TOKENS = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
    "..",
    "..<",
    "=>",
    "|",
    "-",
    "+",
    "*",
    "/",
    "==",
    "<",
    ">=",
    "??",
    "%",
    "#",
    '"',
    '"x"',
    "'",
    "\\",
    "\n",
    " ",
    "let",
    "rule",
    "output",
    "policy",
    "if",
    "then",
    "else",
    "for",
    "in",
    "where",
    "order by",
    "by",
    "desc",
    "not",
    "and",
    "or",
    "is",
    "null",
    "true",
    "1",
    "1.5",
    "2022-13-45",
    "2022-02-30",
    "2022-01-01T25:00Z",
    "2022-01-01T00:00+99:99",
    "99999999999999999999",
    "1 USD",
    "1.5 days",
    "3 months",
    "0.5 hours",
    "A1",
    "cites",
    "priority",
    "-5",
    "table",
    "decision",
    "collect",
    "require",
    "at",
    "invariant",
    "import",
    "module",
    "\x00",
    "\u2028",
    "é",
    "١٢",
    "\ufeff",
    "\r",
    '"\\ud800"',
    '"\\u00e9"',
    '"a\tb"',
    "effective",
    "from",
    "until",
]
