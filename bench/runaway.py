"""Runaway detection: one `window_facts` call at 100 / 10,000 / 50,000 events in the window.

A real SQLite file (schema step 11), default config, every event inside every detector's window.
Session 1: N calls with distinct fingerprints and N recorded costs (nothing trips). Session 2: the
same N costs and N calls of ONE fingerprint (a burst of retries): its identical count reaches the
threshold. Rows, in one process and one unit of work:
- baseline: the velocity window's spend as a full `SUM(cost_units)` over the window's cost events
  (what step 7's query did; cost grows with N), by the same covering index;
- facts: `window_facts` of session 1 (running-total seeks, capped counts, the loop tail);
- burst, skip: `window_facts` of session 2 with `skip={identical}`, as `observe` asks once the
  identical detector has an open trip;
- burst, exact: the same without skip: the count reached the threshold, so it is counted in full
  (once per trip episode in `observe`, for the message's exact figure; grows with N by design).

Run: .venv/bin/python bench/runaway.py [--n 200] [--sizes 100,10000,50000]
Target: facts and burst-skip medians flat across N (within noise); baseline grows with N.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.domain.runaway import ActivityEvent, Detector, EventKind, RunawayConfig

_BASELINE = ("SELECT COALESCE(SUM(cost_units), 0) FROM runaway_events"
             " WHERE session_id = ? AND kind = 'cost' AND at > ? AND at <= ?")


def _stats(samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[max(0, int(len(ms) * 0.95) - 1)]


def _time(fn: Callable[[], object], n: int) -> tuple[float, float]:
    for _ in range(5):  # warm up
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return _stats(out)


def _fill(path: str, size: int, now: datetime, span: timedelta) -> None:
    with ApswUnitOfWork(path) as uow:
        for i in range(size):
            at = now - span + span * (i + 1) / (size + 1)
            for sid, key in ((1, f"fp{i}"), (2, "fp-retry")):
                uow.runaway.add_event(ActivityEvent(session_id=sid, kind=EventKind.CALL, key=key, at=at))
                uow.runaway.add_event(ActivityEvent(session_id=sid, kind=EventKind.COST, cost=Decimal("0.001"),
                                                    at=at))


def bench(tmp: str, sizes: list[int], n: int) -> None:
    cfg = RunawayConfig()
    now = datetime.now(UTC)
    span = timedelta(seconds=min(cfg.velocity_window_s, cfg.identical_window_s, cfg.loop_window_s,
                                 cfg.churn_window_s))
    print(f"window_facts per call, ms (n={n}; N calls + N costs per session in every window)")
    print(f"{'N':>7} {'row':<13} {'median':>8} {'p95':>8}")
    for size in sizes:
        path = f"{tmp}/runaway-{size}.db"
        _fill(path, size, now, span)
        with ApswUnitOfWork(path) as uow:
            repo, conn = uow.runaway, uow._db.conn  # the baseline: raw SQL on the same file
            lo = time_text(now - timedelta(seconds=cfg.velocity_window_s))
            spent = repo.window_facts(1, cfg, now=now).spent
            assert spent == Decimal("0.001") * size, spent
            assert conn.execute(_BASELINE, (1, lo, time_text(now))).fetchall()[0][0] == size * 10**7
            assert repo.window_facts(2, cfg, now=now).repeated == ("fp-retry", size)
            rows = {
                "baseline": lambda: conn.execute(_BASELINE, (1, lo, time_text(now))).fetchall(),  # noqa: B023
                "facts": lambda: repo.window_facts(1, cfg, now=now),  # noqa: B023
                "burst, skip": lambda: repo.window_facts(2, cfg, now=now,  # noqa: B023
                                                         skip=frozenset({Detector.IDENTICAL})),
                "burst, exact": lambda: repo.window_facts(2, cfg, now=now),  # noqa: B023
            }
            for name, fn in rows.items():
                med, p95 = _time(fn, n)
                print(f"{size:7d} {name:<13} {med:8.3f} {p95:8.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--sizes", default="100,10000,50000")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench(tmp, [int(s) for s in args.sizes.split(",")], args.n)


if __name__ == "__main__":
    main()
