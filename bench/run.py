"""Side-by-side benchmark: Python floors vs GoRules Zen vs clausewise, measured in one run.

Usage::

    .venv/bin/python bench/run.py [--quick] [--json FILE] [--n N] [--repeats R] [--seed S]
                                   [--verify-only]

For each workload (W1 health thresholds, W2 promotion credit) the script

1. generates one deterministic input set (``bench/workloads.py``);
2. checks that every engine row returns exactly the floor's output on every input (Zen's output
   goes through :func:`normalise_zen` first; clausewise output is compared as is) -- a row that
   disagrees anywhere is reported and not timed;
3. times each row as the median, over ``--repeats`` passes, of the mean time per decision over the
   whole input set (``time.perf_counter_ns``, gc left enabled); the passes are interleaved across
   rows so that drift on the machine hits every row alike;
4. prints a table (engine, µs/decision, ratio to the floor) and the PASS / FAIL / SKIP checks.

Zen (``pip install zen-engine``) and clausewise are both optional: a missing one is reported
and its rows and checks are skipped. The exit status is 1 when a row disagrees with the floor or a
check fails, else 0. This is a benchmark that prints ratios, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
ZEN_DIR = BENCH_DIR / "zen"
POLICY_DIR = BENCH_DIR / "policies"

# Make `workloads` importable however the script is started, and `clausewise` importable from the
# source tree when it is not installed into the environment.
for _path in (str(BENCH_DIR), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from workloads import (  # noqa: E402
    w1_floor,
    w1_inputs,
    w1_strict_floor,
    w2_floor,
    w2_inputs,
    w2_strict_floor,
)

Input = dict[str, Any]
Output = dict[str, Any]
Decide = Callable[[Input], Any]

CLAUSEWISE_TRACE_LEVELS: tuple[str, ...] = ("off", "rules", "full")
STRICT_FLOOR = "floor (strict input)"
MAX_MISMATCHES_SHOWN = 3


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One benchmark workload: its inputs, floor, Zen graph and clausewise policy."""

    key: str
    title: str
    make_inputs: Callable[[int, int], list[Input]]
    floor: Callable[[Input], Output]
    strict_floor: Callable[[Input], Output]  # the floor after checking input as the engine does
    zen_file: str
    policy_id: str
    off_limit: float  # clausewise trace="off" must stay within this many floors
    full_limit: float  # clausewise trace="full" must stay within this many floors
    strict_off_limit: float = 1.3  # trace="off" within this many strict floors
    strict_full_limit: float = 3.0  # trace="full" within this many strict floors


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        key="w1",
        title="W1 health thresholds",
        make_inputs=w1_inputs,
        floor=w1_floor,
        strict_floor=w1_strict_floor,
        zen_file="w1.json",
        policy_id="bench/w1-health-thresholds",
        off_limit=3.0,
        full_limit=8.0,
    ),
    Workload(
        key="w2",
        title="W2 promotion credit",
        make_inputs=w2_inputs,
        floor=w2_floor,
        strict_floor=w2_strict_floor,
        zen_file="w2.json",
        policy_id="bench/w2-promotion-credit",
        off_limit=2.0,
        full_limit=8.0,
    ),
)


# --------------------------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One timed row of a workload table."""

    name: str
    decide: Decide  # what is timed: one call per input
    output_of: Callable[[Any], Output]  # turns decide()'s return value into a comparable output
    samples_us: list[float] = field(default_factory=list)
    problem: str | None = None  # set when the row disagrees with the floor; then it is not timed

    @property
    def us(self) -> float | None:
        """Median µs per decision over the timed passes, or None when the row was not timed."""
        return statistics.median(self.samples_us) if self.samples_us else None


def _first_line(exc: BaseException) -> str:
    """Return ``type: first line of message`` (Zen errors carry long Rust backtraces)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _money(value: Any) -> Any:
    """Write a Zen number as a two-decimal string (``600`` -> ``"600.00"``); keep anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return value
    return f"{Decimal(str(value)):.2f}"


def normalise_zen(result: Any) -> Output:
    """Turn a Zen ``evaluate`` response into the floor's output shape.

    The shipped graphs already return exactly the floor's JSON (``total_credit`` is formatted
    inside Zen with ``string()`` of a scale-2 decimal), so this only unwraps ``result``; a
    numeric ``total_credit`` (should a graph return one) is written with two decimals.
    """
    out = dict(result["result"])
    if "total_credit" in out:
        out["total_credit"] = _money(out["total_credit"])
    return out


