"""`clausewise verify`: search for inputs that break a policy's invariants.

Inputs are generated from the policy's input JSON Schema (hypothesis-jsonschema), with strategies
for the schema formats the engine reads (`date`, `date-time`, `decimal`, `rate`, `time-zone`,
and the currency of `money`). Each valid input is decided, and every invariant is evaluated on
the decision's output. A violation is shrunk by Hypothesis to a small counterexample. Inputs the
policy rejects as bad input (`InputError`, e.g. a cross-field `require`) are skipped.

The search is bounded (`max_examples` valid inputs per policy version, and a bounded number of
tries) and deterministic for a given seed.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .dsl.typed import Program, TInvariant, TNode
from .engine.runtime import CurrencyError, InputError
from .engine.store import LoadedPolicy, PolicyStore

DEFAULT_MAX_EXAMPLES = 200

CURRENCY_FORMAT = "x-clausewise-currency"
_DEFAULT_CURRENCIES = ("USD", "EUR", "THB")
_DEFAULT_DATES = (dt.date(2015, 1, 1), dt.date(2035, 12, 31))
_OFFSETS = ("Z", "+00:00", "-07:00", "-08:00", "+01:00", "+02:00", "+05:30", "+07:00", "+09:00")
_RARE_OFFSETS = ("+14:00", "-12:00", "+05:45", "-03:30", "+12:45")
_ZONES = (
    "UTC",
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Europe/Paris",
    "Asia/Bangkok",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "America/Sao_Paulo",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Pacific/Chatham",
)
_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


# ---- results ----


@dataclass
class Violation:
    """A counterexample: the invariants it breaks (or the error the policy raised on it)."""

    input: Any
    invariants: list[TInvariant]
    explanation: str
    error: str | None = None


@dataclass
class VerifyReport:
    """What `verify` found for one policy version."""

    policy_id: str
    version: str
    invariants: list[TInvariant]
    tried: int = 0
    valid: int = 0
    violations: list[Violation] = field(default_factory=list)
    problem: str | None = None  # the search could not run (e.g. a schema it cannot generate)

    @property
    def ok(self) -> bool:
        return not self.violations and self.problem is None


# ---- strategies ----


def _walk(node: Any) -> Iterator[TNode]:
    if isinstance(node, TNode):
        yield node
        for a in node.args:
            yield from _walk(a)
    elif isinstance(node, tuple | list):
        for a in node:
            yield from _walk(a)


def _program_nodes(prog: Program) -> Iterator[TNode]:
    for d in prog.definitions.values():
        yield from _walk(d.body)
    for f in prog.functions.values():
        yield from _walk(f.body)
    for r in prog.requirements:
        yield from _walk(r.cond)
    for inv in prog.invariants:
        yield from _walk(inv.body)
    if prog.output is not None:
        yield from _walk(prog.output)


def policy_literals(prog: Program) -> tuple[list[dt.date], list[str]]:
    """The dates (and dates of instants) and currencies the policy text mentions: inputs near
    them reach the interesting branches far more often than dates drawn from decades."""
    dates: set[dt.date] = set()
    currencies: set[str] = set()
    eff = prog.header.effective
    if eff is not None:
        for v in (eff.start, eff.until):
            if isinstance(v, dt.datetime):
                dates.add(v.date())
            elif isinstance(v, dt.date):
                dates.add(v)
    for n in _program_nodes(prog):
        if n.kind == "const" and n.args:
            v = n.args[0]
            if isinstance(v, dt.datetime):
                dates.add(v.date())
            elif isinstance(v, dt.date):
                dates.add(v)
        elif n.kind == "const_money" and len(n.args) > 1 and isinstance(n.args[1], str):
            currencies.add(n.args[1])
        for a in n.args:
            if isinstance(a, dt.datetime) and a.year > 1:
                dates.add(a.date())
    return sorted(dates), sorted(currencies)


def format_strategies(prog: Program) -> dict[str, Any]:
    """Strategies of strings the engine accepts, for each schema format it reads."""
    from hypothesis import strategies as st

    dates, currencies = policy_literals(prog)
    lo, hi = _DEFAULT_DATES
    if dates:
        lo = min(lo, dates[0] - dt.timedelta(days=400))
        hi = max(hi, dates[-1] + dt.timedelta(days=400))
    any_date = st.dates(lo, hi)
    # one anchor per input, so that the dates of an input are near each other (and, often,
    # near a date of the policy)
    anchor_base = st.one_of(st.sampled_from(dates), any_date) if dates else any_date
    anchor = st.shared(anchor_base, key="clausewise-anchor-date")
    near = st.builds(
        lambda a, d: _clamp(a + dt.timedelta(days=d), lo, hi), anchor, st.integers(-45, 45)
    )
    date = st.one_of(near, any_date)

    time = st.one_of(
        st.just(dt.time(0, 0)),
        st.times().map(lambda t: t.replace(tzinfo=None)),
    )
    offset = st.one_of(st.sampled_from(_OFFSETS), st.sampled_from(_RARE_OFFSETS))
    datetime = st.builds(_datetime_text, date, time, offset)

    decimal = st.one_of(
        st.integers(0, 10_000).map(str),
        _decimals(Decimal(1_000_000), 2),
        _decimals(Decimal(1_000_000_000), 6),
    )
    rate = st.one_of(
        _decimals(Decimal(1), 4), st.sampled_from(["0", "1"]), _decimals(Decimal(10), 6)
    )
    currency = st.shared(
        st.sampled_from(list(dict.fromkeys([*currencies, *_DEFAULT_CURRENCIES]))),
        key="clausewise-currency",
    )
    return {
        "date": date.map(dt.date.isoformat),
        "date-time": datetime,
        "decimal": decimal,
        "rate": rate,
        "time-zone": st.sampled_from(_available_zones()),
        CURRENCY_FORMAT: currency,
    }


def _clamp(d: dt.date, lo: dt.date, hi: dt.date) -> dt.date:
    return min(max(d, lo), hi)


def _datetime_text(d: dt.date, t: dt.time, offset: str) -> str:
    frac = f".{t.microsecond:06d}" if t.microsecond else ""
    return f"{d.isoformat()}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}{frac}{offset}"


def _decimals(max_value: Decimal, places: int) -> Any:
    from hypothesis import strategies as st

    return (
        st.decimals(min_value=0, max_value=max_value, places=places)
        .map(lambda d: format(abs(d), "f"))
        .filter(_DECIMAL_TEXT.fullmatch)
    )


def _available_zones() -> list[str]:
    from .engine.runtime import to_zone

    out = []
    for name in _ZONES:
        try:
            to_zone(name)
        except Exception:
            continue
        out.append(name)
    return out or ["UTC"]


class _Strategies:
    """Strategies for the values of a JSON Schema.

    Records, maps, lists, unions and `$ref`s are built here, once, from the schema's shape;
    every other value (strings with their formats, patterns and enums, integers with bounds,
    booleans, null) comes from hypothesis-jsonschema. (hypothesis-jsonschema can draw objects
    too, but it rebuilds their field strategies on every draw, which is many times slower for
    the nested records of a decision input.)"""

    def __init__(self, root: dict[str, Any], formats: dict[str, Any]):
        from hypothesis_jsonschema import from_schema

        self.root = root
        self.formats = formats
        self.from_schema = from_schema
        self.leaves: dict[str, Any] = {}
        self.refs: dict[str, Any] = {}

    def of(self, s: Any) -> Any:
        from hypothesis import strategies as st

        if s is True or s == {}:
            return st.none() | st.booleans() | st.integers() | st.text()
        if s is False:
            return st.nothing()
        if not isinstance(s, dict):
            raise ValueError(f"not a schema: {s!r}")
        if "$ref" in s:
            return self._ref(s)
        if "enum" in s or "const" in s:
            return self._leaf(s)
        for key in ("anyOf", "oneOf"):
            if key in s and isinstance(s[key], list):
                rest = {k: v for k, v in s.items() if k != key and k not in _ANNOTATIONS}
                if rest:
                    return self._leaf(s)
                return st.one_of([self.of(b) for b in s[key]])
        types = s.get("type")
        if isinstance(types, list):
            return st.one_of([self.of({**s, "type": t}) for t in types])
        if types == "object" or (types is None and "properties" in s):
            return self._object(s)
        if types == "array":
            return self._array(s)
        return self._leaf(s)

    def _ref(self, s: dict[str, Any]) -> Any:
        from hypothesis import strategies as st

        ref = s["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise ValueError(f"only local `$ref`s can be followed, not {ref!r}")
        if ref not in self.refs:
            target: Any = self.root
            for part in ref[1:].split("/")[1:] if ref != "#" else []:
                part = part.replace("~1", "/").replace("~0", "~")
                target = target[int(part)] if isinstance(target, list) else target[part]
            self.refs[ref] = st.deferred(lambda: self.of(target))
        rest = {k: v for k, v in s.items() if k != "$ref" and k not in _ANNOTATIONS}
        return self.refs[ref] if not rest else self._leaf(s)

    def _object(self, s: dict[str, Any]) -> Any:
        from hypothesis import strategies as st

        props = s.get("properties")
        if not isinstance(props, dict):
            extra = s.get("additionalProperties", True)
            return st.dictionaries(st.text(min_size=1, max_size=8), self.of(extra), max_size=4)
        required = [k for k in s.get("required", ()) if k in props]
        fields = {k: self._field(s, k, v) for k, v in props.items()}
        return st.fixed_dictionaries(
            {k: fields[k] for k in required},
            optional={k: v for k, v in fields.items() if k not in required},
        )

    def _field(self, parent: dict[str, Any], key: str, s: Any) -> Any:
        if (
            key == "currency"
            and parent.get("format") == "money"
            and isinstance(s, dict)
            and s.get("type") == "string"
            and not {"enum", "const", "pattern", "format", "$ref"} & s.keys()
        ):
            # the amounts of one input share a currency: mixed currencies are bad input
            return self.formats[CURRENCY_FORMAT]
        return self.of(s)

    def _array(self, s: dict[str, Any]) -> Any:
        from hypothesis import strategies as st

        lo = int(s.get("minItems", 0))
        hi = int(s.get("maxItems", lo + _MAX_EXTRA_ITEMS))
        items = self.of(s.get("items", True))
        if s.get("uniqueItems"):
            return st.lists(items, min_size=lo, max_size=hi, unique_by=_canonical)
        return st.lists(items, min_size=lo, max_size=hi)

    def _leaf(self, s: dict[str, Any]) -> Any:
        key = _canonical(s)
        if key not in self.leaves:
            doc = dict(s)
            for defs in ("$defs", "definitions"):
                if defs in self.root and defs not in doc:
                    doc[defs] = self.root[defs]
            self.leaves[key] = self.from_schema(doc, custom_formats=self.formats, allow_x00=False)
        return self.leaves[key]


_ANNOTATIONS = frozenset({"title", "description", "$comment", "examples", "default", "format"})
_MAX_EXTRA_ITEMS = 8


def _canonical(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def input_strategy(lp: LoadedPolicy) -> Any:
    """Inputs for a policy version, from its input JSON Schema."""
    from hypothesis.errors import HypothesisWarning

    prog = lp.program
    with warnings.catch_warnings():
        # `date` and `date-time` are redefined on purpose: the engine's own formats
        warnings.simplefilter("ignore", HypothesisWarning)
        strategies = _Strategies(prog.input_schema, format_strategies(prog))
        return strategies.of(prog.input_schema)


# ---- evaluating invariants ----


def invariant_checker(lp: LoadedPolicy) -> Callable[[Any, Any], list[tuple[str, bool]]]:
    """`check(converted input, output value)` -> [(invariant name, holds)]: the policy's compiled
    invariants, given the decision's output value so each input is decided once."""
    compiled = lp.compiled.invariants
    if compiled is None:
        return lambda inp, out: []
    fn = compiled.decide
    return lambda inp, out: list(fn(inp, None, out))


