"""Decision service benchmark: decisions/s and latency over HTTP, with the durable log on and off,
side by side with the same decisions made in-process.

    python bench/serve.py [--duration 10] [--connections 32] [--policy ID --input FILE]

The load generator is wrk (Debian package `wrk`), run on the same machine as the server, so the
figures include its share of the CPU. Each HTTP run starts a fresh `clausewise serve` on a
loopback port; the durable run uses a SQLite log (WAL, synchronous=FULL, group commit) in a
temporary folder and checks afterwards that every decision wrk saw answered is in the log.
The machine's load average is printed with the figures: on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
DEFAULT_POLICY = "promotions/amazon-ads-click-credit-q4-2022"
DEFAULT_INPUT = REPO / "examples" / "amazon-click-credit.json"

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("CW_BODY_FILE")):read("*a")
"""


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
        return f"{one:.2f} (1 min), {five:.2f} (5 min)"
    except OSError:
        return "unknown"


def _start(policies: Path, log: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    err = workdir / f"server-{time.monotonic_ns()}.err"
    stream = open(err, "wb")  # noqa: SIM115 (the server process writes it until it stops)
    proc = subprocess.Popen(
        [sys.executable, "-m", "clausewise.cli", "serve", "--policies", str(policies),
         "--log", log, "--port", "0", "--no-watch"],
        stdout=subprocess.DEVNULL, stderr=stream, cwd=workdir,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(r"listening on (http://[^ ]+)", err.read_text(errors="replace"))
        if m:
            url = m.group(1)
            for _ in range(500):
                try:
                    if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                        return proc, url, err
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    raise SystemExit(f"the server did not start:\n{err.read_text(errors='replace')}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _seconds(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def _wrk(
    url: str, body_file: Path, script: Path, duration: int, connections: int
) -> dict[str, Any]:
    env = {**os.environ, "CW_BODY_FILE": str(body_file)}
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, env=env, timeout=duration + 60, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    return {
        "rps": rps,
        "requests": total,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
        "p50": _seconds(lat["50"]),
        "p99": _seconds(lat["99"]),
    }


def _in_process(
    policies: Path, policy: str, data: Any, seconds: float, explained: bool
) -> dict[str, float]:
    """The decision the service makes per request, minus HTTP and the log (trace off); with
    `explained`, what reading its record back costs: traced at `rules`, explained, and its
    trace as JSON."""
    from clausewise import Engine

    engine = Engine.from_directory(policies)
    times: list[float] = []
    end = time.perf_counter() + seconds
    perf = time.perf_counter
    cpu0 = time.thread_time()
    while perf() < end:
        t0 = perf()
        if explained:
            d = engine.evaluate(policy, data, trace="rules")
            d.explain()
            _ = d.trace
        else:
            engine.evaluate(policy, data)
        times.append(perf() - t0)
    cpu = time.thread_time() - cpu0
    times.sort()
    return {
        "rps": len(times) / sum(times),
        "cpu_per_decision": cpu / len(times),
        "p50": times[len(times) // 2],
        "p99": times[int(len(times) * 0.99)],
    }


def _count_logged(url: str) -> int:
    from clausewise.log import open_log

    log = open_log(url, create=False)
    try:
        n, after = 0, None
        while True:
            page, after = log.query(limit=1000, after=after)
            n += len(page)
            if after is None:
                return n
    finally:
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policies", default=str(REPO / "policies"))
    ap.add_argument("--policy", default=DEFAULT_POLICY)
    ap.add_argument("--input", default=str(DEFAULT_INPUT))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk, or `make bench-serve`)")
    data = json.loads(Path(args.input).read_text())
    print(f"policy {args.policy}, input {args.input}")
    print(f"machine: {os.cpu_count()} CPUs, load average before: {_load()}")
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="cw-bench-serve-") as tmp:
        work = Path(tmp)
        body = work / "body.json"
        body.write_text(json.dumps({"input": data}))
        script = work / "post.lua"
        script.write_text(WRK_SCRIPT)
        for name, log in (
            ("HTTP, durable SQLite log", f"sqlite:///{work / 'log.db'}"),
            ("HTTP, log off", "off"),
        ):
            proc, url, _ = _start(Path(args.policies), log, work)
            try:
                target = f"{url}/v1/decisions/{args.policy}"
                _wrk(target, body, script, 2, args.connections)  # warm-up
                before = _count_logged(log) if log != "off" else 0
                cpu0 = _cpu_seconds(proc.pid)
                res = _wrk(target, body, script, args.duration, args.connections)
                res["cpu_per_decision"] = (_cpu_seconds(proc.pid) - cpu0) / max(res["requests"], 1)
            finally:
                _stop(proc)
            if log != "off":
                logged = _count_logged(log) - before
                ok = res["requests"] - res["non_2xx"]
                # wrk stops mid-flight: a request it cut off may be logged without being counted
                res["logged"] = logged
                res["all_acknowledged_logged"] = logged >= ok
            rows.append((name, res))
        rows.append(
            (
                "in-process, explained (a read)",
                _in_process(Path(args.policies), args.policy, data, 3, True),
            )
        )
        rows.append(
            (
                "in-process, same decisions",
                _in_process(Path(args.policies), args.policy, data, 3, False),
            )
        )
    print(f"load average after: {_load()}")
    print()
    print(f"{'':32} {'decisions/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'CPU us':>7}  notes")
    base = rows[-1][1]["rps"]
    for name, r in rows:
        notes = []
        if "non_2xx" in r:
            notes.append(f"{r['requests']} requests, {r['non_2xx']} non-2xx")
            if r["socket_errors"]:
                notes.append(f"socket errors {r['socket_errors']}")
        if "logged" in r:
            notes.append(
                f"{r['logged']} logged, every acknowledged one logged: {r['all_acknowledged_logged']}"
            )
        notes.append(f"{r['rps'] / base:.3f}x in-process")
        print(
            f"{name:32} {r['rps']:12.0f} {r['p50'] * 1e3:8.2f} {r['p99'] * 1e3:8.2f} "
            f"{r['cpu_per_decision'] * 1e6:7.0f}  {'; '.join(notes)}"
        )
    durable = rows[0][1]
    print()
    print(
        "CPU us: CPU time of the server process (or of the in-process loop) per decision; on a "
        "shared machine it says more than the wall-clock figures"
    )
    print(
        f"target: >= 4000 decisions/s and p99 < 20 ms with the durable log: "
        f"{durable['rps']:.0f}/s, p99 {durable['p99'] * 1e3:.1f} ms -> "
        + ("met" if durable["rps"] >= 4000 and durable["p99"] < 0.020 else "NOT met")
    )


if __name__ == "__main__":
    main()
