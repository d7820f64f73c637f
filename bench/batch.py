"""Batch benchmark: `Engine.evaluate_batch` against a hand-written pyarrow floor and against a
loop over `Engine.evaluate`, measured side by side in one run.

Usage::

    .venv/bin/python bench/batch.py [--quick] [--rows N] [--w2-rows N] [--sellers N] [--repeats R]

1. W1 over ``--rows`` rows (default 1,000,000), as an Arrow table of decimal strings:
   ``evaluate_batch`` (one thread per CPU, and one thread), the pyarrow floor (one thread, whole
   columns: the same pattern check, the same exact decimal128 comparisons, the same list column)
   and the ``evaluate`` loop over the same rows as dicts. Checks: at least 2,000,000 decisions/s
   through ``evaluate_batch``, and within 1.5x of the floor.
2. W2 over ``--w2-rows`` rows (default 100,000) and account health over ``--sellers`` sellers of
   1 to 50 orders (default 100,000): ``evaluate_batch`` from an Arrow table and from the dicts,
   against the ``evaluate`` loop (these policies read lists, so the batch path decides them row
   by row), and against the loop over the Arrow table's rows (``to_pylist()``, then the loop).
   Checks: ``evaluate_batch`` from the dicts takes at most the dict loop's time, and from the
   Arrow table at most the time of the loop over its rows (at most 1.0x each).

Every batch result is compared with the loop's outputs, row for row, before anything is timed.
Times are the best of ``--repeats`` passes (wall clock), interleaved across rows. This prints
ratios; it is not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(BENCH_DIR), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from workloads import W1_TARGETS, w1_inputs, w2_inputs  # noqa: E402

from clausewise import Engine  # noqa: E402
from clausewise.batch import result_rows  # noqa: E402

W1 = "bench/w1-health-thresholds"
W2 = "bench/w2-promotion-credit"
HEALTH = "health/amazon-seller-account-health"
W1_RATE = 2_000_000  # decisions/s through evaluate_batch
W1_FLOOR_LIMIT = 1.5  # evaluate_batch within this many floors
ROWS_LIMIT = 1.0  # W2 and account health: evaluate_batch within this many evaluate loops

DEC = pa.decimal128(38, 18)
_RATE_TEXT = r"^[0-9]{1,18}(\.[0-9]{1,18})?$"


def w1_arrow_floor(table: pa.Table) -> pa.Table:
    """W1 by hand in pyarrow, one thread, whole columns: each rate checked against the rate
    pattern, read as decimal128 (exact), compared with its target; the names missed as a list
    column (in name order) and `at_risk`. Rows whose text is not a rate get null outputs."""
    import numpy as np

    names = sorted(W1_TARGETS)
    ok: Any = None
    masks = []
    for name in names:
        col = table.column(name).combine_chunks()
        valid = pc.fill_null(pc.match_substring_regex(col, _RATE_TEXT), False)
        ok = valid if ok is None else pc.and_(ok, valid)
        value = pc.cast(pc.if_else(valid, col, "0"), DEC)
        masks.append(
            pc.greater_equal(value, pa.scalar(W1_TARGETS[name], DEC)).to_numpy(zero_copy_only=False)
        )
    m = np.column_stack(masks)
    n = table.num_rows
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(m.sum(axis=1, dtype=np.int32), out=offsets[1:])
    which = np.nonzero(m.ravel())[0] % len(names)
    values = pa.array(names).take(pa.array(which.astype(np.int32)))
    violations = pa.ListArray.from_arrays(pa.array(offsets), values, mask=pc.invert(ok))
    at_risk = pc.if_else(ok, pa.array(m.any(axis=1)), pa.scalar(None, pa.bool_()))
    return pa.table({"violations": violations, "at_risk": at_risk})


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def loop(engine: Engine, pid: str, inputs: list[Any]) -> list[Any]:
    evaluate = engine.evaluate
    out = []
    for inp in inputs:
        try:
            out.append({"output": evaluate(pid, inp).output})
        except Exception as e:
            out.append({"error": getattr(e, "code", repr(e))})
    return out


def _comparable(engine: Engine, pid: str, table: pa.Table) -> list[Any]:
    rows = result_rows(table, engine.policy(pid).program.output_schema)
    return [
        {"output": r["output"]} if "output" in r else {"error": r["error"]["code"]} for r in rows
    ]


def _line(name: str, seconds: float, n: int, base: float | None, what: str = "x") -> str:
    ratio = f"{seconds / base:>8.2f}{what}" if base else f"{'':>9}"
    return f"  {name:<40} {seconds:>8.3f} s {n / seconds / 1e6:>9.3f} M/s {ratio}"


def run_w1(engine: Engine, n: int, repeats: int) -> list[tuple[str, bool, str]]:
    inputs = w1_inputs(n, 1)
    table = pa.Table.from_pylist(inputs)
    print(f"\nW1 health thresholds: {n:,} rows (best of {repeats})")
    print(f"  {'path':<40} {'time':>10} {'decisions/s':>13} {'x floor':>9}")
    threads = os.cpu_count() or 1
    rows: dict[str, tuple[float, Any]] = {}
    for _ in range(repeats):  # interleaved, best of each
        for name, fn in (
            ("pyarrow floor (1 thread)", lambda: w1_arrow_floor(table)),
            (
                f"evaluate_batch ({threads} threads)",
                lambda: engine.evaluate_batch(W1, table),
            ),
            ("evaluate_batch (1 thread)", lambda: engine.evaluate_batch(W1, table, threads=1)),
        ):
            t, out = best_of(fn, 1)
            if name not in rows or t < rows[name][0]:
                rows[name] = (t, out)
    loop_n = n
    t_loop, loop_out = best_of(lambda: loop(engine, W1, inputs), 1)
    floor_t, _floor_out = rows["pyarrow floor (1 thread)"]
    want = [o["output"] for o in loop_out]
    for name, (_t, out) in rows.items():
        got = out.select(["violations", "at_risk"]).to_pylist()
        if got != want:
            raise SystemExit(f"W1: {name} disagrees with the evaluate loop")
    for name, (t, _out) in rows.items():
        print(_line(name, t, n, floor_t))
    print(_line("evaluate loop", t_loop, loop_n, floor_t))
    batch_t = rows[f"evaluate_batch ({threads} threads)"][0]
    one_t = rows["evaluate_batch (1 thread)"][0]
    rate = n / batch_t
    return [
        (
            f"W1 evaluate_batch at {W1_RATE:,} decisions/s or more",
            rate >= W1_RATE,
            f"{rate:,.0f}/s",
        ),
        (
            f"W1 evaluate_batch within {W1_FLOOR_LIMIT}x the pyarrow floor",
            batch_t / floor_t <= W1_FLOOR_LIMIT,
            f"{batch_t / floor_t:.2f}x ({threads} threads), {one_t / floor_t:.2f}x (1 thread)",
        ),
        (
            "W1 evaluate_batch faster than the evaluate loop",
            batch_t < t_loop,
            f"{t_loop / batch_t:.1f}x faster",
        ),
    ]


def run_rows(
    engine: Engine, title: str, pid: str, inputs: list[Any], repeats: int
) -> list[tuple[str, bool, str]]:
    n = len(inputs)
    t_table, table = best_of(lambda: pa.Table.from_pylist(inputs), 1)
    print(f"\n{title}: {n:,} rows (best of {repeats}; building the Arrow table: {t_table:.2f} s)")
    print(f"  {'path':<40} {'time':>10} {'decisions/s':>13} {'x loop':>9}")
    paths: dict[str, Callable[[], Any]] = {
        "evaluate loop": lambda: loop(engine, pid, inputs),
        "evaluate loop (table.to_pylist() first)": lambda: loop(engine, pid, table.to_pylist()),
        "evaluate_batch (Arrow table in)": lambda: engine.evaluate_batch(pid, table),
        "evaluate_batch (dicts in)": lambda: engine.evaluate_batch(pid, inputs),
    }
    rows: dict[str, tuple[float, Any]] = {}
    for _ in range(repeats):  # interleaved, best of each
        for name, fn in paths.items():
            t, out = best_of(fn, 1)
            if name not in rows or t < rows[name][0]:
                rows[name] = (t, out)
    t_loop, want = rows["evaluate loop"]
    for name, (_t, out) in rows.items():
        got = out if name.startswith("evaluate loop") else _comparable(engine, pid, out)
        if got != want:
            raise SystemExit(f"{title}: {name} disagrees with the loop")
    for name, (t, _out) in rows.items():
        print(_line(name, t, n, t_loop))
    checks = [(f"{title}: batch results equal the loop's", True, f"{n:,} rows")]
    # each batch path against the loop a caller writes from the same data: over the dicts, and
    # over the Arrow table's rows (which must first become Python values, as in the batch path)
    for name, base in (
        ("Arrow table in", "evaluate loop (table.to_pylist() first)"),
        ("dicts in", "evaluate loop"),
    ):
        t, t_base = rows[f"evaluate_batch ({name})"][0], rows[base][0]
        checks.append(
            (
                f"{title}: evaluate_batch ({name}) within {ROWS_LIMIT}x the {base}",
                t / t_base <= ROWS_LIMIT,
                f"{t / t_base:.2f}x",
            )
        )
    return checks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--rows", type=int, help="W1 rows (default 1,000,000)")
    ap.add_argument("--w2-rows", type=int, help="W2 rows (default 100,000)")
    ap.add_argument("--sellers", type=int, help="account-health sellers (default 100,000)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    w2_rows = args.w2_rows or (5_000 if args.quick else 100_000)
    sellers = args.sellers or (1_000 if args.quick else 100_000)

    bench = Engine.from_directory(BENCH_DIR / "policies")
    shipped = Engine.from_directory(ROOT / "policies")
    print(f"pyarrow {pa.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    checks = run_w1(bench, rows, args.repeats)
    checks += run_rows(bench, "W2 promotion credit", W2, w2_inputs(w2_rows, 1), args.repeats)

    from tests.generators.seller_portfolio_inputs import generate_orders

    sellers_in = [generate_orders(1 + i % 50, i) for i in range(sellers)]
    orders = sum(len(s["orders"]) for s in sellers_in)
    checks += run_rows(
        shipped,
        f"Account health ({sellers:,} sellers, {orders:,} orders)",
        HEALTH,
        sellers_in,
        args.repeats,
    )
    print("\nChecks")
    ok = True
    for name, passed, detail in checks:
        ok &= passed
        print(f"  {'PASS' if passed else 'FAIL'} {name}: {detail}")
    print(json.dumps({"w1_rows": rows, "w2_rows": w2_rows, "sellers": sellers}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