class _Found(Exception):
    def __init__(self, data: Any, broken: list[str], error: str | None = None):
        super().__init__(error or ", ".join(broken))
        self.data = data
        self.broken = broken
        self.error = error


def verify_policy(
    store: PolicyStore,
    lp: LoadedPolicy,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int = 0,
) -> VerifyReport:
    """Search for inputs that break the invariants of one policy version."""
    from hypothesis import HealthCheck, Phase, Verbosity, assume, given, settings
    from hypothesis import seed as hseed
    from hypothesis.errors import HypothesisWarning, Unsatisfiable

    from . import Engine

    prog = lp.program
    report = VerifyReport(lp.id, lp.version, list(prog.invariants))
    if not prog.invariants:
        return report
    try:
        strategy = input_strategy(lp)
    except Exception as e:  # a schema hypothesis-jsonschema cannot generate from
        report.problem = f"cannot generate inputs from the input schema: {e}"
        return report
    check = invariant_checker(lp)
    compiled = lp.compiled
    decide = compiled.variants["off"].decide
    by_name = {inv.name: inv for inv in prog.invariants}
    pending = set(by_name)

    def attempt(data: Any) -> None:
        report.tried += 1
        try:
            inp = compiled.convert_input(copy.deepcopy(data))  # the counterexample stays JSON
            value = decide(inp, None)
        except (InputError, CurrencyError):
            assume(False)
            return
        except Exception as e:
            raise _Found(data, [], f"{type(e).__name__}: {e}") from None
        report.valid += 1
        try:
            compiled.write_output(value)
            results = check(inp, value)
        except (InputError, CurrencyError):
            assume(False)
            return
        except Exception as e:
            raise _Found(data, [], f"{type(e).__name__}: {e}") from None
        broken = [name for name, ok in results if name in pending and not ok]
        if broken:
            raise _Found(data, broken)

    settings_ = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=False,
        print_blob=False,
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    search = hseed(seed)(settings_(given(strategy)(attempt)))
    engine = Engine(store)
    # one search per violation found, until every invariant is broken or none is
    while pending:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", HypothesisWarning)
                search()
        except _Found as found:
            broken = [by_name[n] for n in found.broken]
            report.violations.append(
                Violation(found.data, broken, _explain(engine, lp, found.data), found.error)
            )
            pending -= set(found.broken)
            if found.error is not None:
                break  # the policy fails on this input: the other invariants wait for a fix
            continue
        except Unsatisfiable:
            report.problem = (
                f"no valid input found in {report.tried} tries: every generated input was "
                "rejected as bad input"
            )
        except Exception as e:
            report.problem = f"the search failed: {type(e).__name__}: {e}"
        break
    return report


