"""`cs` latency: median/p95 wall time of hot commands, plus 8 processes x 100 `log-ai` at once.

Run: .venv/bin/python bench/cli_latency.py [--runs 30]
Baseline: a bare `python -c pass` measured in the same run (the interpreter floor).
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
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

CS = str(Path(sys.executable).with_name("cs"))


def timed(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{cmd} failed: {p.stderr.decode()}")
    return elapsed * 1000


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def worker(args: tuple[int, dict[str, str], str, int]) -> int:
    sid, env, cwd, n = args
    errors = 0
    for _ in range(n):
        p = subprocess.run([CS, "log-ai", "-p", "anthropic", "-m", "claude-sonnet-4", "--prompt-tokens", "1234",
                            "--completion-tokens", "567", "-s", str(sid), "--json"], env=env, cwd=cwd,
                           capture_output=True)
        errors += p.returncode != 0
    return errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--per-proc", type=int, default=100)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="costhq-bench-")
    env = {**os.environ, "COSTHQ_HOME": f"{tmp}/data", "HOME": tmp}
    cwd = tmp
    subprocess.run([CS, "start", "bench", "--json"], env=env, cwd=cwd, check=True, capture_output=True)
    log = [CS, "log-ai", "-p", "anthropic", "-m", "claude-sonnet-4", "--prompt-tokens", "8000",
           "--completion-tokens", "2000", "--json"]
    rows: list[tuple[str, list[float]]] = []
    rows.append(("python -c pass (baseline)", [timed([sys.executable, "-c", "pass"], env, cwd) for _ in range(a.runs)]))
    timed(log, env, cwd)  # warm the price index cache
    rows.append(("cs log-ai --json", [timed(log, env, cwd) for _ in range(a.runs)]))
    rows.append(("cs status --json", [timed([CS, "status", "--json"], env, cwd) for _ in range(a.runs)]))
    subprocess.run([CS, "end", "--json"], env=env, cwd=cwd, check=True, capture_output=True)
    startend = []
    for i in range(a.runs):
        startend.append(timed([CS, "start", f"s{i}", "--json"], env, cwd) + timed([CS, "end", "--json"], env, cwd))
    rows.append(("cs start + cs end --json", startend))
    base = statistics.median(rows[0][1])
    print(f"{'command':34} {'median ms':>10} {'p95 ms':>8} {'x baseline':>10}")
    for name, xs in rows:
        print(f"{name:34} {statistics.median(xs):10.1f} {pct(xs, 0.95):8.1f} {statistics.median(xs) / base:10.2f}")

    sid = json.loads(subprocess.run([CS, "start", "concurrency", "--json"], env=env, cwd=cwd, check=True,
                                    capture_output=True).stdout)["id"]
    t = time.perf_counter()
    with ThreadPoolExecutor(a.procs) as pool:
        errors = sum(pool.map(worker, [(sid, env, cwd, a.per_proc)] * a.procs))
    wall = time.perf_counter() - t
    shown = json.loads(subprocess.run([CS, "show", str(sid), "--json"], env=env, cwd=cwd, check=True,
                                      capture_output=True).stdout)
    expected = Decimal(a.procs * a.per_proc) * (Decimal(1234) * 3 + Decimal(567) * 15) / Decimal(1_000_000)
    stored = sum(Decimal(str(u["cost"])) for u in shown["aiUsage"])
    print(f"\nconcurrency: {a.procs} processes x {a.per_proc} log-ai: {len(shown['aiUsage'])} rows of "
          f"{a.procs * a.per_proc}, errors {errors}, session aiCost {shown['aiCost']} (expected {expected}, "
          f"rows sum {stored}), wall {wall:.1f} s")


if __name__ == "__main__":
    main()
