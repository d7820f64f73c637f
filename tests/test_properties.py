"""Property tests of the engine as a whole.

(a) differential: random well-typed policies and inputs; the compiled engine agrees with the
    tree-walking reference interpreter in tests/reference_interpreter.py;
(b) the trace level never changes an output (generated policies, and the shipped ones);
(c) decimal and money arithmetic is exact and never mixes currencies;
(d) the parser fails only with `PolicySyntaxError`, located inside the text.

Run more examples with HYPOTHESIS_PROFILE=thorough (profiles: tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, event, example, given, note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from clausewise import DecisionError, Diagnostic, Engine, InputError, PolicyError, PolicySyntaxError
from clausewise.dsl import types as T
from clausewise.dsl.checker import Checker
from clausewise.dsl.parser import parse
from clausewise.dsl.typed import Program
from clausewise.engine.compiler import LEVELS, CompiledPolicy, compile_program
from clausewise.engine.runtime import CurrencyError
from clausewise.engine.store import check_file
from tests.reference_interpreter import Interpreter, outcome

ROOT = Path(__file__).resolve().parent.parent
_TMP = Path(tempfile.mkdtemp(prefix="clausewise-properties-"))

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
        return st.integers(0, 50)
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
        return want in (INT, DEC)
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

    def __init__(self, draw: st.DrawFn, fields: dict[str, Any], cur: str):
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
        i = self.draw(st.integers(0, len(options) - 1))
        out = options[i]()
        if out is None:
            out = options[0]()
        assert out is not None
        return out

    def flip(self, p: float = 0.5) -> bool:
        return self.draw(st.integers(0, 99)) < p * 100

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
        if k in (ITEM, REC):
            fields = ITEM_FIELDS if k == ITEM else REC_FIELDS
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
        return self.draw(st.sampled_from(cands))

    def has_leaf(self, t: Any, env: dict[str, Any], nar: frozenset[str] = frozenset()) -> bool:
        return any(fits(a, t) for _txt, a in self.refs(env, nar))

    # -- literals --
    def lit(self, t: Any) -> str:
        d = self.draw
        if is_opt(t):
            return "null" if self.flip(0.3) else self.lit(t[1])
        k = kind(t)
        if k == "list":
            return "[" + ", ".join(self.lit(t[1]) for _ in range(d(st.integers(1, 3)))) + "]"
        if t in (INT, ANY):
            return str(d(INT_LITERALS))
        if t == DEC:
            return d(DEC_LITERALS)
        if t == MONEY:
            amount = d(st.sampled_from(["0", "5", "12.50", "0.01", "100", "7.125"]))
            cur = self.cur if self.flip(0.9) else d(st.sampled_from(CURRENCIES))
            return f"{amount} {cur}"
        if t == DATE:
            return d(dates()).isoformat()
        if t == DT:
            return d(
                st.sampled_from(
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
            return d(st.sampled_from(["true", "false"]))
        if t in (STR, ENUM):
            return '"' + d(st.sampled_from(ENUM_VALUES)) + '"'
        if t == REC:
            return "{k: " + self.lit(ENUM) + ", q: " + self.lit(INT) + "}"
        if k == "range":
            a, b = self.lit(t[1]), self.lit(t[1])
            return f"({a} {d(st.sampled_from(['..', '..<']))} {b})"
        raise AssertionError(t)

    def zone(self, env: dict[str, Any], nar: frozenset[str]) -> str:
        if "tz" in self.fields and self.flip(0.3):
            return "input.tz"
        return '"' + self.draw(st.sampled_from(ZONES)) + '"'

    # -- comprehensions --
    def source(self, env: dict[str, Any], depth: int, nar: frozenset[str]) -> tuple[str, Any]:
        """A list to iterate over, and its element type."""
        lists = [(txt, a[1]) for txt, a in self.refs(env, nar) if kind(a) == "list"]
        options: list[Callable[[], tuple[str, Any] | None]] = [
            lambda: (self.lit(L(INT)), INT),
            lambda: self.draw(st.sampled_from(lists)) if lists else None,
            lambda: self.draw(st.sampled_from(lists)) if lists else None,
            lambda: (self.lit(L(e)), e) if (e := self.draw(st.sampled_from(ORDERED))) else None,
        ]
        if depth > 0:
            options.append(lambda: self._nested_source(env, depth, nar))
            options.append(lambda: self._indexed_source(env, depth, nar))
            options.append(lambda: self._running_source(env, depth, nar))
        i = self.draw(st.integers(0, len(options) - 1))
        got = options[i]()
        return got if got is not None else options[0]()  # type: ignore[return-value]

    def _nested_source(self, env: dict[str, Any], depth: int, nar: frozenset[str]) -> Any:
        e = self.draw(st.sampled_from([INT, DEC, DATE, STR, MONEY, ITEM, GRP(ENUM)]))
        if kind(e) in (ITEM, "grp") and not self.has_leaf(L(ITEM), env, nar):
            e = INT
        return (self.expr(L(e), env, depth - 1, nar), e)

    def _indexed_source(self, env: dict[str, Any], depth: int, nar: frozenset[str]) -> Any:
        e = self.draw(st.sampled_from([INT, STR, MONEY]))
        return (f"indexed({self.expr(L(e), env, depth - 1, nar)})", ("idx", e))

    def _running_source(self, env: dict[str, Any], depth: int, nar: frozenset[str]) -> Any:
        src, et = self.source(env, depth - 1, nar)
        var = self.fresh("x")
        inner = {**env, var: et}
        total = self.draw(st.sampled_from([INT, DEC, MONEY]))
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
        if self.flip(0.5):
            text += " where " + self.expr(BOOL, inner, depth - 1, nar)
        return text, var, inner, et

    def order_by(self, inner: dict[str, Any], depth: int, nar: frozenset[str]) -> str:
        if not self.flip(0.35):
            return ""
        kt = self.draw(st.sampled_from(ORDERED))
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

    def with_binding(self, t: Any, env: dict[str, Any], depth: int, nar: frozenset[str]) -> str:
        """`(with w = value: body)`, the body reading `w` where it can."""
        vt = self.draw(st.sampled_from([INT, DEC, DATE, BOOL, L(INT)]))
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
        x = self.draw(st.sampled_from(opts))
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
        f = self.draw(st.sampled_from(fns))
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
                lambda: f"({sub(INT)} {d(st.sampled_from(['+', '-', '*']))} {sub(INT)})",
                lambda: f"(-{sub(INT)})",
                lambda: f"abs({sub(INT)})",
                lambda: self.agg("count", BOOL, env, depth, nar),
                lambda: f"count({self.source(env, depth - 1, nar)[0]})",
                lambda: self.agg("sum", INT, env, depth, nar),
                lambda: f"days_between({sub(DATE)}, {sub(DATE)})",
                lambda: f"{d(st.sampled_from(['floor', 'ceil', 'round']))}({sub(DEC)})",
                lambda: f"count(days(window({sub(DATE)}, {d(st.integers(1, 40))} days)))",
                lambda: f"count(pairs({sub(L(INT))}))",
                lambda: f"{d(st.sampled_from(['least', 'greatest']))}({sub(INT)}, {sub(INT)})",
                lambda: (
                    f"({sub(L(INT))}[{d(st.sampled_from(['0', '1', '-1', '5']))}] ?? {sub(INT)})"
                ),
                lambda: (
                    f"({self.agg(d(st.sampled_from(['min', 'max', 'first', 'last'])), INT, env, depth, nar)} ?? {sub(INT)})"
                ),
            ]
        if t == DEC:
            return [
                lambda: f"({sub(DEC)} {d(st.sampled_from(['+', '-', '*', '/']))} {sub(DEC)})",
                lambda: sub(INT),
                lambda: f"(-{sub(DEC)})",
                lambda: f"abs({sub(DEC)})",
                lambda: f"round({sub(DEC)}, {d(st.integers(0, 4))})",
                lambda: f"sqrt({sub(DEC)})",
                lambda: f"{d(st.sampled_from(['sin', 'cos', 'asin', 'radians']))}({sub(DEC)})",
                lambda: f"atan2({sub(DEC)}, {sub(DEC)})",
                lambda: f"hours_between({sub(DT)}, {sub(DT)})",
                lambda: f"minutes_between({sub(DT)}, {sub(DT)})",
                lambda: f"({sub(MONEY)}).amount",
                lambda: f"({sub(MONEY)} / {sub(MONEY)})",
                lambda: self.agg("sum", DEC, env, depth, nar),
                lambda: f"{d(st.sampled_from(['least', 'greatest']))}({sub(DEC)}, {sub(DEC)})",
                lambda: (
                    f"({self.agg(d(st.sampled_from(['min', 'max', 'first', 'last'])), DEC, env, depth, nar)} ?? {sub(DEC)})"
                ),
            ]
        if t == MONEY:
            return [
                lambda: f'money({sub(DEC)}, "{self.cur}")',
                lambda: f"({sub(MONEY)} {d(st.sampled_from(['+', '-']))} {sub(MONEY)})",
                lambda: f"({sub(MONEY)} * {sub(DEC)})",
                lambda: f"({sub(DEC)} * {sub(MONEY)})",
                lambda: f"({sub(MONEY)} / {sub(DEC)})",
                lambda: f"round({sub(MONEY)}, {d(st.integers(0, 3))})",
                lambda: f"({self.agg('sum', MONEY, env, depth, nar)} ?? {sub(MONEY)})",
                lambda: (
                    f"({self.agg(d(st.sampled_from(['min', 'max', 'first', 'last'])), MONEY, env, depth, nar)} ?? {sub(MONEY)})"
                ),
                lambda: f"{d(st.sampled_from(['least', 'greatest']))}({sub(MONEY)}, {sub(MONEY)})",
            ]
        if t == DATE:
            n = d(st.integers(0, 40))
            return [
                lambda: (
                    f"({sub(DATE)} {d(st.sampled_from(['+', '-']))} {n} {d(st.sampled_from(['days', 'weeks']))})"
                ),
                lambda: f"({sub(DATE)} + days({sub(INT) if not self.flip(0.7) else n}))",
                lambda: (
                    f"({sub(DATE)} {d(st.sampled_from(['+', '-']))} {d(st.integers(0, 14))} months)"
                ),
                lambda: f"({sub(DATE)} + {d(st.integers(1, 3))} * 1 month)",
                lambda: f"{d(st.sampled_from(['start_of_month', 'end_of_month']))}({sub(DATE)})",
                lambda: f'first_weekday({sub(DATE)}, "{d(st.sampled_from(WEEKDAYS))}")',
                lambda: f"local_date({sub(DT)}, {self.zone(env, nar)})",
                lambda: f"utc_date({sub(DT)})",
                lambda: (
                    f"window({sub(DATE)}, {d(st.integers(1, 60))} days).{d(st.sampled_from(['start', 'end']))}"
                ),
                lambda: f"{d(st.sampled_from(['least', 'greatest']))}({sub(DATE)}, {sub(DATE)})",
                lambda: (
                    f"({self.agg(d(st.sampled_from(['min', 'max', 'first', 'last'])), DATE, env, depth, nar)} ?? {sub(DATE)})"
                ),
            ]
        if t == DT:
            return [
                lambda: (
                    f"({sub(DT)} {d(st.sampled_from(['+', '-']))} {d(st.integers(0, 50))} {d(st.sampled_from(['hours', 'minutes', 'days', 'seconds']))})"
                ),
                lambda: f"({sub(DT)} + {d(st.integers(0, 5))} * 1 day)",
                lambda: f"start_of_day({sub(DATE)}, {self.zone(env, nar)})",
                lambda: f"{d(st.sampled_from(['least', 'greatest']))}({sub(DT)}, {sub(DT)})",
                lambda: (
                    f"({self.agg(d(st.sampled_from(['min', 'max', 'first', 'last'])), DT, env, depth, nar)} ?? {sub(DT)})"
                ),
            ]
        if t == BOOL:
            return [
                lambda: self.comparison(env, depth, nar, sub),
                lambda: self.comparison(env, depth, nar, sub),
                lambda: self.equality(env, depth, nar, sub),
                lambda: f"({sub(BOOL)} {d(st.sampled_from(['and', 'or', 'implies']))} {sub(BOOL)})",
                lambda: f"(not {sub(BOOL)})",
                lambda: self.membership(env, depth, nar, sub),
                lambda: self.null_test(env, nar),
                lambda: self.agg(d(st.sampled_from(["any", "all"])), BOOL, env, depth, nar),
                lambda: f"unique({sub(L(INT))})",
                lambda: self.agg("unique", d(st.sampled_from([INT, DATE, MONEY])), env, depth, nar),
                lambda: f"(({sub(DT)} - {sub(DT)}) > {d(st.integers(0, 50))} hours)",
                lambda: self.exists(env, depth, nar),
                lambda: (
                    f'("{d(st.sampled_from(ENUM_VALUES))}" in {sub(MAP(INT))})'
                    if "items" in self.fields
                    else None
                ),
            ]
        if t in (STR, ENUM):
            return [
                lambda: (
                    f'({sub(STR)} + "{d(st.sampled_from(["x", "", "a"]))}")' if t == STR else None
                ),
                lambda: f"weekday({sub(DATE)})" if t == STR else None,
                lambda: (
                    f"({self.agg(d(st.sampled_from(['min', 'max', 'first', 'last'])), t, env, depth, nar)} ?? {sub(t)})"
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
                                st.sampled_from(
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
                opts.append(lambda: f"{sub(L(e))}[{d(st.sampled_from(['0', '1', '-1', '3']))}]")
            if e == MONEY:
                opts.append(lambda: self.agg("sum", MONEY, env, depth, nar))
            if e == INT and "items" in self.fields:
                opts.append(lambda: f'{sub(MAP(INT))}["{d(st.sampled_from(ENUM_VALUES))}"]')
            return opts
        if k == "list":
            e = t[1]
            if kind(e) == "grp":
                if not has_items:
                    return []
                keys = {"k": ENUM, "q": INT, "on": DATE, "flag": BOOL}
                key = d(st.sampled_from([f for f, ft in keys.items() if fits(ft, e[1])]))
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
                        key=d(st.sampled_from(["k", "q", "on", "amt"])),
                    )
                )
            return opts
        if k == "range":
            e = t[1]
            return [
                lambda: f"({sub(e)} {d(st.sampled_from(['..', '..<']))} {sub(e)})",
                lambda: f"window({sub(DATE)}, {d(st.integers(1, 40))} days)" if e == DATE else None,
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
        t = self.draw(st.sampled_from(ORDERED))
        op = self.draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"({sub(t)} {op} {sub(t)})"

    def equality(
        self, env: dict[str, Any], depth: int, nar: frozenset[str], sub: Callable[[Any], str]
    ) -> str | None:
        d = self.draw
        op = d(st.sampled_from(["==", "!="]))
        t = d(st.sampled_from([BOOL, L(INT), REC, ITEM, O(INT), O(MONEY), O(DATE), MONEY]))
        if t in (REC, ITEM) and not self.has_leaf(t, env, nar):
            t = BOOL if t == ITEM else t
        if is_opt(t) and self.flip():
            return f"({sub(t)} {op} null)"
        return f"({sub(t)} {op} {sub(t)})"

    def membership(
        self, env: dict[str, Any], depth: int, nar: frozenset[str], sub: Callable[[Any], str]
    ) -> str | None:
        d = self.draw
        t = d(st.sampled_from([INT, DEC, STR, DATE, MONEY, REC, DT]))
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
        return f"({self.draw(st.sampled_from(opts))} is{neg} null)"

    # -- declarations --
    def decl_type(self) -> Any:
        return self.draw(
            st.sampled_from(
                [
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
                ]
            )
        )

    def declaration(self, depth: int) -> None:
        d = self.draw
        what = d(
            st.sampled_from(["let", "let", "loop", "fn", "rule", "rule0", "decision", "table"])
        )
        if what == "loop" and "items" in self.fields:
            # a pass over the input's items (passes over one list share a loop when compiled)
            name, v = self.fresh("v"), self.fresh("x")
            inner = {v: ITEM}
            where = f" where {self.expr(BOOL, inner, depth - 1)}" if self.flip(0.6) else ""
            shape = d(st.sampled_from(["count", "list", "group", "pred"]))
            if shape == "count":
                body, t = f"count({v} for {v} in input.items{where})", INT
            elif shape == "pred":
                body, t = (
                    f"count({self.expr(BOOL, inner, depth - 1)} for {v} in input.items{where})",
                    INT,
                )
            elif shape == "list":
                e = d(st.sampled_from([INT, DEC, MONEY, STR]))
                body, t = f"[{self.expr(e, inner, depth - 1)} for {v} in input.items{where}]", L(e)
            else:
                key = d(st.sampled_from(["k", "q", "on", "flag"]))
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
                d(st.sampled_from([INT, DEC, MONEY, DATE, STR, BOOL, O(INT), L(INT), ITEM])),
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
                p = d(st.sampled_from([INT, DEC, STR, ITEM, MONEY]))
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
        strategy = d(st.sampled_from(["first", "collect", "priority"]))
        r = d(st.sampled_from([INT, DEC, MONEY, STR, DATE, L(INT)]))
        name = self.fresh("d")
        params: list[Any] = []
        env: dict[str, Any] = {}
        head = f"decision {name}"
        if self.flip(0.6):
            p = d(st.sampled_from([INT, STR, ITEM, DEC]))
            if p == ITEM and "items" not in self.fields:
                p = INT
            param = self.fresh("p")
            params, env = [p], {param: p}
            head += f"({param})"
        lines = [f"{head} {strategy} cites B1 {{"]
        named = r == STR and self.flip()
        for _ in range(d(st.integers(1, 3))):
            rule = self.fresh("c")
            prio = f" priority {d(st.integers(-2, 5))}" if strategy == "priority" else ""
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
        r = d(st.sampled_from([INT, DEC, MONEY, STR, BOOL]))
        name = self.fresh("t")
        p1, p2 = self.fresh("p"), self.fresh("p")
        two = self.flip(0.4)
        env: dict[str, Any] = {p1: INT, **({p2: STR} if two else {})}
        unique = not two and self.flip(0.4)
        rows = []
        if unique:
            cuts = sorted(set(d(st.lists(st.integers(-5, 30), min_size=1, max_size=3))))
            cells = [f"< {cuts[0]}"]
            cells += [f"{a} ..< {b}" for a, b in itertools.pairwise(cuts)]
            cells.append(f">= {cuts[-1]}")
            for c in cells:
                rows.append(f"  | {c} => {self.expr(r, env, depth - 1)}")
        else:
            for _ in range(d(st.integers(1, 4))):
                c1 = d(
                    st.sampled_from(
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
                    c2 = d(st.sampled_from(["-", '"a"', '"a", "b"', '!= "c"', '== "b"']))
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
            item_field = d(st.sampled_from(list(ITEM_FIELDS)))
            return f'require {code} for {v} in input.items{where}: {cond} or {self.expr(BOOL, env, 0)}\n  at {v}.{item_field} "Each item must hold."'
        same: dict[Any, list[str]] = {}
        for k, t in self.fields.items():
            if t in (INT, DEC, MONEY, DATE, STR):
                same.setdefault(t, []).append(k)
        pairs = [(t, ks) for t, ks in same.items() if len(ks) > 1]
        if pairs and self.flip(0.3):
            # each field of a list is reported at its own path
            t, ks = d(st.sampled_from(pairs))
            v = self.fresh("f")
            cond = self.expr(BOOL, {v: t}, depth)
            at_field = f"{v}.currency" if t == MONEY else v
            listed = ", ".join(f"input.{k}" for k in ks)
            return f'require {code} for {v} in [{listed}]: {cond} or {self.expr(BOOL, {v: t}, 0)}\n  at {at_field} "Each field must hold."'
        at = d(st.sampled_from(scalars)) if scalars else None
        if at is None:
            return ""
        cond = self.expr(BOOL, {}, depth)
        return f'require {code}: {cond} or {self.expr(BOOL, {}, 0)}\n  at input.{at} "The input must hold."'


OUTPUT_TYPES = [
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
    L(STR),
    L(DATE),
    O(INT),
    O(MONEY),
    O(DATE),
    L(ITEM),
    L(GRP(ENUM)),
    RG(INT),
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

    def __repr__(self) -> str:
        return (
            f"Case(text={self.text!r},\n fields={self.fields!r},\n inputs={self.inputs!r},\n"
            f" typed_output={self.typed_output!r}, rate={self.rate!r})"
        )


@st.composite
def policy_cases(draw: st.DrawFn) -> Case:
    names = [k for k in FIELDS if draw(st.integers(0, 99)) < 80]
    fields: dict[str, Any] = {}
    for k in names:
        t = FIELDS[k]
        if t in SCALARS and t != STR and draw(st.integers(0, 99)) < 10:
            t = O(t)
        fields[k] = t
    cur = draw(st.sampled_from(CURRENCIES))
    g = PolicyGen(draw, fields, cur)
    for _ in range(draw(st.integers(0, 4))):
        g.declaration(2)
    reqs = [g.requirement(1) for _ in range(draw(st.integers(0, 1)))]
    outs = []
    for name in ("r", "s")[: draw(st.integers(1, 2))]:
        t = draw(st.sampled_from(OUTPUT_TYPES))
        needs_items = (kind(t) == "list" and kind(t[1]) in (ITEM, "grp")) or kind(t) == "map"
        if needs_items and "items" not in fields:
            t = L(INT)
        if t == REC and "r1" not in fields:
            t = INT
        outs.append(f"  {name}: {g.expr(t, {}, 3)},")
    decls = draw(st.permutations(g.decls)) if g.decls else []
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
    inputs = [
        draw(st.fixed_dictionaries({k: value_of(t, cur) for k, t in fields.items()}))
        for _ in range(draw(st.integers(1, 3)))
    ]
    return Case(text, fields, inputs, draw(st.booleans()), draw(st.integers(0, 9)) == 0)


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
        checker = Checker(parse(text, "generated.cw"), "generated.cw", in_schema, out_schema)
        return checker.check(), checker.warnings()
    except PolicyError as e:
        return None, e.diagnostics


def load_case(case: Case) -> Program | None:
    """Check the case's policy; with a typed output, the output schema follows the types."""
    in_schema = input_schema(case.fields)
    prog, diags = load_text(case.text, in_schema, {})
    if prog is None:
        for d in diags[:3]:
            explain(d.render())
        return None
    if case.typed_output and prog.output is not None and prog.output.kind == "record":
        props = {k: type_schema(n.type, case.rate) for k, n in prog.output.args[0]}
        out_schema = {
            "type": "object",
            "properties": props,
            "required": list(props),
            "$defs": {"money": MONEY_DEF},
        }
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


