"""Benchmark: overhead of a tracked SDK call over the bare SDK (target < 2 ms per call).

Both clients talk to the same in-process httpx2.MockTransport (the fake upstream of the
tests), so the difference is CostHQ's work on the caller's thread: reading the usage, pricing
it, the budget pre-flight and queueing the record. The SQLite transaction runs on the
library's writer thread. Two passes:

- `latency 0`: calls back to back, so the writer is busy storing the previous calls while the
  next ones run: the worst case, where both threads compete for the GIL;
- `latency N ms`: the fake upstream waits N ms before answering (like a real API, the wait
  releases the GIL), so the writer stores each call while the next request is in flight.

Bare and tracked calls alternate (one of each per step, the order flipping every step), so
machine load and drift hit both alike. `+ med` / `+ p95` are the tracked client's median / 95th
percentile minus the bare SDK's; `CPU +` the same for the calling thread's CPU time
(time.thread_time), which a loaded machine does not inflate the way it inflates wall time.
`drain` is how long the writer still needed after the last call. The writer is flushed between
cases (so each starts idle) and the last line checks that the session holds exactly the calls
made, at the exact total. Runs against a temp COSTHQ_HOME.

    .venv/bin/python bench/library.py [--calls 200] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MSG = [{"role": "user", "content": "hi"}]


def _time(fn: Callable[[], object], wall: list[float], cpu: list[float]) -> None:
    """Append the wall ms and the calling thread's CPU ms (immune to a busy machine) of one call."""
    t0, c0 = time.perf_counter(), time.thread_time()
    fn()
    wall.append((time.perf_counter() - t0) * 1000)
    cpu.append((time.thread_time() - c0) * 1000)


def interleaved(bare: Callable[[], object], tracked: Callable[[], object], n: int) -> dict[str, list[float]]:
    """n calls of each, alternating (and alternating which goes first), so drift and load hit both alike."""
    out: dict[str, list[float]] = {"bare": [], "tracked": [], "bare_cpu": [], "tracked_cpu": []}
    for i in range(n):
        pair = (("bare", bare), ("tracked", tracked)) if i % 2 == 0 else (("tracked", tracked), ("bare", bare))
        for name, fn in pair:
            _time(fn, out[name], out[f"{name}_cpu"])
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def _cases(session: Any, latency_s: float) -> dict[str, tuple[Any, Any, Callable[[Any], object]]]:
    import anthropic
    import httpx2
    import openai

    from costhq.extensions import TrackedAnthropic, TrackedOpenAI
    from tests.e2e.helpers_library import Recorded

    def http() -> httpx2.Client:
        recorded = Recorded()

        def slow(request: httpx2.Request) -> httpx2.Response:
            if latency_s:
                time.sleep(latency_s)  # stands in for the network: releases the GIL
            return recorded(request)

        return httpx2.Client(transport=httpx2.MockTransport(slow))

    chat: Callable[[Any], object] = lambda c: c.chat.completions.create(model="gpt-4o", messages=MSG)  # noqa: E731
    return {
        "openai chat (AgentSession)": (openai.OpenAI(api_key="k", http_client=http()),
                                       TrackedOpenAI(api_key="k", http_client=http(), session=session), chat),
        "openai chat (active-session lookup)": (openai.OpenAI(api_key="k", http_client=http()),
                                                TrackedOpenAI(api_key="k", http_client=http()), chat),
        "anthropic messages": (anthropic.Anthropic(api_key="k", http_client=http()),
                               TrackedAnthropic(api_key="k", http_client=http(), session=session),
                               lambda c: c.messages.create(model="claude-sonnet-4", max_tokens=5, messages=MSG)),
        "anthropic stream (SSE, iterated)": (
            anthropic.Anthropic(api_key="k", http_client=http()),
            TrackedAnthropic(api_key="k", http_client=http(), session=session),
            lambda c: list(c.messages.create(model="claude-sonnet-4", max_tokens=5, messages=MSG, stream=True))),
    }


