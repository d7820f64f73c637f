"""Benchmark: cost that grows linearly with the input.

Usage::

    .venv/bin/python bench/linear.py [--sizes 250,500,1000,2000] [--repeats 5]
    .venv/bin/python bench/linear.py --health [--health-sizes 1000,10000,100000,1000000]

``--health``: the seller account health policy (``policies/``) against the hand-written single
pass ``tests.oracles.contracts.seller_health_fast``, at each number of orders. The time per
order is measured in one process holding the inputs of every size: ``--rounds`` rounds (default
10), each timing every size in turn, the engine and then the hand-written pass, each sample
deciding at least 300,000 orders in all (many decisions of a small input, one of 1,000,000
orders). A slow spell of the shared machine so falls on all sizes alike, every size gets as many
samples, and each size's figure is its best round. The time is the process's CPU time. Peak
memory (``ru_maxrss``: the input, the decision and everything it keeps alive) is measured with
each side and size in a process of its own, whose output the two sides must agree on. Two checks
print PASS or FAIL: the engine's cost per order is flat (the largest over the smallest of the
best times within 1.15) and its peak memory at the largest size is at most 1.2x the hand-written
pass's. The exit status is 1 on a FAIL or a mismatch.

Without ``--health``:

Writes two policies to a temporary folder: one checks that order ids are unique and finds
stays that start before the previous one (by check-in date) ends with `unique` and `pairs`;
the other computes the same with the n^2 comprehensions a policy needed before
(`count(p for p in xs where p.id == o.id) > 1`, and "the stay with the least later check-in").
Both must give the same output on every input; then each is timed (the fastest of ``--repeats``
runs, the figure least disturbed by other work on the machine)
at each size, and the script prints the time per decision, the growth factor from the previous
size (about 2x per doubling for linear work, 4x for quadratic) and the ratio between the two.
The check "the aggregates grow at most 2.6x per doubling" prints PASS or FAIL; the exit status
is 1 on a FAIL or a mismatch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from clausewise import Engine  # noqa: E402

HEADER = """policy "bench/{name}"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"
"""

LINEAR = """
let ids_unique = unique(o.id for o in input.orders)
let overlaps = count(p for p in pairs(s for s in input.stays order by s.from) where p.next.from < p.item.to)
output {ids_unique: ids_unique, overlaps: overlaps}
"""

QUADRATIC = """
let ids_unique = not any(o for o in input.orders where count(p for p in input.orders where p.id == o.id) > 1)
let next_of(s) = first(t for t in input.stays where t.from > s.from or (t.from == s.from and t.seq > s.seq) order by t.from)
let overlaps = count(s for s in input.stays where with n = next_of(s): n is not null and n.from < s.to)
output {ids_unique: ids_unique, overlaps: overlaps}
"""

SCHEMA = {
    "type": "object",
    "properties": {
        "orders": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}},
                "required": ["id"],
            },
        },
        "stays": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "seq": {"type": "integer"},
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                },
                "required": ["seq", "from", "to"],
            },
        },
    },
    "required": ["orders", "stays"],
}


def make_input(n: int, seed: int) -> dict[str, Any]:
    """`n` orders with distinct ids (the worst case for the nested scan) and `n` stays."""
    rng = random.Random(seed)
    start = dt.date(2026, 1, 1)
    stays = []
    for i in range(n):
        a = start + dt.timedelta(days=rng.randrange(3 * n))
        b = a + dt.timedelta(days=rng.randrange(1, 4))
        stays.append({"seq": i, "from": a.isoformat(), "to": b.isoformat()})
    # distinct check-in dates keep "the next stay" the same under either ordering
    seen: set[str] = set()
    unique_stays = []
    for s in stays:
        if s["from"] not in seen:
            seen.add(s["from"])
            unique_stays.append(s)
    return {"orders": [{"id": f"o{i}"} for i in range(n)], "stays": unique_stays}


def write_policies(root: Path) -> None:
    for name, body in (("linear", LINEAR), ("quadratic", QUADRATIC)):
        folder = root / "bench" / name
        folder.mkdir(parents=True)
        (folder / "1.0.0.cw").write_text(HEADER.format(name=name) + body)
        (folder / "input.schema.json").write_text(json.dumps(SCHEMA))
        (folder / "output.schema.json").write_text("{}")


def best_time(engine: Engine, pid: str, data: dict[str, Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        engine.evaluate(pid, data)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return min(times)


HEALTH_ID = "health/amazon-seller-account-health"
FLAT_LIMIT = 1.15
MEMORY_LIMIT = 1.2


def health_child(who: str, n: int, seed: int) -> None:
    """One size in this process: prints a JSON line of the time per order, the peak memory and
    a digest of the output."""
    import gc
    import hashlib
    import resource

    from clausewise.engine.store import PolicyStore
    from tests.generators.seller_portfolio_inputs import generate_orders
    from tests.oracles.contracts import seller_health_fast

    if who == "engine":
        engine = Engine(PolicyStore.load(ROOT / "policies", strict=False))

        def decide(d: Any) -> Any:
            return engine.evaluate(HEALTH_ID, d).output

    else:
        decide = seller_health_fast.decide
    data = generate_orders(n, seed)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    spent = 0.0
    while len(times) < 5 or (spent < 1.5 and len(times) < 500):
        t0 = time.process_time()
        out = decide(data)
        t = time.process_time() - t0
        times.append(t)
        spent += t
        del out
    out = decide(data)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    digest = hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()[:16]
    print(
        json.dumps(
            {
                "us_per_order": min(times) / n * 1e6,
                "peak_mb": peak / 1024,
                "input_mb": before / 1024,
                "runs": len(times),
                "digest": digest,
            }
        )
    )


# each timed sample decides at least this many orders in all (a sample of small inputs is many
# decisions): every size gets the same number of samples, each long enough to time
SAMPLE_ORDERS = 300_000


def health_timing_child(sizes: list[int], seed: int, rounds: int) -> None:
    """The time per order of both sides at every size, in this one process: `rounds` rounds,
    each timing every size in turn (engine, then the hand-written pass), so that a slow spell
    of the machine falls on all sizes alike rather than on one; prints a JSON line of every
    sample's time per order, by side and size."""
    import gc

    from clausewise.engine.store import PolicyStore
    from tests.generators.seller_portfolio_inputs import generate_orders
    from tests.oracles.contracts import seller_health_fast

    engine = Engine(PolicyStore.load(ROOT / "policies", strict=False))
    sides = {
        "engine": lambda d: engine.evaluate(HEALTH_ID, d).output,
        "hand": seller_health_fast.decide,
    }
    data = {n: generate_orders(n, seed) for n in sizes}
    gc.collect()
    gc.freeze()  # the inputs are not walked again by each collection
    samples: dict[str, dict[int, list[float]]] = {w: {n: [] for n in sizes} for w in sides}
    for _ in range(rounds):
        for n in sizes:
            times = max(1, -(-SAMPLE_ORDERS // n))
            for who, decide in sides.items():
                t0 = time.process_time()
                for _ in range(times):
                    decide(data[n])
                spent = time.process_time() - t0
                samples[who][n].append(spent / (times * n) * 1e6)
    print(json.dumps({w: {str(n): v for n, v in by.items()} for w, by in samples.items()}))


def health_main(sizes: list[int], seed: int, rounds: int) -> int:
    import subprocess

    def child(*args: str) -> dict[str, Any] | None:
        cmd = [sys.executable, __file__, *args, "--seed", str(seed)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
            return None
        out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return out

    header = (
        f"{'orders':>9} {'engine us/order':>16} {'hand us/order':>14} {'ratio':>6}"
        f" {'engine peak MB':>15} {'hand peak MB':>13} {'ratio':>6}"
    )
    # memory: each side and size in a process of its own (its peak is that run's alone); the
    # outputs of the two sides must agree
    memory: dict[int, dict[str, dict[str, Any]]] = {}
    for n in sizes:
        got = {}
        for who in ("engine", "hand"):
            res = child("--health-child", who, str(n))
            if res is None:
                return 1
            got[who] = res
        if got["engine"]["digest"] != got["hand"]["digest"]:
            print(f"MISMATCH at {n} orders: the engine and the hand-written pass disagree")
            return 1
        memory[n] = got
    # time: all sizes in one process, interleaved over the rounds
    timing = child("--health-timing", ",".join(map(str, sizes)), "--rounds", str(rounds))
    if timing is None:
        return 1
    print(f"us per order in each of {rounds} rounds (engine / hand-written)")
    print(f"{'orders':>9}  " + "  ".join(f"{'round ' + str(r + 1):>13}" for r in range(rounds)))
    for n in sizes:
        cells = "  ".join(
            f"{e:>6.3f}/{h:<6.3f}"
            for e, h in zip(timing["engine"][str(n)], timing["hand"][str(n)], strict=True)
        )
        print(f"{n:>9}  {cells}")
    print("the best round per size and side (time); peak memory of a run of its own")
    print(header)
    for n in sizes:
        e = {**memory[n]["engine"], "us_per_order": min(timing["engine"][str(n)])}
        h = {**memory[n]["hand"], "us_per_order": min(timing["hand"][str(n)])}
        print(_health_row(n, e, h))
    costs = [min(timing["engine"][str(n)]) for n in sizes]
    flat = max(costs) / min(costs)
    worst_memory = memory[sizes[-1]]["engine"]["peak_mb"] / memory[sizes[-1]]["hand"]["peak_mb"]
    ok_flat = flat <= FLAT_LIMIT
    ok_memory = worst_memory <= MEMORY_LIMIT
    print(
        f"{'PASS' if ok_flat else 'FAIL'}: engine cost per order from {sizes[0]:,} to "
        f"{sizes[-1]:,} orders within {FLAT_LIMIT:.2f}x (largest / smallest = {flat:.2f})"
    )
    print(
        f"{'PASS' if ok_memory else 'FAIL'}: engine peak memory at {sizes[-1]:,} orders at most "
        f"{MEMORY_LIMIT:g}x the hand-written pass's ({worst_memory:.2f}x)"
    )
    return 0 if ok_flat and ok_memory else 1


def _health_row(n: int, e: dict[str, Any], h: dict[str, Any]) -> str:
    return (
        f"{n:>9} {e['us_per_order']:>16.3f} {h['us_per_order']:>14.3f}"
        f" {e['us_per_order'] / h['us_per_order']:>6.2f}"
        f" {e['peak_mb']:>15.0f} {h['peak_mb']:>13.0f} {e['peak_mb'] / h['peak_mb']:>6.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,500,1000,2000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--health", action="store_true", help="the account health scaling table")
    parser.add_argument("--health-sizes", default="1000,10000,100000,1000000")
    parser.add_argument(
        "--rounds", type=int, default=10, help="--health: time every size this many times"
    )
    parser.add_argument("--health-child", nargs=2, metavar=("WHO", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--health-timing", metavar="SIZES", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.health_child:
        health_child(args.health_child[0], int(args.health_child[1]), args.seed)
        return 0
    if args.health_timing:
        sizes = [int(x) for x in args.health_timing.split(",")]
        health_timing_child(sizes, args.seed, max(1, args.rounds))
        return 0
    if args.health:
        sizes = [int(s) for s in args.health_sizes.split(",")]
        return health_main(sizes, args.seed, max(1, args.rounds))
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        write_policies(Path(tmp))
        engine = Engine.from_directory(tmp)
        ok = True
        prev: dict[str, float] = {}
        growth_lin: list[float] = []
        print(f"{'n':>6} {'unique/pairs ms':>16} {'x':>6} {'nested ms':>12} {'x':>6} {'ratio':>8}")
        for n in sizes:
            data = make_input(n, args.seed)
            lin_out = engine.evaluate("bench/linear", data).output
            quad_out = engine.evaluate("bench/quadratic", data).output
            if lin_out != quad_out:
                print(f"MISMATCH at n={n}: {lin_out} != {quad_out}")
                return 1
            lin = best_time(engine, "bench/linear", data, args.repeats)
            quad = best_time(engine, "bench/quadratic", data, args.repeats)
            g_lin = lin / prev["lin"] if prev else float("nan")
            g_quad = quad / prev["quad"] if prev else float("nan")
            if prev:
                growth_lin.append(g_lin)
            print(
                f"{n:>6} {lin:>16.2f} {g_lin:>6.2f} {quad:>12.2f} {g_quad:>6.2f} {quad / lin:>8.1f}"
            )
            prev = {"lin": lin, "quad": quad}
        worst = max(growth_lin, default=0.0)
        ok = worst <= 2.6
        print(f"{'PASS' if ok else 'FAIL'}: unique/pairs grow at most {worst:.2f}x per doubling")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