# ---- (a) the compiled engine agrees with the reference interpreter -------------------------

GUARDED_DEFINITION = Case(
    text="""policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
let ratio = 100 / input.i1
let guarded = if input.i1 == 0 then null else 100 / input.i1
output {
  r: if input.i1 == 0 then 0 else ratio,
  s: guarded,
}
""",
    fields={"i1": INT},
    inputs=[{"i1": 0}, {"i1": 4}],
)


def compiled_or_reject(case: Case, generated: bool) -> tuple[Program, CompiledPolicy]:
    """The compiled case; a generated one that does not check is rejected (not a failure)."""
    got = compiled_case(case)
    if generated:
        assume(got is not None)
    assert got is not None, f"the example does not check:\n{case.text}"
    return got


def check_against_reference(case: Case, generated: bool = True) -> None:
    prog, compiled = compiled_or_reject(case, generated)
    explain(case.text)
    interp = Interpreter(prog)
    for data in case.inputs:
        expected = outcome(functools.partial(interp.run, data))
        actual = outcome(lambda: compiled.run(data, "off")[0])  # noqa: B023 (called at once)
        if generated:
            event("error" if expected[0] == "error" else "output")
        # a checked policy never fails inside the engine: only with a decision error
        for who, o in (("compiled", actual), ("reference", expected)):
            assert o[0] == "ok" or o[1][1] is not None, f"{who}: internal error {o!r}"
        assert error_key(actual) == error_key(expected), (
            f"input {data!r}\ncompiled:  {actual!r}\nreference: {expected!r}"
        )


