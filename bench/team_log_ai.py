"""`cs log-ai` latency with the SQLite file vs. a PostgreSQL database on loopback (issue 16).

Run: .venv/bin/python bench/team_log_ai.py [--runs 40]

Starts a throwaway PostgreSQL cluster (tests/postgres/cluster.py: initdb + pg_ctl on 127.0.0.1,
scram-sha-256 password auth, fsync off as in the tests), makes one database, and times `cs log-ai`
as a fresh process per call on each back end after a warm-up call (schema migrated, price index
warm). Prints median and p95 wall time in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.postgres.cluster import Cluster, server_bin_dir  # noqa: E402

CS = str(Path(sys.executable).with_name("cs"))
LOG = ["log-ai", "-p", "openai", "-m", "gpt-4o", "--prompt-tokens", "1000", "--completion-tokens", "200", "--json"]


def _time(env: dict[str, str], runs: int, cwd: str) -> list[float]:
    subprocess.run([CS, "start", "bench", "--json"], env=env, cwd=cwd, check=True, capture_output=True)
    subprocess.run([CS, *LOG], env=env, cwd=cwd, check=True, capture_output=True)  # warm-up
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([CS, *LOG], env=env, cwd=cwd, check=True, capture_output=True)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    bin_dir = server_bin_dir()
    if bin_dir is None:
        sys.exit("PostgreSQL server binaries not found (apt-get install postgresql)")
    cluster = Cluster(bin_dir).start()
    try:
        rows = []
        for name in ("sqlite", "postgresql"):
            with tempfile.TemporaryDirectory() as home:
                env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TMPDIR")}
                env.update(HOME=home, COSTHQ_HOME=str(Path(home) / "data"), NO_COLOR="1")
                if name == "postgresql":
                    env["COSTHQ_DATABASE_URL"] = cluster.database()
                ms = sorted(_time(env, args.runs, home))
                rows.append((name, statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]))
        print(f"cs log-ai, {args.runs} runs each (fresh process per call)")
        print(f"{'back end':<12}{'median ms':>12}{'p95 ms':>10}")
        for name, med, p95 in rows:
            print(f"{name:<12}{med:>12.1f}{p95:>10.1f}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
