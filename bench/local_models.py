"""Benchmark: what local-model pricing adds to recording a call, and the compute-summary query.

1. `LogUsage` in process (real APSW file, WAL): a cloud call without the local-model hook (baseline),
   with it (one extra short read transaction), and a local call (time price + side-table insert).
2. `LocalComputeReport` (per hardware tier and per model, aggregated in SQL) over N local calls.

    .venv/bin/python bench/local_models.py [--calls 300] [--rows 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def row(name: str, ms: list[float], base: float | None = None) -> str:
    med, p95 = statistics.median(ms), statistics.quantiles(ms, n=20)[18]
    ratio = f"{med / base:5.2f}x" if base else "  —  "
    return f"{name:<44} {med:9.3f} {p95:9.3f} {ratio}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--rows", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COSTHQ_HOME"] = str(Path(tmp) / "data")
        os.chdir(tmp)
        import attrs

        from costhq.application.usage import UsageInput
        from costhq.bootstrap.main import build_container
        from costhq.domain.usage import TokenCounts

        c = build_container()
        sid = c.start_session()(name="bench", cwd=tmp).session.id
        c.add_local_model()(name="llama3", runtime="ollama", hardware="runpod-h100")
        log, tokens = c.log_usage(), TokenCounts(input=1000, output=500)
        cloud = UsageInput(provider="openai", model="gpt-4o", tokens=tokens)
        local = UsageInput(provider="ollama", model="llama3", tokens=tokens, duration_ms=12_500)
        log(call=cloud, cwd=tmp, session_id=sid)  # warm: price catalogue loaded, file migrated
        bare = attrs.evolve(log, local=None)  # the same use case without the local-model hook
        bare_ms: list[float] = []
        cloud_ms: list[float] = []
        local_ms: list[float] = []
        for _ in range(args.calls):  # interleaved, so the growing WAL weighs on every case alike
            bare_ms += timed(lambda: bare(call=cloud, cwd=tmp, session_id=sid), 1)
            cloud_ms += timed(lambda: log(call=cloud, cwd=tmp, session_id=sid), 1)
            local_ms += timed(lambda: log(call=local, cwd=tmp, session_id=sid), 1)
        with c.uow()() as uow:  # bulk rows for the summary query, straight through the repositories
            from costhq.domain.local_models import LocalCompute
            from costhq.domain.pricing import PriceSource
            from costhq.domain.usage import UsageRecord

            now = c.clock().now()
            for i in range(args.rows):
                rec = uow.usage.add(UsageRecord(session_id=sid, provider="ollama", model=f"m{i % 7}", tokens=tokens,
                                                total_tokens=1500, cost=None, price_source=PriceSource.LOCAL,
                                                timestamp=now, duration_ms=1000 + i))
                uow.local.add_compute(LocalCompute(usage_id=rec.id, model=f"m{i % 7}", hardware=f"hw{i % 4}",
                                                   usd_per_hour=Decimal("2.69"), duration_ms=1000 + i,
                                                   cost=Decimal("0.001")))
        report = c.local_compute_report()
        summary_ms = timed(report, 30)
    base = statistics.median(bare_ms)
    print(f"{'case':<44} {'median ms':>9} {'p95 ms':>9} ratio")
    print(row("log a cloud call, no local hook (baseline)", bare_ms))
    print(row("log a cloud call (+ local-model look-up)", cloud_ms, base))
    print(row("log a local call (time price + side row)", local_ms, base))
    print(row(f"compute summary over {args.rows + args.calls:,} local calls", summary_ms))


if __name__ == "__main__":
    main()