@given(case=policy_cases())
def test_compiled_engine_agrees_with_reference_interpreter(case: Case) -> None:
    check_against_reference(case)


def test_definitions_are_computed_before_the_output() -> None:
    """docs/language.md: a definition is evaluated before the output whether or not the branch
    that uses it is taken, so it must guard its own failures."""
    check_against_reference(GUARDED_DEFINITION, generated=False)
    _prog, compiled = compiled_or_reject(GUARDED_DEFINITION, generated=False)
    with pytest.raises(DecisionError) as failed:
        compiled.run({"i1": 0})
    assert failed.value.code == "division_by_zero"
    for level in LEVELS:
        assert compiled.run({"i1": 4}, level)[0] == {"r": "25", "s": "25"}


# ---- (b) trace levels never change an output ----------------------------------------------


def outcomes_by_level(compiled: CompiledPolicy, data: Any) -> dict[str, Any]:
    return {lvl: outcome(lambda: compiled.run(data, lvl)[0]) for lvl in LEVELS}  # noqa: B023


def check_trace_levels(case: Case, generated: bool = True) -> None:
    _prog, compiled = compiled_or_reject(case, generated)
    explain(case.text)
    for data in case.inputs:
        outs = outcomes_by_level(compiled, data)
        assert outs["rules"] == outs["off"], f"input {data!r}"
        assert outs["full"] == outs["off"], f"input {data!r}"


