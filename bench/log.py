"""Group commit in the decision log, measured side by side in one run.

Usage::

    .venv/bin/python bench/log.py [--clients 32] [--seconds 3] [--repeats 3] [--postgresql URL]

Each row appends real decision records (a shipped policy's decision with its rules-level
explanation and trace) from `--clients` concurrent clients, each waiting for its record to be
durable before sending the next, as a request of `clausewise serve` does. The rows:

- `group commit`: the log as shipped; every record that arrives while a commit is in flight
  goes into the next transaction (one fsync for all of them);
- `commit per record`: the same log with one record per transaction (`max_batch = 1`), the
  design a log without group commit has.

Rows alternate within each repeat so drift on the machine hits both alike; the medians are
printed with the ratio. Every acknowledged record is then counted in the log: a row whose count
differs from its acknowledgements fails (exit 1). SQLite by default (WAL, synchronous=FULL);
`--postgresql URL` adds the same two rows on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clausewise import Engine  # noqa: E402
from clausewise.server import outcome_of  # noqa: E402
from clausewise.log import DecisionLog, DecisionRecord, new_decision_id, open_log  # noqa: E402
from clausewise.log.base import GroupCommitLog  # noqa: E402

POLICY = "promotions/amazon-ads-click-credit-q4-2022"


def sample_record() -> dict[str, Any]:
    """The fields of one real decision of a shipped policy, to be stamped with new ids."""
    engine = Engine.from_directory(ROOT / "policies")
    data = json.loads((ROOT / "examples" / "amazon-click-credit.json").read_text())
    decision = engine.evaluate(POLICY, data, trace="rules")
    schema = json.loads((ROOT / "policies" / POLICY / "output.schema.json").read_text())
    return {
        "policy": POLICY,
        "version": decision.version,
        "revision": "sha256:" + "0" * 64,
        "input": data,
        "output": decision.output,
        "outcome": outcome_of(decision.output, schema),
        "explanation": decision.explain(),
        "trace": decision.trace,
    }


async def load(
    log: DecisionLog, fields: dict[str, Any], clients: int, seconds: float
) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def client() -> int:
        sent = 0
        while time.monotonic() < stop:
            record = DecisionRecord(new_decision_id(), dt.datetime.now(dt.UTC), **fields)
            started = time.perf_counter()
            await asyncio.wrap_future(log.append([record]))
            latencies.append(time.perf_counter() - started)
            sent += 1
        return sent

    counts = await asyncio.gather(*(client() for _ in range(clients)))
    return sum(counts), latencies


def run_row(
    url: str, batch: int, fields: dict[str, Any], clients: int, seconds: float
) -> dict[str, float]:
    saved = GroupCommitLog.max_batch
    GroupCommitLog.max_batch = batch
    try:
        log = open_log(url)
        assert isinstance(log, GroupCommitLog)
        before = _count(log)
        acknowledged, latencies = asyncio.run(load(log, fields, clients, seconds))
        commits = log.commits
        log.close()
    finally:
        GroupCommitLog.max_batch = saved
    with open_log(url) as again:
        stored = _count(again) - before
    latencies.sort()
    return {
        "per_second": acknowledged / seconds,
        "per_commit": acknowledged / max(commits, 1),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "lost": acknowledged - stored,
    }


def _count(log: DecisionLog) -> int:
    total, after = 0, None
    while True:
        page, after = log.query(limit=10_000, after=after)
        total += len(page)
        if after is None:
            return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgresql", help="also measure a PostgreSQL log at this URL")
    args = parser.parse_args()

    fields = sample_record()
    size = len(json.dumps(fields))
    stores = [("sqlite", f"sqlite:///{tempfile.mkdtemp(prefix='clausewise-bench-')}/log.db")]
    if args.postgresql:
        stores.append(("postgresql", args.postgresql))
    rows = [("group commit", GroupCommitLog.max_batch), ("commit per record", 1)]
    print(
        f"{args.clients} clients, {args.seconds:g} s per run, median of {args.repeats}; "
        f"one record is {size / 1024:.1f} KB of JSON ({POLICY})"
    )
    failed = False
    for store, url in stores:
        results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in rows}
        for _ in range(args.repeats):
            for name, batch in rows:
                results[name].append(run_row(url, batch, fields, args.clients, args.seconds))
        print(f"\n{store}")
        print(f"  {'':20} {'records/s':>10} {'per commit':>11} {'p50 ms':>8} {'p99 ms':>8}")
        medians = {}
        for name, _ in rows:
            runs = results[name]
            m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            medians[name] = m
            lost = sum(r["lost"] for r in runs)
            failed |= lost != 0
            print(
                f"  {name:20} {m['per_second']:10.0f} {m['per_commit']:11.1f} "
                f"{m['p50_ms']:8.2f} {m['p99_ms']:8.2f}" + (f"  FAIL: {lost} lost" if lost else "")
            )
        ratio = medians["group commit"]["per_second"] / medians["commit per record"]["per_second"]
        print(f"  group commit / commit per record: {ratio:.1f}x records/s")
    print("\nFAIL" if failed else "\nPASS: every acknowledged record is in the log")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
