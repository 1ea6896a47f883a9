"""Spend-firewall overhead: the guard's before+settle, and a request through the real proxy, with 5
budget rules active vs none (same process, same database, baseline first).

Run: .venv/bin/python bench/firewall.py [--n 300] [--history 5000]
Target (issue 4): the 5-rule run stays within 0.5 ms of the no-rule run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.e2e helpers (fake upstream)

from costhq.application.usage import UsageInput
from costhq.bootstrap.main import build_container
from costhq.domain.usage import Origin, TokenCounts

RULES = (("total", None, "1000000"), ("daily", None, "100000"), ("weekly", None, "100000"),
         ("monthly", None, "100000"), ("session", "session", "100000"))


def _stats(samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[int(len(ms) * 0.95) - 1]


def _time(fn: Callable[[int], None], n: int) -> list[float]:
    for i in range(20):  # warm up
        fn(-i - 1)
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def _seed(c: object, cwd: str, history: int) -> int:
    sid = c.start_session()(name="bench", cwd=cwd).session.id  # type: ignore[attr-defined]
    log = c.log_usage()  # type: ignore[attr-defined]
    for _ in range(history):
        log(call=UsageInput(provider="openai", model="gpt-4o", tokens=TokenCounts(input=1000, output=100),
                            origin=Origin.PROXY), cwd=cwd, session_id=sid)
    return sid


def _add_rules(c: object, sid: int) -> None:
    for scope, needs_session, limit in RULES:
        c.set_budget()(scope=scope, limit=Decimal(limit), session_id=sid if needs_session else None)  # type: ignore[attr-defined]


def bench_guard(c: object, sid: int, n: int) -> list[float]:
    guard = c.request_guard()  # type: ignore[attr-defined]

    def once(i: int) -> None:
        token = guard.before(session_id=sid, provider="openai", model="gpt-4o", body_bytes=2000,
                             max_output_tokens=1000, fingerprint=f"fp{i}")
        guard.settle(token, Decimal("0.001"))

    return _time(once, n)


def bench_proxy(c: object, env: dict[str, str], cwd: str, n: int) -> list[float]:
    import httpx

    from costhq.bootstrap.proxy_server import ProxyThread, bind, build_proxy_app, proxy_config

    sock = bind(0)
    app = build_proxy_app(c, port=sock.getsockname()[1], pinned_session=None,
                          config=proxy_config(c.settings(), env))  # type: ignore[attr-defined]
    proxy = ProxyThread(app, sock)
    proxy.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{proxy.port}") as client:
            def once(i: int) -> None:
                r = client.post("/openai/v1/chat/completions", json={
                    "model": "gpt-4o", "max_tokens": 1000, "messages": [{"role": "user", "content": f"hi {i}"}]})
                assert r.status_code == 200, r.text

            return _time(once, n)
    finally:
        app.state.writer.wait_idle(30)
        proxy.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--history", type=int, default=5000)
    args = ap.parse_args()
    from tests.e2e.helpers_proxy import FakeUpstream, ServedApp

    rows = []
    with tempfile.TemporaryDirectory() as tmp, ServedApp(FakeUpstream().app) as upstream:
        env = {"HOME": tmp, "COSTHQ_HOME": f"{tmp}/data", "COSTHQ_OPENAI_UPSTREAM": upstream.url,
               "COSTHQ_ANTHROPIC_UPSTREAM": upstream.url}
        c = build_container(env)
        c.configure_runaway()(changes={"identical_k": 10**6})  # distinct bodies anyway; keep trips out
        sid = _seed(c, tmp, args.history)
        base_guard = bench_guard(c, sid, args.n)
        base_proxy = bench_proxy(c, env, tmp, args.n)
        _add_rules(c, sid)
        rules_guard = bench_guard(c, sid, args.n)
        rules_proxy = bench_proxy(c, env, tmp, args.n)
    for name, base, ruled in (("guard before+settle", base_guard, rules_guard),
                              ("proxy request (fake upstream)", base_proxy, rules_proxy)):
        (bm, bp), (rm, rp) = _stats(base), _stats(ruled)
        rows.append((name, bm, bp, rm, rp, rm - bm, rm / bm))
    print(f"history={args.history} usage rows, n={args.n} per run, 5 rules: total/daily/weekly/monthly/session")
    print(f"{'measure':32} {'0 rules med':>11} {'p95':>7} {'5 rules med':>11} {'p95':>7} {'delta ms':>9} {'ratio':>6}")
    for name, bm, bp, rm, rp, delta, ratio in rows:
        print(f"{name:32} {bm:11.3f} {bp:7.3f} {rm:11.3f} {rp:7.3f} {delta:9.3f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