@given(case=policy_cases())
def test_trace_level_never_changes_the_output_of_generated_policies(case: Case) -> None:
    check_trace_levels(case)


FULL_TRACE_FIRST = Case(
    text="""policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
output {
  first_big: first(x for x in input.ints where 10 / x > 1),
  any_big: any(10 / x > 1 for x in input.ints),
  all_small: all(x < 1 for x in input.ints where 10 / x > 0),
}
""",
    fields={"ints": L(INT)},
    inputs=[{"ints": [1, 0]}],
)


def test_full_trace_stops_where_untraced_code_stops() -> None:
    """`first`, `any` and `all` stop at the deciding element at every trace level."""
    check_trace_levels(FULL_TRACE_FIRST, generated=False)


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


def _shipped_policies() -> list[tuple[Path, Path]]:
    out: list[tuple[Path, Path]] = []
    for root in (ROOT / "bench" / "policies", ROOT / "policies"):
        if root.is_dir():
            out.extend((p, root) for p in sorted(root.rglob("*.cw")))
    return out


def _reference_inputs(policy_id: str) -> st.SearchStrategy[Any] | None:
    try:
        from tests.reference import generators, generators_cd
    except Exception:  # the reference generators are optional here
        return None
    known = {
        "promotions/amazon-ads-click-credit-q4-2022": "amazon_click_credit_inputs",
        "promotions/google-ads-promo-code": "google_promo_code_inputs",
        "budgets/google-ads-credit-budget": "google_credit_budget_inputs",
        "budgets/amazon-ads-portfolio-cap": "portfolio_cap_inputs",
        "health/amazon-seller-account-health": "seller_health_inputs",
    }
    name = known.get(policy_id)
    for mod in (generators, generators_cd):
        if name is not None and hasattr(mod, name):
            strategy: st.SearchStrategy[Any] = getattr(mod, name)()
            return strategy
    return None