@dataclass(frozen=True)
class Loaded:
    """An optional engine: the engine (None when unavailable) and a one-line description."""

    engine: Any | None
    note: str
    broken: bool = False  # importable but failed to load: its checks fail rather than skip


def load_zen() -> Loaded:
    """Load Zen on ``bench/zen``; the engine is None when zen-engine is not installed.

    The engine uses Zen's filesystem loader on ``bench/zen``, which compiles each graph once and
    caches it. (In zen-engine 2.1.3 this is also the fastest Python path: a Python callback
    loader is re-invoked on every evaluate, and ``create_decision(...).evaluate`` is about 20x
    slower; using the fastest path keeps the comparison conservative.)
    """
    try:
        import zen
    except ImportError as exc:
        return Loaded(None, f"zen-engine is not installed ({exc}); pip install zen-engine")
    if not hasattr(zen, "ZenEngine"):  # bench/zen/ itself can shadow a missing package
        return Loaded(None, "zen-engine is not installed; pip install zen-engine")
    try:
        version = metadata.version("zen-engine")
    except metadata.PackageNotFoundError:
        version = "unknown version"
    engine = zen.ZenEngine({"loader": {"type": "fs", "path": str(ZEN_DIR)}})
    return Loaded(engine, f"zen-engine {version} (fs loader on bench/zen)")


def load_clausewise() -> Loaded:
    """Load clausewise on ``bench/policies``.

    The engine is None when clausewise cannot be imported (then its rows are skipped) or when
    the policies fail to load (then its rows are reported as failing).
    """
    try:
        from clausewise import Engine
    except ImportError as exc:
        return Loaded(None, f"clausewise is not importable yet ({exc})")
    try:
        engine = Engine.from_directory(str(POLICY_DIR))
    except Exception as exc:
        note = f"clausewise could not load {POLICY_DIR}: {_first_line(exc)}"
        return Loaded(None, note, broken=True)
    return Loaded(engine, "clausewise (bench/policies)")


def build_rows(workload: Workload, zen_engine: Any | None, cw_engine: Any | None) -> list[Row]:
    """Return the rows to run for ``workload``: floor, Zen (if any), clausewise (if any)."""
    rows = [Row("floor (Python)", workload.floor, lambda out: out)]
    rows.append(Row(STRICT_FLOOR, workload.strict_floor, lambda out: out))
    if zen_engine is not None:
        evaluate, key, traced = zen_engine.evaluate, workload.zen_file, {"trace": True}
        rows.append(Row("zen (untraced)", lambda inp: evaluate(key, inp), normalise_zen))
        rows.append(Row("zen (traced)", lambda inp: evaluate(key, inp, traced), normalise_zen))
    if cw_engine is not None:
        # called as an application calls it, like the Zen rows: through a lambda (a
        # `functools.partial` with a keyword argument would add the cost of merging keyword
        # dictionaries on every call, about 0.3 µs, which is no part of the engine)
        cw_evaluate, pid = cw_engine.evaluate, workload.policy_id
        for level in CLAUSEWISE_TRACE_LEVELS:
            rows.append(
                Row(
                    f"clausewise (trace={level})",
                    lambda inp, level=level: cw_evaluate(pid, inp, trace=level),
                    lambda decision: decision.output,
                )
            )
    return rows


# --------------------------------------------------------------------------------------------
# Verification and timing
# --------------------------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    """Canonical JSON, so that ``True`` != ``1`` and ``"600.00"`` != ``600``."""
    return json.dumps(value, sort_keys=True, default=str)


def verify(row: Row, inputs: Sequence[Input], expected: Sequence[str]) -> None:
    """Set ``row.problem`` unless ``row`` returns the floor's output on every input."""
    bad: list[str] = []
    count = 0
    for inp, want in zip(inputs, expected, strict=True):
        try:
            got = _canonical(row.output_of(row.decide(inp)))
        except Exception as exc:
            got = f"raised {_first_line(exc)}"
        if got != want:
            count += 1
            if len(bad) < MAX_MISMATCHES_SHOWN:
                bad.append(f"    input {_canonical(inp)}\n      want {want}\n      got  {got}")
    if count:
        row.problem = f"MISMATCH on {count}/{len(inputs)} inputs\n" + "\n".join(bad)


