"""Spend-firewall overhead: 3 budget rules in force vs none, measured as paired samples.

Two data dirs with the same usage history, one with 3 blocking rules (daily, monthly, session;
limits far above the spend, so every call is admitted) and one without. Each iteration times
the no-rule side then the 3-rule side back to back, so load swings on a shared machine hit
both; the table shows each side's median/p95 and the median of the per-iteration differences
(the latency the rules add).
- guard before(): what the proxy runs on the request path (runaway arming, the expected-cost
  estimate, the ledger's admission; a lease renewal every LEASE_AHEAD + 1 calls or so).
- guard settle(): releasing the hold and learning (the proxy's writer thread, off the request path).
- proxy request: through two real proxies (one per data dir) to a local fake upstream; with no
  rule the proxy skips the guard entirely (the arming probe), so this is the guard's whole cost.
- `--fsyncs`: fsync/fdatasync calls made by 300 guard calls with the 3 rules, counted by strace
  attached to a child process after its warm-up and detached before it exits (target: 0 on the
  request path); a control run with the leases on a durable unit of work shows strace sees them.

Run: .venv/bin/python bench/firewall.py [--n 300] [--history 5000] [--fsyncs]
Target (issue 14): at most 0.2 ms p50 added by the 3 rules, and no fsync on the request path.

`--runaway`: the runaway detection of one recorded call with 100 and 1,000 events in the session's
window, on a real SQLite file inside one unit of work: "before" re-reads every window event and runs
`detect` on the list (the pre-step-7 path, still the domain's definition), "after" runs `detect_facts`
on the repository's indexed `window_facts`; paired samples, ratio = after / before medians.
Target: per-call detection that does not grow with the window's event count.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.e2e helpers (fake upstream)

from costhq.bootstrap.main import build_container

RULES = (("daily", None, "100000"), ("monthly", None, "100000"), ("session", "session", "100000"))
BODY = {"model": "gpt-4o", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi " * 200}]}


def _stats(samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[max(0, int(len(ms) * 0.95) - 1)]


def _paired(a: Callable[[int], float], b: Callable[[int], float], n: int) -> tuple[list[float], list[float]]:
    for i in range(10):  # warm up
        a(-i - 1)
        b(-i - 1)
    xs, ys = [], []
    for i in range(n):
        xs.append(a(i))
        ys.append(b(i))
    return xs, ys


def _world(tmp: str, name: str, history: int, rules: bool) -> tuple[Any, int]:
    """A container on its own data dir: one session with `history` priced calls over 40 days."""
    from costhq.domain.pricing import PriceSource
    from costhq.domain.sessions import NewSession
    from costhq.domain.usage import Origin, TokenCounts, UsageRecord

    c = build_container({"HOME": tmp, "COSTHQ_HOME": f"{tmp}/{name}"})
    c.configure_runaway()(changes={"identical_k": 10**6})  # distinct bodies anyway; keep trips out
    now = datetime.now(UTC)
    with c.uow()() as uow:  # bulk seed: one transaction
        sid = uow.sessions.add(NewSession(name="bench", start_time=now - timedelta(days=41), working_directory=tmp)).id
        uow.usage.add_many([UsageRecord(
            session_id=sid, provider="openai", model="gpt-4o", tokens=TokenCounts(input=1000, output=100),
            total_tokens=1100, cost=Decimal("0.0035"), price_source=PriceSource.BUILT_IN, origin=Origin.PROXY,
            request_id=f"seed-{i}", timestamp=now - timedelta(days=40) * (i / history)) for i in range(history)])
    if rules:
        for scope, needs_session, limit in RULES:
            c.set_budget()(scope=scope, limit=Decimal(limit), session_id=sid if needs_session else None)
    return c, sid


def _record(cost: str) -> Any:
    from costhq.domain.pricing import PriceSource
    from costhq.domain.usage import Origin, TokenCounts, UsageRecord

    return UsageRecord(session_id=1, provider="openai", model="gpt-4o", tokens=TokenCounts(input=150, output=300),
                       total_tokens=450, cost=Decimal(cost), price_source=PriceSource.BUILT_IN, origin=Origin.PROXY,
                       timestamp=datetime.now(UTC))


def guard_loop(c: Any, sid: int, settles: list[float] | None = None) -> Callable[[int], float]:
    """One guard call as the proxy makes it: `before` (timed), then its settle (timed into `settles`)."""
    from costhq.domain.estimates import shape_of

    guard, shape, rec = c.request_guard(), shape_of(BODY), _record("0.0034")

    def once(i: int) -> float:
        t = time.perf_counter()
        ticket = guard.before(session_id=sid, provider="openai", model="gpt-4o", shape=shape, fingerprint=f"fp{i}",
                              client="bench")
        took = time.perf_counter() - t
        t = time.perf_counter()
        guard.settle(ticket, rec)
        if settles is not None:
            settles.append(time.perf_counter() - t)
        return took

    return once


def bench_guard(worlds: list[tuple[Any, int]], n: int) -> list[tuple[str, list[float], list[float]]]:
    settles: list[list[float]] = [[], []]
    before = _paired(guard_loop(*worlds[0], settles[0]), guard_loop(*worlds[1], settles[1]), n)
    return [("guard before()", *before), ("guard settle()", settles[0][10:], settles[1][10:])]


_FSYNC_CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from bench.firewall import _world, guard_loop
c, sid = _world(sys.argv[2], "fsync", int(sys.argv[3]), True)
if len(sys.argv) > 4:  # the control run: leases on a durable unit of work
    c.override(lease_uow=c.uow())
once = guard_loop(c, sid)
for i in range(50):
    once(-i - 1)
print("ready", flush=True)
sys.stdin.readline()
for i in range(300):
    once(i)
print("done", flush=True)
sys.stdin.readline()  # strace detaches first: closing the database at exit checkpoints (and syncs)
"""