@functools.cache
def _load_shipped(path: Path, root: Path) -> CompiledPolicy | None:
    try:
        prog, _diags = check_file(path, root)
        return None if prog is None else compile_program(prog)
    except Exception:  # a policy that is being written may not load at all
        return None


@pytest.mark.parametrize(
    "path, root",
    _shipped_policies(),
    ids=[str(p.relative_to(ROOT)) for p, _ in _shipped_policies()],
)
@given(data=st.data())
def test_trace_level_never_changes_the_output_of_shipped_policies(
    path: Path, root: Path, data: st.DataObject
) -> None:
    compiled = _load_shipped(path, root)
    if compiled is None:
        pytest.skip(f"{path} does not load")
    prog = compiled.program
    strategies = [json_from_schema(prog.input_schema, prog.input_schema)]
    ref = _reference_inputs(prog.header.id)
    if ref is not None:
        strategies.append(ref)
    value = data.draw(st.one_of(*strategies))
    outs = outcomes_by_level(compiled, value)
    event(outs["off"][0])
    assert outs["rules"] == outs["off"]
    assert outs["full"] == outs["off"]


# ---- (c) decimal and money arithmetic ------------------------------------------------------

WIDE = decimal.Context(prec=10**5, traps=[decimal.InvalidOperation])
PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")

