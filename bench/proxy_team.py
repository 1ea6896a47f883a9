"""The proxy with PostgreSQL behind it (issue 16, team mode) next to the SQLite file, in one run.

Usage: .venv/bin/python bench/proxy_team.py [--requests 1000] [--burst 4000] [--rules 3]

For each back end, the same set-up as bench/proxy_overhead.py (whose client, fake upstream and
measures this reuses): a fresh data dir, an active session and three blocking budget rules (limits
high enough that nothing is refused: the firewall is armed, every call reserves), `cs proxy start`
on it, then c=1 latency (proxy vs. direct, interleaved) and a c=32 burst. Every proxied call must
be recorded: the rows are counted at the end (waited for), per back end.

PostgreSQL: a throwaway cluster (tests/postgres/cluster.py: initdb + pg_ctl on 127.0.0.1,
scram-sha-256, fsync and synchronous_commit off as in the tests), one database,
`COSTHQ_DATABASE_URL` set for `cs` and the proxy. The server shares the machine's cores with the
proxy, the recorder and the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import proxy_overhead as po  # noqa: E402

from tests.postgres.cluster import Cluster, server_bin_dir  # noqa: E402


def _count(env: dict[str, str], session_id: int, expected: int) -> tuple[int, float]:
    """Rows stored for the session, waited for until `expected` (or 10 minutes): (rows, seconds waited)."""
    t0 = time.monotonic()
    rows = 0
    while time.monotonic() - t0 < 600:
        if "COSTHQ_DATABASE_URL" in env:
            import psycopg

            with psycopg.connect(env["COSTHQ_DATABASE_URL"]) as conn:
                found = conn.execute("SELECT COUNT(*) FROM ai_usage WHERE session_id = %s", (session_id,)).fetchone()
                rows = int(found[0]) if found else 0
        else:
            import apsw

            conn = apsw.Connection(str(Path(env["COSTHQ_HOME"]) / "sessions.db"), flags=apsw.SQLITE_OPEN_READONLY)
            conn.set_busy_timeout(5000)
            rows = conn.execute("SELECT COUNT(*) FROM ai_usage WHERE session_id = ?", (session_id,)).get
            conn.close()
        if rows >= expected:
            break
        time.sleep(0.2)  # polling a database another process writes
    return rows, time.monotonic() - t0


def _one(name: str, args: argparse.Namespace, up_port: int, database_url: str | None) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix=f"costhq-bench-{name}-"))
    work = tmp / "project"
    work.mkdir()
    env = {**os.environ, "HOME": str(tmp), "COSTHQ_HOME": str(tmp / "data"),
           "COSTHQ_OPENAI_UPSTREAM": f"http://127.0.0.1:{up_port}"}
    if database_url:
        env["COSTHQ_DATABASE_URL"] = database_url
    session = po._cs(env, work, "start", f"proxy bench ({name})")
    for rule in po.RULES[:args.rules]:
        po._cs(env, work, "budget", "set", *rule)
    px_port = po._free_port()
    cs = str(Path(sys.executable).with_name("cs"))
    px = subprocess.Popen([cs, "proxy", "start", "--port", str(px_port), "--json"], env=env, cwd=work,
                          stdout=subprocess.PIPE)
    try:
        assert px.stdout is not None and json.loads(px.stdout.readline())["port"] == px_port
        ds, ps, bad = asyncio.run(po.latency_c1(up_port, px_port, args.requests, args.warm))
        cpu0 = po.cpu_s(px.pid)
        lat, rps, lost, failed = asyncio.run(po.burst(px_port, "/openai/v1/chat/completions", args.burst))
        cpu = (po.cpu_s(px.pid) - cpu0) / max(1, args.burst // 32 * 32)
        expected = args.warm + args.requests + args.burst // 32 * 32 - lost
        recorded, waited = _count(env, int(session["id"]), expected)  # type: ignore[call-overload]
    finally:
        px.terminate()
        code = px.wait(600)
    return {"name": name, "ds": ds, "ps": ps, "bad": len(bad), "lat": lat, "rps": rps, "lost": lost,
            "failed": failed, "cpu": cpu, "expected": expected, "recorded": recorded, "waited": waited, "exit": code}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000, help="c=1 requests per path")
    ap.add_argument("--burst", type=int, default=4000, help="c=32 requests")
    ap.add_argument("--warm", type=int, default=100)
    ap.add_argument("--rules", type=int, default=len(po.RULES), choices=range(len(po.RULES) + 1))
    args = ap.parse_args()
    bin_dir = server_bin_dir()
    if bin_dir is None:
        sys.exit("PostgreSQL server binaries not found: install Debian's postgresql")
    cluster = Cluster(bin_dir).start()
    up_port = po._free_port()
    here = str(ROOT / "bench")
    up = subprocess.Popen([sys.executable, "-c", f"import asyncio,sys; sys.path.insert(0, {here!r});"
                           f"import proxy_overhead as b; b._loop(); asyncio.run(b._upstream({up_port}))"])
    try:
        po._loop()
        load0 = os.getloadavg()
        results = [_one("sqlite", args, up_port, None), _one("postgresql", args, up_port, cluster.database())]
        load1 = os.getloadavg()
    finally:
        up.terminate()
        up.wait(5)
        cluster.stop()
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} "
          f"({os.cpu_count()} cores); {args.rules} blocking budget rules; c=1 {args.requests} requests per path, "
          f"c=32 burst {args.burst // 32 * 32}")
    print("| back end | c=1 direct p50 / p99 (ms) | c=1 added p50 / p99 (ms) | c=32 requests/s | c=32 p50 / p99 (ms)"
          " | lost / failed | proxy CPU per request (ms) | rows stored / proxied | exit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ds, ps, lat = r["ds"], r["ps"], r["lat"]
        print(f"| {r['name']} | {po.ms(po.pct(ds, 50))} / {po.ms(po.pct(ds, 99))}"  # type: ignore[arg-type]
              f" | {po.ms(po.pct(ps, 50) - po.pct(ds, 50))} / {po.ms(po.pct(ps, 99) - po.pct(ds, 99))}"  # type: ignore[arg-type]
              f" | {r['rps']:,.0f} | {po.ms(po.pct(lat, 50))} / {po.ms(po.pct(lat, 99))}"  # type: ignore[arg-type]
              f" | {r['lost']} / {r['failed']} | {po.ms(r['cpu'])}"  # type: ignore[arg-type]
              f" | {r['recorded']} / {r['expected']} (+{r['waited']:.1f} s) | {r['exit']} |")


if __name__ == "__main__":
    main()