def count_fsyncs(tmp: str, history: int, verbose: bool = False, control: bool = False) -> str:
    """strace's summary of fsync/fdatasync during 300 guard calls with the 3 rules (after warm-up)."""
    import subprocess

    root = str(Path(__file__).resolve().parents[1])
    args = [sys.executable, "-c", _FSYNC_CHILD, root, tmp, str(history), *(["durable"] if control else [])]
    child = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "ready"
    trace = subprocess.Popen(["strace", "-f", *(["-y", "-k"] if verbose else ["-c"]), "-e", "trace=fsync,fdatasync",
                              "-p", str(child.pid)],
                             stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # strace needs a moment to attach to every thread (a bench, not a test)
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "done"
    trace.send_signal(signal.SIGINT)
    _out, err = trace.communicate(timeout=60)
    child.stdin.write("exit\n")
    child.stdin.flush()
    child.wait(60)
    calls = [line.split() for line in err.splitlines() if line.split()[-1:] in (["fsync"], ["fdatasync"])]
    return f"fsync + fdatasync calls during 300 guard calls: {sum(int(c[3]) for c in calls)}"


def bench_proxy(worlds: list[tuple[Any, int]], env: dict[str, str], n: int) -> tuple[list[float], list[float]]:
    import httpx

    from costhq.adapters.proxy.server import ProxyThread, bind, proxy_config

    proxies, clients = [], []
    try:
        for c, _sid in worlds:
            sock = bind(0)
            app = c.front_ends().proxy_app(port=sock.getsockname()[1], pinned_session=None,
                                           config=proxy_config(c.settings(), env))
            proxies.append((app, ProxyThread(app, sock).start()))
            clients.append(httpx.Client(base_url=f"http://127.0.0.1:{proxies[-1][1].port}"))

        def side(k: int) -> Callable[[int], float]:
            def once(i: int) -> float:
                t = time.perf_counter()
                r = clients[k].post("/openai/v1/chat/completions", json={
                    "model": "gpt-4o", "max_tokens": 1000, "messages": [{"role": "user", "content": f"hi {i}"}]})
                took = time.perf_counter() - t
                assert r.status_code == 200, r.text
                return took

            return once

        return _paired(side(0), side(1), n)
    finally:
        for client in clients:
            client.close()
        for app, thread in proxies:
            app.state.writer.wait_idle(60)
            thread.stop()


def bench_runaway(tmp: str, sizes: tuple[int, ...], n: int) -> None:
    from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
    from costhq.domain.runaway import ActivityEvent, EventKind, RunawayConfig, detect, detect_facts

    cfg = RunawayConfig()
    now = datetime.now(UTC)
    print(f"runaway detection of one recorded call (default config), n={n} paired samples")
    print(f"{'window events':>13} {'before med':>10} {'p95':>7} {'after med':>9} {'p95':>7} {'ratio':>6}")
    for size in sizes:
        path = f"{tmp}/runaway-{size}.db"
        with ApswUnitOfWork(path) as uow:  # a call + its cost every 250 ms, distinct bodies: nothing trips
            for i in range(size):
                at = now - timedelta(milliseconds=250 * (size - i) // 2)
                uow.runaway.add_event(ActivityEvent(session_id=1, kind=EventKind.CALL, key=f"fp{i}", at=at)
                                      if i % 2 == 0 else
                                      ActivityEvent(session_id=1, kind=EventKind.COST, cost=Decimal("0.001"), at=at))
        with ApswUnitOfWork(path) as uow:
            repo = uow.runaway
            assert len(repo.events(1, since=now - cfg.horizon)) == size

            def before(_i: int) -> float:
                t = time.perf_counter()
                trips = detect(cfg, 1, repo.events(1, since=now - cfg.horizon), now)  # noqa: B023
                took = time.perf_counter() - t
                assert trips == []
                return took

            def after(_i: int) -> float:
                t = time.perf_counter()
                trips = detect_facts(cfg, 1, repo.window_facts(1, cfg, now=now), now)  # noqa: B023
                took = time.perf_counter() - t
                assert trips == []
                return took

            xs, ys = _paired(before, after, n)
        (bm, bp), (am, ap) = _stats(xs), _stats(ys)
        print(f"{size:13d} {bm:10.3f} {bp:7.3f} {am:9.3f} {ap:7.3f} {am / bm:6.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--history", type=int, default=5000)
    ap.add_argument("--runaway", action="store_true", help="only the runaway-detection micro-bench")
    ap.add_argument("--fsyncs", action="store_true", help="only count fsyncs of 300 guard calls (strace)")
    args = ap.parse_args()
    if args.runaway:
        with tempfile.TemporaryDirectory() as tmp:
            bench_runaway(tmp, (100, 1000), args.n)
        return
    if args.fsyncs:
        for control in (False, True):  # the control run commits the leases durably: strace does see those
            with tempfile.TemporaryDirectory() as tmp:
                print(("control, durable leases: " if control else "") + count_fsyncs(tmp, args.history,
                                                                                      control=control))
        return
    from tests.e2e.helpers_proxy import FakeUpstream, ServedApp

    with tempfile.TemporaryDirectory() as tmp, ServedApp(FakeUpstream().app) as upstream:
        env = {"HOME": tmp, "COSTHQ_OPENAI_UPSTREAM": upstream.url, "COSTHQ_ANTHROPIC_UPSTREAM": upstream.url}
        worlds = [_world(tmp, "none", args.history, False), _world(tmp, "three", args.history, True)]
        rows = bench_guard(worlds, args.n)
        rows.append(("proxy request (fake upstream)", *bench_proxy(worlds, env, args.n)))
    print(f"history={args.history} usage rows over 40 days, n={args.n} paired samples, "
          "3 rules: daily/monthly/session")
    print(f"{'measure':30} {'0 rules med':>11} {'p95':>7} {'3 rules med':>11} {'p95':>7} {'delta med':>9} {'ratio':>6}")
    for name, base, ruled in rows:
        (bm, bp), (rm, rp) = _stats(base), _stats(ruled)
        delta = statistics.median((y - x) * 1000 for x, y in zip(base, ruled, strict=False))
        print(f"{name:30} {bm:11.3f} {bp:7.3f} {rm:11.3f} {rp:7.3f} {delta:9.3f} {rm / bm:6.2f}")


if __name__ == "__main__":
    main()
