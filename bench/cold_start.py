"""Cold start: how long a new process takes to import clausewise, load every policy and decide once.

Usage::

    .venv/bin/python bench/cold_start.py [--policies DIR] [--policy ID --input FILE]
                                         [--runs N] [--limit SECONDS]

Each run is a new Python process (``subprocess``) that imports clausewise, loads every policy
under ``--policies`` (``Engine.from_directory``) and makes one decision. The figure is the median
over ``--runs`` of the wall time from starting the process to its exit (interpreter start-up
included), compared with ``--limit`` (0.5 s): PASS or FAIL, and the exit status is 1 on FAIL.
The child also reports its own split (import, load, decide) and its CPU time; on a busy machine
the CPU time is the steadier figure.

One run before the timed ones is not counted: it fills the caches a machine keeps between
processes (Python's bytecode, clausewise's parser tables and schema checks, see
``clausewise/dsl/cache.py``). The first run's time is printed too. Bytecode is written to a
temporary folder (``PYTHONPYCACHEPREFIX``), never beside the sources, and is used even where
``PYTHONDONTWRITEBYTECODE`` is set, as it is for an installed package; ``--no-bytecode`` measures
without it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
c0 = time.process_time()
import clausewise
t1 = time.perf_counter()
engine = clausewise.Engine.from_directory(sys.argv[1])
t2 = time.perf_counter()
with open(sys.argv[3], encoding="utf-8") as f:
    data = json.load(f)
decision = engine.evaluate(sys.argv[2], data)
t3 = time.perf_counter()
print(json.dumps({
    "policies": len(engine.store.policies),
    "versions": sum(len(v) for v in engine.store.policies.values()),
    "import": t1 - t0, "load": t2 - t1, "decide": t3 - t2,
    "cpu": time.process_time() - c0,
    "output": decision.output,
}))
"""


def run_once(args: argparse.Namespace, env: dict[str, str]) -> dict[str, float]:
    cmd = [sys.executable, "-c", CHILD, str(args.policies), args.policy, str(args.input)]
    before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    process_cpu = _children_cpu() - before
    if proc.returncode != 0:
        sys.exit(f"the child process failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    result["process_cpu"] = process_cpu if process_cpu >= 0 else float("nan")
    return result


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes (-1 where unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return -1.0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policies", type=Path, default=ROOT / "policies")
    ap.add_argument("--policy", default="promotions/amazon-ads-click-credit-q4-2022")
    ap.add_argument("--input", type=Path, default=ROOT / "examples" / "amazon-click-credit.json")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--limit", type=float, default=0.5, help="seconds (default 0.5)")
    ap.add_argument("--no-bytecode", action="store_true", help="compile every module from source")
    args = ap.parse_args()

    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="clausewise-pyc-") as pyc:
        if args.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = pyc
        first = run_once(args, env)
        runs = [run_once(args, env) for _ in range(args.runs)]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    wall = med("wall")
    print(
        f"cold start: import clausewise, load {first['versions']} policy version(s) of "
        f"{first['policies']} policies from {args.policies}, decide {args.policy} once"
    )
    print(f"first run (filling the caches): {first['wall']:.3f} s")
    print(
        f"median of {args.runs} runs: {wall:.3f} s wall; {med('process_cpu'):.3f} s CPU for the "
        f"whole process, {med('cpu'):.3f} s after start-up (wall: import {med('import'):.3f} s, "
        f"load {med('load'):.3f} s, decide {med('decide'):.4f} s)"
    )
    walls = ", ".join(f"{r['wall']:.3f}" for r in runs)
    print(f"runs: {walls} s")
    if wall > 1.5 * med("process_cpu"):
        print(
            f"note: the wall time is {wall / med('process_cpu'):.1f}x the CPU time: the machine is "
            "busy, and the wall time is mostly waiting for a CPU"
        )
    verdict = "PASS" if wall <= args.limit else "FAIL"
    print(f"{verdict}: {wall:.3f} s {'<=' if verdict == 'PASS' else '>'} {args.limit} s")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