def _explain(engine: Any, lp: LoadedPolicy, data: Any) -> str:
    try:
        return str(engine.evaluate(lp.id, data, trace="full", version=lp.version).explain())
    except Exception as e:
        return f"(the decision could not be explained: {type(e).__name__}: {e})"


def verify_store(
    store: PolicyStore,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int | None = None,
    on_report: Callable[[VerifyReport], None] | None = None,
) -> list[VerifyReport]:
    """Verify every version with invariants of every policy in the store."""
    from .engine.store import _version_key

    reports = []
    for pid in store.ids():
        for version in sorted(store.policies[pid], key=_version_key):
            lp = store.policies[pid][version]
            if not lp.program.invariants:
                continue
            r = verify_policy(store, lp, max_examples, random_seed() if seed is None else seed)
            reports.append(r)
            if on_report is not None:
                on_report(r)
    return reports


def random_seed() -> int:
    return random.randrange(2**32)


def render_report(r: VerifyReport) -> str:
    """A policy version's result as text: a line when its invariants held, and for each
    violation the invariants broken, the counterexample input and the decision explained."""
    rejected = r.tried - r.valid
    tried = f"{r.tried} input(s) tried, {r.valid} valid" + (
        f", {rejected} rejected as bad input" if rejected else ""
    )
    if r.ok:
        return f"ok    {r.policy_id} {r.version}: {len(r.invariants)} invariant(s) held ({tried})"
    lines = []
    if r.problem is not None:
        lines.append(f"ERROR {r.policy_id} {r.version}: not verified: {r.problem} ({tried})")
    for v in r.violations:
        if v.error is not None:
            lines.append(
                f"FAIL  {r.policy_id} {r.version}: the policy fails on a valid input: {v.error}"
            )
        for inv in v.invariants:
            cites = f" cites {', '.join(inv.cites)}" if inv.cites else ""
            lines.append(f"FAIL  {r.policy_id} {r.version}: invariant {inv.name} does not hold")
            lines.append(f"  invariant {inv.name}{cites} {json.dumps(inv.description)}")
            lines.append(f"  at {inv.span.location()}")
            for i, ln in enumerate(inv.span.text().splitlines()):
                lines.append(f"  {inv.span.line + i:>5} | {ln}")
        lines.append("  counterexample input:")
        lines.append(_indent(json.dumps(v.input, indent=2, ensure_ascii=False), "    "))
        lines.append("  explanation:")
        lines.append(_indent(v.explanation, "    "))
    lines.append(f"  ({tried})")
    return "\n".join(lines)


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + ln if ln else ln for ln in text.splitlines())