C_FIELDS: dict[str, Any] = {
    "a": DEC,
    "b": DEC,
    "xs": L(DEC),
    "m": MONEY,
    "n": MONEY,
    "ms": L(MONEY),
}
C_POLICIES: dict[str, str] = {
    "arith": """output {
  sum: input.a + input.b,
  difference: input.a - input.b,
  product: input.a * input.b,
  cube: input.a * input.b * input.a,
  total: sum(x for x in input.xs),
  negated: -input.a,
  distance: abs(input.a - input.b),
  percent: input.a * 12.5%,
  echo: input.a,
}""",
    "money": """output {
  sum: (input.m + input.n).amount,
  difference: (input.m - input.n).amount,
  scaled: (input.m * input.a).amount,
  total: (sum(x for x in input.ms) ?? money(0, input.m.currency)).amount,
}""",
}
# one comparison or sum of money per policy: each must raise on mixed currencies by itself
MONEY_OPS: dict[str, str] = {
    "add": "input.m + input.n",
    "subtract": "input.m - input.n",
    "ratio": "input.m / input.n",
    "less": "input.m < input.n",
    "at_least": "input.m >= input.n",
    "equal": "input.m == input.n",
    "not_equal": "input.m != input.n",
    "in_list": "input.m in [input.n]",
    "in_literal_list": "input.m in [5 USD, 7.50 USD]",
    "in_range": "input.m in input.n .. input.n",
    "max": "max(x for x in [input.m, input.n])",
    "least": "least(input.m, input.n)",
    "sorted": "[x for x in [input.m, input.n] order by x]",
    "sum_list": "sum(x for x in input.ms)",
}


