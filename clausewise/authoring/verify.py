"""`clausewise verify`: search for inputs that break a policy's invariants.

The search starts from the inputs of the policy's test cases and from inputs generated from its
input JSON Schema (hypothesis-jsonschema, with strategies for the formats the engine reads:
`date`, `date-time`, `decimal`, `rate`, `time-zone`, and the currency of `money`). Every input
is decided with a full trace; an input that reaches a rule, a branch outcome or a count of
firings not seen before is kept and mutated further (see `inputsearch`), with the policy's own
constants (thresholds, dates, durations, counts) as the values mutations move towards. An input
the policy turns away as bad input is repaired where the error points. Each invariant's first
counterexample is shrunk to a small one.

The search is bounded (`max_examples` valid inputs per policy version, five times as many
tries) and repeats exactly for a given seed. Its report says what the inputs covered: rules
fired, table rows matched, conditions seen both ways, and how many inputs were rejected.
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

from ..dsl.typed import Program, TInvariant
from ..engine.compiler import compile_variant
from ..engine.runtime import CurrencyError, InputError
from ..engine.store import LoadedPolicy, PolicyStore
from ..engine.trace import Trace
from .inputsearch import (
    Bank,
    Mutator,
    clone,
    parse_pointer,
    policy_constants,
    repair_candidates,
    shrink,
)

DEFAULT_MAX_EXAMPLES = 1000

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
    tried: int = 0  # inputs generated
    valid: int = 0  # of them decided (after repair)
    rejected: int = 0  # of them turned away as bad input
    repaired: int = 0  # of those, made valid by changing what the input error named
    seeds: int = 0  # inputs of the test cases the search started from
    violations: list[Violation] = field(default_factory=list)
    problem: str | None = None  # the search could not run (e.g. a schema it cannot generate)
    rules_total: int = 0
    rules_fired: int = 0
    rows_total: int = 0
    rows_matched: int = 0
    branches_total: int = 0
    branches_both: int = 0  # conditions seen both true and false
    never_fired: list[str] = field(default_factory=list)

    def coverage_warnings(self) -> list[str]:
        """Why the search may have missed counterexamples: what it did not reach."""
        out = []
        if self.rules_total + self.rows_total and self.never_fired:
            shown = ", ".join(self.never_fired[:8]) + (", ..." if len(self.never_fired) > 8 else "")
            out.append(f"rules never fired: {shown}")
        if self.branches_total and self.branches_both < 0.8 * self.branches_total:
            out.append(
                f"only {self.branches_both} of {self.branches_total} conditions were seen both true and false"
            )
        if self.tried and self.rejected - self.repaired > 0.5 * self.tried:
            out.append(
                f"{self.rejected - self.repaired} of {self.tried} generated inputs were rejected as bad input"
            )
        return out

    @property
    def ok(self) -> bool:
        return not self.violations and self.problem is None


# ---- strategies ----


def policy_literals(prog: Program) -> tuple[list[dt.date], list[str]]:
    """The dates (and dates of instants) and currencies the policy text mentions: inputs near
    them reach the interesting branches far more often than dates drawn from decades."""
    found = policy_constants(prog)
    return found.dates, found.currencies


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
    from ..engine.runtime import to_zone

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


def fresh_inputs(lp: LoadedPolicy, count: int, seed: int) -> list[Any]:
    """`count` inputs drawn from the input schema (hypothesis-jsonschema), the same for a seed."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hseed
    from hypothesis.errors import HypothesisWarning

    strategy = input_strategy(lp)
    drawn: list[Any] = []
    collect = settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=False,
        verbosity=Verbosity.quiet,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )(given(strategy)(lambda data: drawn.append(copy.deepcopy(data))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HypothesisWarning)
        hseed(seed)(collect)()
    return drawn


def test_case_inputs(lp: LoadedPolicy) -> list[Any]:
    """The inputs of the test cases beside a policy version that expect a decision."""
    from .testfile import read_test_file

    out: list[Any] = []
    for f in sorted(lp.path.parent.glob("*.test.yaml")):
        tf = read_test_file(f)
        doc = tf.data
        if not isinstance(doc, dict) or doc.get("policy") != lp.id:
            continue
        if doc.get("version") not in (None, lp.version):
            continue
        for case in doc.get("cases") or []:
            if not isinstance(case, dict) or "error" in case:
                continue
            try:
                if isinstance(case.get("input_file"), str):
                    text = (f.parent / case["input_file"]).read_text(encoding="utf-8")
                    out.append(json.loads(text))
                elif "input" in case:
                    out.append(json.loads(json.dumps(case["input"], default=str)))
            except (OSError, ValueError):
                continue
    return out


@dataclass
class _Outcome:
    valid: bool
    error: Exception | None = None  # the input error, or the policy's own failure
    broken: list[str] = field(default_factory=list)
    features: set[tuple[Any, ...]] = field(default_factory=set)
    trace: Trace | None = None


class _Search:
    """One policy version's search: evaluation with coverage, repair, and the loop."""

    def __init__(self, lp: LoadedPolicy, report: VerifyReport, seed: int):
        from .testing import _outside_branch_coverage

        self.lp = lp
        self.report = report
        self.rng = random.Random(seed)
        prog = lp.program
        self.compiled = lp.compiled
        self.full = self.compiled.variants["full"].decide
        self.invariants = compile_variant(prog, "full", with_invariants=True).decide
        self.ops = {site.sid: site.op for site in prog.sites}
        self.rules = [r for r in prog.rules]
        self.branch_sites = [
            s.sid for s in prog.sites if s.kind == "cmp" and not _outside_branch_coverage(prog, s)
        ]
        self.rule_yes = [0] * len(prog.rules)
        self.site_yes = [0] * len(prog.sites)
        self.site_no = [0] * len(prog.sites)
        self.closest: dict[int, float] = {}  # site -> the least distance to its missing outcome
        self.seen: set[tuple[Any, ...]] = set()
        self.corpus: list[Any] = []
        self.bank = Bank()
        self.mutator = Mutator(self.rng, policy_constants(prog), self.bank)

    def evaluate(self, data: Any) -> _Outcome:
        compiled = self.compiled
        trace = Trace(compiled.ops, rules=len(self.rules))
        try:
            inp = compiled.convert_input_traced(clone(data))
            value = self.full(inp, trace)
        except (InputError, CurrencyError) as e:
            return _Outcome(False, e)
        except Exception as e:
            return _Outcome(True, e)
        try:
            compiled.write_output(value)
            # traced, so that the invariants' own comparisons steer the search too
            results = list(self.invariants(inp, trace, value))
        except (InputError, CurrencyError) as e:
            return _Outcome(False, e)
        except Exception as e:
            return _Outcome(True, e)
        out = _Outcome(True, None, [name for name, ok in results if not ok], trace=trace)
        feats = out.features
        for rid, (y, n) in enumerate(zip(trace.rule_yes, trace.rule_no, strict=False)):
            if y:
                feats.add(("r", rid, True, _bucket(y)))
            if n:
                feats.add(("r", rid, False))
        for sid, (y, n) in enumerate(zip(trace.site_yes, trace.site_no, strict=True)):
            if y:
                feats.add(("s", sid, True))
                feats.add(("sb", sid, True, _bucket(y)))
            if n:
                feats.add(("s", sid, False))
                feats.add(("sb", sid, False, _bucket(n)))
        return out

    def record(self, data: Any, out: _Outcome) -> None:
        """Count what a valid input covered; keep it for mutation when it reached anything new."""
        trace = out.trace
        if trace is not None:
            for rid, y in enumerate(trace.rule_yes):
                self.rule_yes[rid] += y
            for sid in self.branch_sites:
                self.site_yes[sid] += trace.site_yes[sid]
                self.site_no[sid] += trace.site_no[sid]
        new = out.features - self.seen
        closer = self._closer(trace) if trace is not None else False
        if new or closer:
            self.seen |= new
            self.corpus.append(data)

    def _closer(self, trace: Trace) -> bool:
        """Whether the input came closer than any before to the outcome a comparison never had
        (its operands nearer to each other): such inputs are kept, so that mutating them
        further reaches it (a count nearer to a floor, a date nearer to a period's edge)."""
        gained = False
        for sid, a, b in _comparisons(trace.events):
            if ("s", sid, True) in self.seen and ("s", sid, False) in self.seen:
                continue
            d = _distance(a, b)
            if d is None:
                continue
            best = self.closest.get(sid)
            if best is None or d < best:
                self.closest[sid] = d
                gained = gained or best is not None
        return gained

    def repaired(self, data: Any, out: _Outcome) -> tuple[Any, _Outcome]:
        """Try to turn a rejected input into a valid one by changing what each error names."""
        for _ in range(4):
            err = out.error
            path = parse_pointer(getattr(err, "path", None) or "")
            if not path:
                return data, out
            fixed = None
            for candidate in repair_candidates(data, path, self.bank, self.rng)[:6]:
                attempt = self.evaluate(candidate)
                if attempt.valid:
                    return candidate, attempt
                if getattr(attempt.error, "path", None) != getattr(err, "path", None):
                    fixed = (candidate, attempt)  # this error is gone: fix the next one
                    break
            if fixed is None:
                return data, out
            data, out = fixed
        return data, out

    def next_input(self, queue: list[Any]) -> Any:
        if queue and (not self.corpus or self.rng.random() < 0.35):
            return queue.pop(0)
        if not self.corpus:
            return None
        # the newest inputs most often: they are the latest progress towards what is missing
        r = self.rng.random()
        if r < 0.3:
            parent = self.corpus[-1]
        else:
            parent = self.rng.choice(self.corpus[-16:] if r < 0.65 else self.corpus)
        steps = 1 + min(3, int(self.rng.expovariate(1.0)))
        return self.mutator.mutate(parent, steps)

    def coverage(self) -> None:
        r = self.report
        rules = [m for m in self.rules if m.kind != "row"]
        rows = [m for m in self.rules if m.kind == "row"]
        r.rules_total = len(rules)
        r.rules_fired = sum(1 for m in rules if self.rule_yes[m.rid])
        r.rows_total = len(rows)
        r.rows_matched = sum(1 for m in rows if self.rule_yes[m.rid])
        r.never_fired = [_rule_label(m) for m in self.rules if not self.rule_yes[m.rid]]
        r.branches_total = len(self.branch_sites)
        r.branches_both = sum(1 for s in self.branch_sites if self.site_yes[s] and self.site_no[s])


def _comparisons(events: Any) -> Iterator[tuple[int, Any, Any]]:
    """(site, left, right) of every comparison recorded in a trace, nested ones included."""
    for e in events:
        if e[0] == "cmp":
            yield e[1], e[2], e[3]
        elif e[0] == "rule" and e[4]:
            yield from _comparisons(e[4])


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float | Decimal):
        return float(v)
    amount = getattr(v, "amount", None)
    if isinstance(amount, Decimal):
        return float(amount)
    if isinstance(v, dt.datetime):
        return v.timestamp() / 86400
    if isinstance(v, dt.date):
        return float(v.toordinal())
    if isinstance(v, dt.timedelta):
        return v.total_seconds() / 86400
    return None


