"""Benchmark: overhead of a tracked SDK call over the bare SDK (target < 2 ms per call).

Both clients talk to the same in-process httpx2.MockTransport (the fake upstream of the
tests), so the difference is CostHQ's work: pricing, one SQLite transaction (WAL) and the
session look-up. Runs against a temp COSTHQ_HOME.

    .venv/bin/python bench/library.py [--calls 300]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    n = ap.parse_args().calls
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COSTHQ_HOME"] = str(Path(tmp) / "data")
        os.chdir(tmp)
        import anthropic
        import openai

        from costhq.agents import AgentSession
        from costhq.extensions import TrackedAnthropic, TrackedOpenAI
        from tests.e2e.helpers_library import Recorded, sync_client

        msg = [{"role": "user", "content": "hi"}]
        session = AgentSession("bench").start()
        cases = {
            "openai chat": (openai.OpenAI(api_key="k", http_client=sync_client(Recorded())),
                            TrackedOpenAI(api_key="k", http_client=sync_client(Recorded()), session=session),
                            lambda c: c.chat.completions.create(model="gpt-4o", messages=msg)),
            "openai chat (active session lookup)": (
                openai.OpenAI(api_key="k", http_client=sync_client(Recorded())),
                TrackedOpenAI(api_key="k", http_client=sync_client(Recorded())),
                lambda c: c.chat.completions.create(model="gpt-4o", messages=msg)),
            "anthropic messages": (anthropic.Anthropic(api_key="k", http_client=sync_client(Recorded())),
                                   TrackedAnthropic(api_key="k", http_client=sync_client(Recorded()), session=session),
                                   lambda c: c.messages.create(model="claude-sonnet-4", max_tokens=5, messages=msg)),
        }
        print(f"{'case':<38}{'bare med':>10}{'tracked med':>13}{'overhead med':>14}{'overhead p95':>14}")
        for name, (bare, tracked, call) in cases.items():
            for c in (bare, tracked):
                timed(lambda c=c, call=call: call(c), 20)  # warm-up: imports, price catalogue, connections
            b = timed(lambda call=call, bare=bare: call(bare), n)
            t = timed(lambda call=call, tracked=tracked: call(tracked), n)
            bq, tq = statistics.quantiles(b, n=20), statistics.quantiles(t, n=20)
            print(f"{name:<38}{statistics.median(b):>9.3f}ms{statistics.median(t):>11.3f}ms"
                  f"{statistics.median(t) - statistics.median(b):>12.3f}ms{tq[18] - bq[18]:>12.3f}ms")
        session.end()


if __name__ == "__main__":
    main()