@functools.cache
def c_engine() -> Engine:
    root = _TMP / "c-store"
    schema = json.dumps(input_schema(C_FIELDS))
    policies = {**C_POLICIES, **{f"op-{k}": f"output {{ r: {v} }}" for k, v in MONEY_OPS.items()}}
    for name, body in policies.items():
        d = root / "c" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "input.schema.json").write_text(schema)
        (d / "output.schema.json").write_text("{}")
        (d / "1.0.0.cw").write_text(
            f'policy "c/{name}"\nversion "1.0.0"\ninput schema "input.schema.json"\n'
            f'output schema "output.schema.json"\n{body}\n'
        )
    return Engine.from_directory(root)


def exact_decimals() -> st.SearchStrategy[str]:
    """Decimal strings as the input schema allows them, from small to very long."""
    return st.one_of(decimal_texts(8, 6), decimal_texts(30, 30))


def money_json(currency: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"amount": exact_decimals(), "currency": currency})


def assert_exact(text: Any, expected: Decimal, what: str) -> None:
    assert isinstance(text, str), f"{what}: {text!r} is not a decimal string"
    assert PLAIN_DECIMAL.fullmatch(text), f"{what}: {text!r} is not written as a plain decimal"
    assert Decimal(text) == expected, f"{what}: {text} != {expected}"


@given(
    a=exact_decimals(),
    b=exact_decimals(),
    xs=st.lists(exact_decimals(), max_size=5),
    level=st.sampled_from(LEVELS),
)
@example(a="1", b="0.0000001", xs=[], level="off")
@example(a="1" + "0" * 29, b="0." + "0" * 29 + "1", xs=[], level="off")
def test_decimal_arithmetic_is_exact(a: str, b: str, xs: list[str], level: str) -> None:
    m = {"amount": "1", "currency": "USD"}
    data = {"a": a, "b": b, "xs": xs, "m": m, "n": m, "ms": []}
    out = c_engine().evaluate("c/arith", data, trace=level).output
    A, B = Decimal(a), Decimal(b)
    assert_exact(out["sum"], WIDE.add(A, B), "a + b")
    assert_exact(out["difference"], WIDE.subtract(A, B), "a - b")
    assert_exact(out["product"], WIDE.multiply(A, B), "a * b")
    assert_exact(out["cube"], WIDE.multiply(WIDE.multiply(A, B), A), "a * b * a")
    total = Decimal(0)
    for x in xs:
        total = WIDE.add(total, Decimal(x))
    assert_exact(out["total"], total, "sum(xs)")
    assert_exact(out["negated"], A.copy_negate(), "-a")
    assert_exact(out["distance"], WIDE.subtract(A, B).copy_abs(), "abs(a - b)")
    assert_exact(out["percent"], WIDE.multiply(A, Decimal("0.125")), "a * 12.5%")
    assert_exact(out["echo"], A, "a")


@given(text=exact_decimals())
@example(text="1234567890123456789012345678.9")
def test_decimal_literals_are_exact(text: str) -> None:
    policy = f"""policy "t/p"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
output {{ literal: {text}, percent: {text}%, doubled: {text} + {text} }}
"""
    prog, diags = load_text(policy, input_schema({}), {})
    assert prog is not None, "\n".join(d.render() for d in diags)
    out, _ = compile_program(prog).run({}, "off")
    value = Decimal(text)
    if "." in text:
        assert_exact(out["literal"], value, "literal")
    else:  # a whole number is an int literal
        assert out["literal"] == int(text)
    assert_exact(out["percent"], value.scaleb(-2, context=WIDE), "percent literal")
    if "." in text:
        assert_exact(out["doubled"], WIDE.add(value, value), "literal + literal")


