"""Dashboard at scale: 10,000 sessions and 1,000,000 AI calls; p50/p95 of every API endpoint
over HTTP (uvicorn on loopback) and first paint / usable time of every page in Chromium.

Run: .venv/bin/python bench/dashboard.py [--sessions 10000] [--calls 1000000] [--runs 20] [--db PATH]
     [--only SUBSTRING]   (only the endpoints containing it, plus the baseline; skips the pages)
     [--backend sqlite|postgresql]   (issue 16: postgresql loads the same data into a throwaway
     cluster, tests/postgres/cluster.py, and serves the dashboard from it; API only)
Baseline: `GET /favicon.ico` (an endpoint doing no work) measured in the same run.
Targets: API p50 <= 150 ms; pages usable within 1 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = [
    ("anthropic", "claude-sonnet-4", 3, 15),
    ("anthropic", "claude-opus-4", 15, 75),
    ("openai", "gpt-4o", 2.5, 10),
    ("openai", "gpt-4o-mini", 0.15, 0.6),
    ("google", "gemini-2.5-pro", 1.25, 10),
    ("anthropic", "claude-haiku-4-5", 1, 5),
    ("openai", "o3", 2, 8),
    ("mistral", "mistral-large", 2, 6),
]
FILES = [f"src/module_{i}.py" for i in range(400)]


def ts(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


USERS = [f"dev{i}" for i in range(8)]  # issue 16: who and where of each session
MACHINES = [f"host-{i}" for i in range(12)]


def rows(n_sessions: int, n_calls: int, now: datetime) -> tuple[list[tuple[object, ...]], ...]:
    """Sessions, calls, file changes and commits, the same for every back end (seeded)."""
    rnd = random.Random(42)
    per = n_calls // n_sessions
    sessions, calls, files, commits = [], [], [], []
    for sid in range(1, n_sessions + 1):
        start = now - timedelta(days=365 * (n_sessions - sid) / n_sessions, minutes=rnd.randint(0, 600))
        length = timedelta(minutes=rnd.randint(5, 240))
        active = sid > n_sessions - 3
        sessions.append(
            (
                sid,
                f"Task {sid} {rnd.choice(['fix', 'feature', 'refactor', 'docs'])}",
                "active" if active else "completed",
                ts(start),
                None if active else ts(start + length),
                f"/work/project-{sid % 25}",
                ts(start + length),
                USERS[sid % len(USERS)],
                MACHINES[sid % len(MACHINES)],
            )
        )
        for k in range(per):
            p, m, pin, pout = rnd.choice(MODELS)
            i, o = rnd.randint(500, 40_000), rnd.randint(100, 8000)
            units = (i * pin + o * pout) * 10_000  # USD/1M * tokens -> 1e-10 USD units
            calls.append((sid, p, m, i, o, i + o, int(units), ts(start + length * k / per)))
        for f in rnd.sample(FILES, 5):
            files.append((sid, f, "modified", ts(start)))
        commits.append((sid, f"{sid:040x}", f"commit {sid}", ts(start + length)))
    return sessions, calls, files, commits


def generate(db: str, n_sessions: int, n_calls: int, now: datetime) -> None:
    """Bulk insert with executemany (one transaction), then fix up the denormalised session totals."""
    from costhq.adapters.persistence.sqlite.connection import open_connection

    sessions, calls, files, commits = rows(n_sessions, n_calls, now)
    conn = open_connection(db)
    with conn:
        conn.executemany(
            "INSERT INTO sessions (id, name, status, start_time, end_time, working_directory,"
            " last_activity, user_name, machine) VALUES (?,?,?,?,?,?,?,?,?)",
            sessions,
        )
        conn.executemany(
            "INSERT INTO ai_usage (session_id, provider, model, input_tokens, output_tokens,"
            " total_tokens, cost_units, price_source, origin, timestamp)"
            " VALUES (?,?,?,?,?,?,?,'built-in','cli',?)",
            calls,
        )
        conn.executemany(
            "INSERT INTO file_changes (session_id, file_path, change_type, timestamp) VALUES (?,?,?,?)", files
        )
        conn.executemany("INSERT INTO commits (session_id, hash, message, timestamp) VALUES (?,?,?,?)", commits)
        conn.execute(
            "UPDATE sessions SET ai_cost_units = t.c, ai_tokens = t.tok, ai_calls = t.n, files_changed = 5,"
            " commits = 1 FROM (SELECT session_id, SUM(cost_units) AS c, SUM(total_tokens) AS tok,"
            " COUNT(*) AS n FROM ai_usage GROUP BY session_id) AS t WHERE t.session_id = sessions.id"
        )
    conn.execute("ANALYZE")
    conn.close()


_PG_COPY = {
    "sessions": "id, name, status, start_time, end_time, working_directory, last_activity, user_name, machine",
    "ai_usage": "session_id, provider, model, input_tokens, output_tokens, total_tokens, cost_units, timestamp",
    "file_changes": "session_id, file_path, change_type, timestamp",
    "commits": "session_id, hash, message, timestamp",
}


def generate_pg(url: str, n_sessions: int, n_calls: int, now: datetime) -> None:
    """The same rows into PostgreSQL with COPY (one transaction), totals fixed up, then VACUUM ANALYZE."""
    import psycopg

    from costhq.adapters.persistence.postgres.uow import PgUnitOfWork

    with PgUnitOfWork(url):  # migrates the empty database
        pass
    data = dict(zip(_PG_COPY, rows(n_sessions, n_calls, now), strict=True))
    with psycopg.connect(url) as conn:
        for table, cols in _PG_COPY.items():
            extra = ", price_source, origin" if table == "ai_usage" else ""
            with conn.cursor().copy(f"COPY {table} ({cols}{extra}) FROM STDIN") as copy:
                for r in data[table]:
                    copy.write_row((*r, "built-in", "cli") if extra else r)
        conn.execute(
            "UPDATE sessions SET ai_cost_units = t.c, ai_tokens = t.tok, ai_calls = t.n, files_changed = 5,"
            " commits = 1 FROM (SELECT session_id, SUM(cost_units)::bigint AS c, SUM(total_tokens)::bigint AS tok,"
            " COUNT(*) AS n FROM ai_usage GROUP BY session_id) AS t WHERE t.session_id = sessions.id")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


ENDPOINTS = [
    "/favicon.ico",
    "/api/v1/stats",
    "/api/v1/overview?tz=UTC",
    "/api/v1/sessions",
    "/api/v1/sessions?sort=costPerHour",
    "/api/v1/sessions?search=refactor&status=completed",
    "/api/v1/sessions?page=200",
    "/api/v1/sessions/5000",
    "/api/v1/models",
    "/api/v1/insights?tz=UTC",
    "/api/v1/team?tz=UTC",  # issue 16: the Team view, unfiltered and filtered
    "/api/v1/team?user=dev3&since=2026-06-01&until=2026-11-30&tz=UTC",
    "/api/v1/team?machine=host-5&project=/work/project-5&tz=UTC",
    "/api/v1/alerts",
    "/api/v1/pricing",
    "/api/v1/hardware",
    "/api/v1/openapi.json",
    "/api/v1/card.png?period=all&tz=UTC",
    "/api/v1/export?format=csv",
    "/",
]
PAGES = ["overview", "sessions", "sessions/5000", "models", "local", "pricing", "insights", "team", "alerts"]


def bench_api(url: str, runs: int, only: str | None = None) -> list[tuple[str, float, float]]:
    import httpx

    out = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for path in ENDPOINTS:
            if only and path != ENDPOINTS[0] and only not in path:
                continue
            client.get(path).raise_for_status()  # warm caches (price catalogue, page cache)
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                client.get(path).raise_for_status()
                times.append((time.perf_counter() - t) * 1000)
            out.append((path, statistics.median(times), pct(times, 0.95)))
    return out


def bench_pages(url: str, runs: int) -> list[tuple[str, float, float]]:
    from playwright.sync_api import sync_playwright

    out = []
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        ctx = browser.new_context(viewport={"width": 1366, "height": 900})
        page = ctx.new_page()
        page.goto(url + "/")  # first visit fills the HTTP cache with the immutable assets
        for name in PAGES:
            fcp, usable = [], []
            for _ in range(max(3, runs // 4)):
                page.goto("about:blank")
                t = time.perf_counter()
                page.goto(f"{url}/#/{name}")
                page.wait_for_selector(f"main[data-ready='{name.split('/')[0]}']", timeout=30_000)
                usable.append((time.perf_counter() - t) * 1000)
                fcp.append(page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1"))
            out.append((name, statistics.median(fcp), statistics.median(usable)))
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--db", type=str, default=None)
    ap.add_argument("--only", type=str, default=None)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    a = ap.parse_args()
    home = Path(a.db).parent if a.db else Path(tempfile.mkdtemp(prefix="costhq-bench-"))
    if a.backend == "postgresql":
        from tests.postgres.cluster import Cluster, server_bin_dir

        bin_dir = server_bin_dir()
        if bin_dir is None:
            sys.exit("PostgreSQL server binaries not found (apt-get install postgresql)")
        cluster = Cluster(bin_dir).start()
        try:
            url = cluster.database()
            t = time.perf_counter()
            generate_pg(url, a.sessions, a.calls, datetime.now(UTC))
            took = time.perf_counter() - t
            print(f"generated {a.sessions:,} sessions / {a.calls:,} calls in PostgreSQL in {took:.1f}s")
            report(*serve(home, {"COSTHQ_DATABASE_URL": url}, a.runs, a.only, pages=False))
        finally:
            cluster.stop()
        return
    db = str(home / "data" / "sessions.db")
    if not Path(db).exists():
        t = time.perf_counter()
        generate(db, a.sessions, a.calls, datetime.now(UTC))
        print(f"generated {a.sessions:,} sessions / {a.calls:,} calls in {time.perf_counter() - t:.1f}s -> {db}")
    report(*serve(home, {}, a.runs, a.only, pages=not a.only))


def serve(home: Path, env: dict[str, str], runs: int, only: str | None, *, pages: bool) -> tuple[list[Any], ...]:
    """The dashboard on loopback over the data in `home` (or the database in `env`), measured."""
    from costhq.adapters.http.app import make_app
    from costhq.bootstrap.main import build_container
    from tests.e2e.helpers_dashboard import ServerThread, free_port

    c = build_container({"HOME": str(home), "COSTHQ_HOME": str(home / "data"), **env})
    port = free_port()
    with ServerThread(make_app(c.front_ends().dashboard_deps(host="127.0.0.1", port=port)), port) as url:
        return bench_api(url, runs, only), (bench_pages(url, runs) if pages else [])


def report(api: list[Any], pages: list[Any]) -> None:
    base = api[0][1]
    print(f"\n{'endpoint':48} {'p50 ms':>8} {'p95 ms':>8} {'x base':>7}  target p50<=150")
    for path, p50, p95 in api:
        print(f"{path:48} {p50:8.1f} {p95:8.1f} {p50 / base:7.1f}  {'ok' if p50 <= 150 else 'MISS'}")
    print(f"\n{'page':20} {'FCP ms':>8} {'usable ms':>10}  target usable<=1000")
    for name, fcp, usable in pages:
        print(f"{name:20} {fcp:8.1f} {usable:10.1f}  {'ok' if usable <= 1000 else 'MISS'}")


if __name__ == "__main__":
    main()
