"""Benchmark (issue 7): `cs import claude-code` throughput and memory, and `cs statusline` latency.

Generates realistic Claude Code JSONL (user lines with large tool results, assistant responses
written as two content-block lines repeating usage), imports it with the real `cs` in a
subprocess against a temp COSTHQ_HOME, and reports MB/s and the child's peak RSS at two sizes
(flat memory = the same peak for 50 MB and 200 MB). Then times `cs statusline` against
`python -c pass` (the interpreter floor) and `cs status --json` measured in the same run.

Usage: .venv/bin/python bench/import.py [--mb 200] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CS = str(Path(sys.executable).with_name("cs"))


def generate(root: Path, megabytes: int) -> int:
    """Write ~`megabytes` MB of transcripts in 20 files; returns the number of distinct calls."""
    target, written, calls = megabytes * 1_000_000, 0, 0
    files = [root / f"projects/-bench-{i % 4}/session-{i}.jsonl" for i in range(20)]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
    handles = [f.open("w", encoding="utf-8") for f in files]
    filler = "lorem ipsum dolor sit amet " * 150
    try:
        while written < target:
            fh = handles[calls % len(handles)]
            ts = f"2026-11-{1 + calls % 20:02d}T{calls % 24:02d}:{calls % 60:02d}:00.000Z"
            user = json.dumps({"type": "user", "cwd": "/bench/repo", "timestamp": ts, "message": {
                "role": "user", "content": [{"type": "tool_result", "content": filler}]}})
            usage = {"input_tokens": 12, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 40000,
                     "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 0},
                     "output_tokens": 420}
            lines = [user]
            for block in ("thinking", "text"):
                lines.append(json.dumps({
                    "type": "assistant", "cwd": "/bench/repo", "timestamp": ts, "requestId": f"req_{calls}",
                    "uuid": f"u{calls}{block}", "message": {
                        "id": f"msg_{calls}", "model": "claude-sonnet-4-5-20250929", "role": "assistant",
                        "content": [{"type": block, "text": filler[:900]}], "usage": usage}}))
            chunk = "\n".join(lines) + "\n"
            fh.write(chunk)
            written += len(chunk)
            calls += 1
    finally:
        for fh in handles:
            fh.close()
    return calls


def run_import(home: Path, data: Path, src: Path) -> tuple[float, dict[str, object], int]:
    env = {**os.environ, "HOME": str(home), "COSTHQ_HOME": str(data)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run([CS, "import", "claude-code", "--path", str(src), "--json"], env=env, capture_output=True,
                         text=True, check=True)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, json.loads(out.stdout), max(peak, before)


def timed(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=False)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        print(f"{'size MB':>8} {'calls':>7} {'seconds':>8} {'MB/s':>7} {'peak RSS MB':>12}")
        for mb in sorted({max(args.mb // 4, 1), args.mb}):
            src = base / f"src{mb}"
            generate(src, mb)
            size = sum(f.stat().st_size for f in src.rglob("*.jsonl")) / 1e6
            secs, doc, peak_kb = run_import(base / "home", base / f"data{mb}", src)
            print(f"{size:8.1f} {doc['imported']:7d} {secs:8.2f} {size / secs:7.1f} {peak_kb / 1024:12.1f}")
        env = {**os.environ, "HOME": str(base / "home"), "COSTHQ_HOME": str(base / f"data{args.mb}")}
        rows = [("python -c pass (floor)", timed([sys.executable, "-c", "pass"], env, args.runs)),
                ("cs status --json (baseline)", timed([CS, "status", "--json"], env, args.runs)),
                ("cs statusline", timed([CS, "statusline"], env, args.runs))]
        base_med = statistics.median(rows[1][1])
        print(f"\n{'command':30} {'median ms':>10} {'p95 ms':>8} {'vs status':>10}")
        for name, s in rows:
            p95 = sorted(s)[max(0, int(len(s) * 0.95) - 1)]
            print(f"{name:30} {statistics.median(s):10.1f} {p95:8.1f} {statistics.median(s) / base_med:10.2f}")


if __name__ == "__main__":
    main()