def run_pass(session: Any, n: int, latency_ms: float) -> int:
    from costhq.extensions import flush

    print(f"\nlatency {latency_ms:g} ms, {n} calls per client, interleaved")
    print(f"{'case':<38}{'bare med':>10}{'tracked med':>13}{'+ med':>9}{'bare p95':>10}{'tracked p95':>13}"
          f"{'+ p95':>9}{'CPU + med':>11}{'CPU + p95':>11}{'drain':>8}")
    made = 0
    for name, (bare, tracked, call) in _cases(session, latency_ms / 1000).items():
        for c in (bare, tracked):
            for _ in range(10):  # warm-up: imports, price catalogue, connections
                call(c)
        flush(timeout=600)
        r = interleaved(lambda call=call, bare=bare: call(bare), lambda call=call, tracked=tracked: call(tracked), n)
        t0 = time.perf_counter()
        flush(timeout=600)
        drain = (time.perf_counter() - t0) * 1000
        made += n + 10
        bm, tm = statistics.median(r["bare"]), statistics.median(r["tracked"])
        bp, tp = p95(r["bare"]), p95(r["tracked"])
        cpu_med = statistics.median(r["tracked_cpu"]) - statistics.median(r["bare_cpu"])
        cpu_p95 = p95(r["tracked_cpu"]) - p95(r["bare_cpu"])
        print(f"{name:<38}{bm:>8.3f}ms{tm:>11.3f}ms{tm - bm:>+7.3f}ms{bp:>8.3f}ms{tp:>11.3f}ms{tp - bp:>+7.3f}ms"
              f"{cpu_med:>+9.3f}ms{cpu_p95:>+9.3f}ms{drain:>6.0f}ms")
    return made


def storage_pass(c: Any, cwd: str, n: int, batch: int, rounds: int = 3) -> None:
    """The writer's cost per stored call: `LogUsage` (one transaction per call, as before batching)
    vs `RecordUsage` (one per `batch` calls), on the same file, alternating; median of `rounds`."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from costhq.application.usage import QueuedUsage, UsageInput
    from costhq.domain.usage import Origin, TokenCounts
    from tests.e2e.helpers_library import CHAT_COST

    os.makedirs(cwd, exist_ok=True)
    sid = c.start_session()(name="storage bench", cwd=cwd).session.id
    one, many, ids = c.log_usage(), c.record_usage(), iter(range(10**9))

    def items() -> list[QueuedUsage]:
        tokens = TokenCounts(input=1000, cache_read=200, output=300)  # the fake upstream's chat usage
        return [QueuedUsage(call=UsageInput(provider="openai", model="gpt-4o", served_model="gpt-4o-2024-08-06",
                                            tokens=tokens, origin=Origin.LIBRARY, call_key=f"lib:bench-{next(ids)}",
                                            timestamp=datetime.now(UTC)), cwd=cwd, session_id=sid)
                for _ in range(n)]

    per: dict[str, list[tuple[float, float]]] = {"LogUsage, a transaction per call": [],
                                                 f"RecordUsage, {batch} calls per transaction": []}
    for _ in range(rounds):
        for name, queued in zip(per, (items(), items()), strict=True):
            t0, c0 = time.perf_counter(), time.thread_time()
            if name.startswith("LogUsage,"):
                for q in queued:
                    one(call=q.call, cwd=cwd, session_id=sid, allow_unpriced=True)
            else:
                for k in range(0, n, batch):
                    many(items=queued[k:k + batch], allow_unpriced=True)
            per[name].append(((time.perf_counter() - t0) * 1000 / n, (time.thread_time() - c0) * 1000 / n))
    wal = Path(os.environ["COSTHQ_HOME"]) / "sessions.db-wal"
    wal_kb = wal.stat().st_size // 1024 if wal.exists() else 0  # every new connection re-reads what is there
    print(f"\nstorage (the writer's work), {n} calls x {rounds} rounds each, median of rounds; "
          f"WAL file after them: {wal_kb} KB")
    print(f"{'writer':<44}{'wall per call':>15}{'CPU per call':>14}{'ratio (CPU)':>13}")
    base = statistics.median(cpu for _, cpu in per["LogUsage, a transaction per call"])
    for name, runs in per.items():
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(cu for _, cu in runs)
        print(f"{name:<44}{wall:>13.3f}ms{cpu:>12.3f}ms{cpu / base:>12.2f}x")
    after = c.get_session()(cwd=cwd, session_id=sid).session
    expected = 2 * rounds * n
    print(f"stored: {after.ai_calls} calls (made {expected}), ${after.ai_cost} (expected "
          f"${CHAT_COST * expected}): {'exact' if after.ai_cost == Decimal(CHAT_COST * expected) else 'MISMATCH'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=50, help="calls per transaction in the storage pass")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COSTHQ_HOME"] = str(Path(tmp) / "data")
        os.chdir(tmp)
        from costhq.agents import AgentSession

        session = AgentSession("bench").start()  # also the active session of the cwd
        made = run_pass(session, a.calls, 0) + run_pass(session, a.calls, a.latency_ms)
        summary = session.end()
        print(f"\nstored: {summary.ai_calls} calls (made {made}), ${summary.ai_cost}; "
              f"AgentSession.spent ${session.spent}")
        storage_pass(session._c, str(Path(tmp) / "storage"), min(a.calls, 100), a.batch)


if __name__ == "__main__":
    main()