def time_pass(decide: Decide, inputs: Sequence[Input]) -> float:
    """Return the mean µs per decision of one pass of ``decide`` over ``inputs``."""
    start = time.perf_counter_ns()
    for inp in inputs:
        decide(inp)
    return (time.perf_counter_ns() - start) / len(inputs) / 1000.0


def time_rows(rows: Sequence[Row], inputs: Sequence[Input], repeats: int) -> None:
    """Warm each verified row up once, then time ``repeats`` passes, interleaved across rows."""
    live = [row for row in rows if row.problem is None]
    for row in live:
        time_pass(row.decide, inputs)
    for _ in range(repeats):
        for row in live:
            row.samples_us.append(time_pass(row.decide, inputs))


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One required check and its outcome."""

    name: str
    status: str  # PASS, FAIL or SKIP
    detail: str


def _row(rows: Sequence[Row], name: str) -> Row | None:
    return next((row for row in rows if row.name == name), None)


def _ratio_check(
    name: str, row: Row | None, floor_us: float, limit: float, missing: Check
) -> Check:
    """Check that ``row`` runs within ``limit`` times the floor (``missing`` when it is absent)."""
    if row is None:
        return Check(name, missing.status, missing.detail)
    if row.us is None:
        return Check(name, "FAIL", f"{row.name} disagrees with the floor")
    ratio = row.us / floor_us
    status = "PASS" if ratio <= limit else "FAIL"
    return Check(name, status, f"{ratio:.2f}x floor (limit {limit:g}x)")


def _faster_check(name: str, fast: Row | None, slow: Row | None, missing: Check) -> Check:
    """Check that ``fast`` takes less time per decision than ``slow`` (``missing`` if absent)."""
    if fast is None or slow is None:
        return Check(name, missing.status, missing.detail)
    if fast.us is None or slow.us is None:
        return Check(name, "FAIL", "a row disagrees with the floor")
    status = "PASS" if fast.us < slow.us else "FAIL"
    return Check(name, status, f"{fast.us:.2f} µs vs {slow.us:.2f} µs ({slow.us / fast.us:.2f}x)")


def run_checks(workload: Workload, rows: Sequence[Row], zen: Loaded, cw: Loaded) -> list[Check]:
    """Evaluate the required checks for one workload.

    A check whose engine is absent is SKIPped, except when clausewise is importable but its
    policies do not load: then its checks FAIL.
    """
    floor = _row(rows, "floor (Python)")
    assert floor is not None and floor.us is not None
    cw_missing = (
        Check("", "FAIL", "clausewise failed to load (see above)")
        if cw.broken
        else Check("", "SKIP", "clausewise unavailable (see above)")
    )
    zen_missing = Check("", "SKIP", "zen unavailable (see above)")
    cw_off = _row(rows, "clausewise (trace=off)")
    cw_full = _row(rows, "clausewise (trace=full)")
    zen_plain = _row(rows, "zen (untraced)")
    zen_traced = _row(rows, "zen (traced)")
    label = workload.key.upper()
    strict = _row(rows, STRICT_FLOOR)
    strict_us = strict.us if strict is not None and strict.us else None
    checked = rows[1:]
    wrong = [row.name for row in checked if row.problem]
    agree = Check(
        f"{label} engine outputs equal the floor on every input",
        "FAIL" if wrong else "PASS",
        f"disagreeing: {', '.join(wrong)}" if wrong else f"{len(checked)} engine rows agree",
    )
    return [
        agree,
        _ratio_check(
            f"{label} clausewise off within {workload.off_limit:g}x floor",
            cw_off,
            floor.us,
            workload.off_limit,
            cw_missing,
        ),
        _ratio_check(
            f"{label} clausewise full within {workload.full_limit:g}x floor",
            cw_full,
            floor.us,
            workload.full_limit,
            cw_missing,
        ),
        *(
            [
                _ratio_check(
                    f"{label} clausewise off within {workload.strict_off_limit:g}x strict floor",
                    cw_off,
                    strict_us,
                    workload.strict_off_limit,
                    cw_missing,
                ),
                _ratio_check(
                    f"{label} clausewise full within {workload.strict_full_limit:g}x strict floor",
                    cw_full,
                    strict_us,
                    workload.strict_full_limit,
                    cw_missing,
                ),
            ]
            if strict_us is not None
            else [Check(f"{label} strict floor", "FAIL", "the strict floor disagrees")]
        ),
        _faster_check(
            f"{label} clausewise off faster than zen untraced",
            cw_off,
            zen_plain,
            cw_missing if cw_off is None else zen_missing,
        ),
        _faster_check(
            f"{label} clausewise full faster than zen traced",
            cw_full,
            zen_traced,
            cw_missing if cw_full is None else zen_missing,
        ),
    ]


def print_table(workload: Workload, rows: Sequence[Row], n: int, repeats: int) -> None:
    """Print one workload's table: engine, µs/decision, ratio to the floor."""
    floor_us = rows[0].us
    print(f"\n{workload.title}: {n} inputs x {repeats} repeats, median of per-pass means")
    strict = _row(rows, STRICT_FLOOR)
    strict_us = strict.us if strict is not None else None
    print(f"  {'engine':<26} {'µs/decision':>12} {'x floor':>9} {'x strict':>9}")
    print(f"  {'-' * 26} {'-' * 12} {'-' * 9} {'-' * 9}")
    for row in rows:
        if row.us is None or floor_us is None:
            print(f"  {row.name:<26} {'--':>12} {'--':>9}  {(row.problem or '').splitlines()[0]}")
        else:
            vs_strict = f"{row.us / strict_us:>9.2f}" if strict_us else f"{'--':>9}"
            print(f"  {row.name:<26} {row.us:>12.2f} {row.us / floor_us:>9.2f} {vs_strict}")
    for row in rows:
        if row.problem:
            print(f"  {row.name}: {row.problem}")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer inputs and repeats (smoke run)")
    parser.add_argument(
        "--n", type=int, help="inputs per workload (default 2000; 300 with --quick)"
    )
    parser.add_argument("--repeats", type=int, help="timed passes (default 5; 3 with --quick)")
    parser.add_argument("--seed", type=int, default=20221226, help="input generator seed")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the figures here")
    parser.add_argument(
        "--verify-only", action="store_true", help="check outputs against the floors, no timing"
    )
    args = parser.parse_args(argv)
    args.n = args.n or (300 if args.quick else 2000)
    args.repeats = args.repeats or (3 if args.quick else 5)
    if args.n < 1 or args.repeats < 1:
        parser.error("--n and --repeats must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    args = parse_args(argv)
    zen, cw = load_zen(), load_clausewise()
    print(f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    print(f"zen:        {zen.note}")
    print(f"clausewise: {'ERROR: ' if cw.broken else ''}{cw.note}")

    report: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "zen": zen.note,
        "clausewise": cw.note,
        "n": args.n,
        "repeats": args.repeats,
        "seed": args.seed,
        "workloads": {},
        "checks": [],
    }
    checks: list[Check] = []
    ok = True
    for workload in WORKLOADS:
        inputs = workload.make_inputs(args.n, args.seed)
        expected = [_canonical(workload.floor(inp)) for inp in inputs]
        rows = build_rows(workload, zen.engine, cw.engine)
        for row in rows[1:]:
            verify(row, inputs, expected)
            ok &= row.problem is None
        if args.verify_only:
            for row in rows[1:]:
                status = "agrees" if row.problem is None else row.problem
                print(f"{workload.title}: {row.name}: {status} ({len(inputs)} inputs)")
            continue
        time_rows(rows, inputs, args.repeats)
        print_table(workload, rows, args.n, args.repeats)
        checks.extend(run_checks(workload, rows, zen, cw))
        floor_us = rows[0].us
        report["workloads"][workload.key] = {
            "title": workload.title,
            "rows": [
                {
                    "engine": row.name,
                    "us_per_decision": row.us,
                    "ratio_to_floor": None if row.us is None or not floor_us else row.us / floor_us,
                    "samples_us": row.samples_us,
                    "problem": row.problem,
                }
                for row in rows
            ],
        }

    if checks:
        print("\nChecks")
        for check in checks:
            print(f"  {check.status} {check.name}: {check.detail}")
    ok &= all(check.status != "FAIL" for check in checks)
    report["checks"] = [check.__dict__ for check in checks]
    report["ok"] = ok
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
