"""Benchmark: `unique(...)` and `pairs(...)` against the nested comprehensions they replace.

Usage::

    .venv/bin/python bench/linear.py [--sizes 250,500,1000,2000] [--repeats 5]

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,500,1000,2000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
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