@given(
    m=money_json(st.just("USD")),
    n=money_json(st.just("USD")),
    a=exact_decimals(),
    ms=st.lists(money_json(st.just("USD")), max_size=4),
    level=st.sampled_from(LEVELS),
)
def test_money_arithmetic_in_one_currency_is_exact(
    m: dict[str, Any], n: dict[str, Any], a: str, ms: list[dict[str, Any]], level: str
) -> None:
    data = {"a": a, "b": "0", "xs": [], "m": m, "n": n, "ms": ms}
    out = c_engine().evaluate("c/money", data, trace=level).output
    M, N = Decimal(m["amount"]), Decimal(n["amount"])
    assert_exact(out["sum"], WIDE.add(M, N), "m + n")
    assert_exact(out["difference"], WIDE.subtract(M, N), "m - n")
    assert_exact(out["scaled"], WIDE.multiply(M, Decimal(a)), "m * a")
    total = Decimal(0)
    for x in ms:
        total = WIDE.add(total, Decimal(x["amount"]))
    assert_exact(out["total"], total, "sum(ms)")


@given(
    op=st.sampled_from(sorted(MONEY_OPS)),
    m=money_json(st.sampled_from(CURRENCIES)),
    n=money_json(st.sampled_from(CURRENCIES)),
    ms=st.lists(money_json(st.sampled_from(CURRENCIES)), max_size=4),
    level=st.sampled_from(LEVELS),
)
@example(
    op="in_literal_list",
    m={"amount": "5", "currency": "EUR"},
    n={"amount": "5", "currency": "EUR"},
    ms=[],
    level="off",
)
@example(
    op="add",
    m={"amount": "5", "currency": "EUR"},
    n={"amount": "5", "currency": "USD"},
    ms=[],
    level="off",
)
def test_money_never_mixes_currencies(
    op: str, m: dict[str, Any], n: dict[str, Any], ms: list[dict[str, Any]], level: str
) -> None:
    data = {"a": "1", "b": "1", "xs": [], "m": m, "n": n, "ms": ms}
    if op == "sum_list":
        mixed, paths = (
            len({x["currency"] for x in ms}) > 1,
            {f"/ms/{i}/currency" for i in range(len(ms))},
        )
    elif op == "in_literal_list":
        mixed, paths = m["currency"] != "USD", {"/m/currency"}
    else:
        mixed, paths = m["currency"] != n["currency"], {"/m/currency", "/n/currency"}
    engine = c_engine()
    if not mixed:
        try:
            engine.evaluate(f"c/op-{op}", data, trace=level)
        except DecisionError as e:  # one currency: never a currency error (0 / 0 may fail)
            assert e.code != "currency_mismatch", f"{op} mixed currencies with one currency"
        return
    with pytest.raises(InputError) as info:
        out = engine.evaluate(f"c/op-{op}", data, trace=level).output
        note(f"silent result: {out!r}")
    assert info.value.code == "currency_mismatch"
    assert info.value.path in paths, f"path {info.value.path!r} is not one of {sorted(paths)}"
    # the compiled policy itself raises the CurrencyError the engine turns into that InputError
    compiled = engine.policy(f"c/op-{op}").compiled
    with pytest.raises(CurrencyError) as raw:
        compiled.run(data, level)
    assert raw.value.code == "currency_mismatch"


# ---- (d) the parser fails only with located syntax errors ----------------------------------


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


NESTED = 'policy "p" version "1.0.0" output { r: ' + "-" * 3000 + "1 }"


@given(text=st.text())
@example(text="")
@example(text=NESTED)
@example(text='policy "p" output { r: ' + "[" * 2000 + "]" * 2000 + " }")
@example(text='policy "p" output { r: ' + "not " * 2000 + "true }")
def test_parser_raises_only_syntax_errors_on_any_text(text: str) -> None:
    check_parse(text)


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


@st.composite
def mutated_policies(draw: st.DrawFn) -> str:
    sources = [SAMPLE_POLICY, GUARDED_DEFINITION.text, FULL_TRACE_FIRST.text]
    sources += [p.read_text() for p, _root in _shipped_policies()[:6]]
    text = draw(st.sampled_from(sources))
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        how = draw(st.sampled_from(["delete", "insert", "insert", "truncate", "duplicate"]))
        if how == "delete":
            j = draw(st.integers(i, min(n, i + 12)))
            text = text[:i] + text[j:]
        elif how == "insert":
            token = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)))
            text = text[:i] + token + text[i:]
        elif how == "truncate":
            text = text[:i]
        else:
            j = draw(st.integers(i, min(n, i + 30)))
            text = text[:j] + text[i:j] + text[j:]
    return text


@given(text=mutated_policies())
def test_parser_raises_only_syntax_errors_on_mutated_policies(text: str) -> None:
    check_parse(text)


def test_sample_policy_parses() -> None:
    parse(SAMPLE_POLICY)
