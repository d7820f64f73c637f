"""Benchmark: the seller account health policy on one large input, against the hand-written floor.

Usage::

    .venv/bin/python bench/health.py [--n 50000] [--seed 7] [--repeats 5] [--trace off]

Generates one input of ``--n`` orders with ``tests.generators.seller_portfolio_inputs.generate_orders``,
checks that clausewise (``policies/``, policy ``health/amazon-seller-account-health``) returns
exactly the output of the single-pass floor ``tests.oracles.contracts.seller_health_fast``, then times
both on that same input (median of ``--repeats`` runs each, interleaved) and prints the time per
decision and the ratio. The check "clausewise within 3x the floor" prints PASS or FAIL; the exit
status is 1 on a FAIL or a mismatch.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from clausewise import Engine  # noqa: E402
from clausewise.engine.store import PolicyStore  # noqa: E402
from tests.generators.seller_portfolio_inputs import generate_orders  # noqa: E402
from tests.oracles.contracts import seller_health_fast  # noqa: E402

POLICY_ID = "health/amazon-seller-account-health"
LIMIT = 3.0


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _time_ms(fn: Any, data: Any) -> tuple[float, float]:
    """Wall time and this process's CPU time of one call, in ms."""
    start, cpu = time.perf_counter_ns(), time.process_time_ns()
    fn(data)
    return (time.perf_counter_ns() - start) / 1e6, (time.process_time_ns() - cpu) / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000, help="orders in the input")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--trace", default="off", choices=("off", "rules", "full"))
    args = ap.parse_args(argv)

    data = generate_orders(args.n, args.seed)
    # not strict: a problem in another policy under policies/ does not stop this benchmark
    engine = Engine(PolicyStore.load(ROOT / "policies", strict=False))

    def clausewise(d: Any) -> Any:
        return engine.evaluate(POLICY_ID, d, trace=args.trace).output

    floor = seller_health_fast.decide

    expected = floor(copy.deepcopy(data))
    actual = clausewise(copy.deepcopy(data))
    if _canonical(actual) != _canonical(expected):
        print("MISMATCH: clausewise and the floor disagree on the generated input")
        for key in expected:
            if _canonical(expected[key]) != _canonical(actual.get(key)):
                print(f"  {key}: floor {_canonical(expected[key])[:300]}")
                print(f"  {key}: clausewise {_canonical(actual.get(key))[:300]}")
        return 1

    floor_ms: list[tuple[float, float]] = []
    engine_ms: list[tuple[float, float]] = []
    for _ in range(args.repeats):  # interleaved, so drift on the machine hits both alike
        floor_ms.append(_time_ms(floor, data))
        engine_ms.append(_time_ms(clausewise, data))
    f, e = (statistics.median(t for t, _ in ms) for ms in (floor_ms, engine_ms))
    f_cpu, e_cpu = (statistics.median(c for _, c in ms) for ms in (floor_ms, engine_ms))
    ratio = e / f
    orders, returns = len(data["orders"]), len(data["return_requests"])
    print(f"input: {orders} orders, {returns} return requests (seed {args.seed}); outputs agree")
    print(f"median of {args.repeats} runs             wall ms   CPU ms")
    print(f"floor (seller_health_fast)   {f:9.1f} {f_cpu:8.1f}")
    print(f"clausewise (trace={args.trace:<5})     {e:9.1f} {e_cpu:8.1f}")
    print(f"ratio                        {ratio:8.2f}x {e_cpu / f_cpu:7.2f}x")
    verdict = "PASS" if ratio <= LIMIT else "FAIL"
    print(f"{verdict}: clausewise trace={args.trace} within {LIMIT:g}x the floor")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