def _distance(a: Any, b: Any) -> float | None:
    """How far apart two compared values are (a value and a range: how far outside it)."""
    try:
        return _distance_of(a, b)
    except Exception:  # a value with no distance (a date past the calendar, say)
        return None


def _distance_of(a: Any, b: Any) -> float | None:
    x = _number(a)
    if x is None:
        return None
    start, end = getattr(b, "start", None), getattr(b, "end", None)
    if start is not None and end is not None:
        lo, hi = _number(start), _number(end)
        if lo is None or hi is None:
            return None
        return max(lo - x, x - hi, 0.0)
    y = _number(b)
    return None if y is None else abs(x - y)


def _bucket(n: int) -> int:
    """How many times, in powers of two: 1, 2-3, 4-7, ... (a list that makes a rule fire
    many more times is new coverage)."""
    return n.bit_length()


def _rule_label(m: Any) -> str:
    return f"{m.owner}.{m.name}" if m.owner and m.kind == "rule" else m.name


def verify_policy(
    store: PolicyStore,
    lp: LoadedPolicy,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int = 0,
) -> VerifyReport:
    """Search for inputs that break the invariants of one policy version.

    The search starts from the inputs of the policy's test cases and from inputs drawn from
    its input schema, then mutates the inputs that reached new rules, branches or counts; an
    input the policy rejects is repaired where the error points. It stops after `max_examples`
    valid inputs (or five times as many tries), or when every invariant is broken."""
    from .. import Engine

    prog = lp.program
    report = VerifyReport(lp.id, lp.version, list(prog.invariants))
    if not prog.invariants:
        return report
    search = _Search(lp, report, seed)
    seeds = test_case_inputs(lp)
    try:
        fresh = fresh_inputs(lp, max(8, min(max_examples // 8, 40)), seed)
    except Exception as e:  # a schema hypothesis-jsonschema cannot generate from
        if not seeds:
            report.problem = f"cannot generate inputs from the input schema: {e}"
            return report
        fresh = []
    for data in (*seeds, *fresh):
        search.bank.add(data)
    report.seeds = len(seeds)
    queue = [*seeds, *fresh]
    by_name = {inv.name: inv for inv in prog.invariants}
    pending = set(by_name)
    found: list[tuple[Any, list[str], Exception | None]] = []
    for _ in range(max_examples * 5):
        if report.valid >= max_examples or not pending:
            break
        data = search.next_input(queue)
        if data is None:
            break
        report.tried += 1
        out = search.evaluate(data)
        if not out.valid:
            report.rejected += 1
            data, out = search.repaired(data, out)
            if not out.valid:
                continue
            report.repaired += 1
        report.valid += 1
        if out.error is not None:
            found.append((data, [], out.error))
            break  # the policy fails on this input: the invariants wait for a fix
        search.record(data, out)
        broken = [n for n in out.broken if n in pending]
        if broken:
            found.append((data, broken, None))
            pending -= set(broken)
    search.coverage()
    if report.valid == 0 and report.tried:
        report.problem = (
            f"no valid input found in {report.tried} tries: every generated input was "
            "rejected as bad input"
        )
    engine = Engine(store)
    for data, broken, error in found:
        small = shrink(data, _still_fails(search, broken, error))
        report.violations.append(
            Violation(
                small,
                [by_name[n] for n in broken],
                _explain(engine, lp, small),
                None if error is None else f"{type(error).__name__}: {error}",
            )
        )
    return report


def _still_fails(
    search: _Search, broken: list[str], error: Exception | None
) -> Callable[[Any], bool]:
    """Whether an input still breaks the same invariants (or fails the same way); untraced,
    since shrinking decides many inputs and needs no coverage."""
    compiled = search.compiled
    decide = compiled.variants["off"].decide
    check = invariant_checker(search.lp)

    def fails(data: Any) -> bool:
        try:
            inp = compiled.convert_input(clone(data))
            value = decide(inp, None)
            compiled.write_output(value)
            results = check(inp, value)
        except (InputError, CurrencyError):
            return False
        except Exception as e:
            return error is not None and type(e) is type(error)
        if error is not None:
            return False
        failing = {name for name, ok in results if not ok}
        return set(broken) <= failing

    return fails


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
    from ..engine.store import version_key

    reports = []
    for pid in store.ids():
        for version in sorted(store.policies[pid], key=version_key):
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
    violation the invariants broken, the counterexample input and the decision explained; then
    what the generated inputs covered, with a warning when it is little."""
    tried = f"{r.tried} input(s) tried, {r.valid} valid"
    if r.rejected:
        tried += f", {r.rejected} rejected as bad input"
        if r.repaired:
            tried += f" ({r.repaired} of them repaired)"
    lines = []
    if r.ok:
        lines.append(
            f"ok    {r.policy_id} {r.version}: {len(r.invariants)} invariant(s) held ({tried})"
        )
    else:
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
    if r.tried:
        lines.append("  " + coverage_line(r))
        for w in r.coverage_warnings():
            lines.append(f"  warning: low coverage: {w}")
    return "\n".join(lines)


def coverage_line(r: VerifyReport) -> str:
    """What the inputs of a search covered, in one line."""
    parts = [f"rules fired {_fraction(r.rules_fired, r.rules_total)}"]
    if r.rows_total:
        parts.append(f"table rows matched {_fraction(r.rows_matched, r.rows_total)}")
    parts.append(f"conditions both ways {_fraction(r.branches_both, r.branches_total)}")
    rejected = 100.0 * r.rejected / r.tried if r.tried else 0.0
    parts.append(f"{rejected:.0f}% of inputs rejected")
    seeds = f", from {r.seeds} test case input(s)" if r.seeds else ""
    return "coverage: " + ", ".join(parts) + seeds


def _fraction(n: int, total: int) -> str:
    return f"{n}/{total} ({100.0 * n / total:.0f}%)" if total else "0/0"


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + ln if ln else ln for ln in text.splitlines())
