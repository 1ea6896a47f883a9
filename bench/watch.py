"""Benchmark: 10,000 file writes in bursts against the live file watcher.

The watcher runs in a child process (so its CPU time and peak RSS are its own) and records
through the real use case into a temp SQLite database. Bursts start on a second boundary and
finish well inside it, every other second, so the expected number of events is exactly the
number of distinct (file, second) pairs written.

A second table times commit detection: commits made with pygit2 in a temp repo, each timed
from `create_commit` returning to the watcher's callback (the 10 s poll is the fallback, so
figures well under 10 s come from the HEAD/reflog events).

    .venv/bin/python bench/watch.py [--writes 10000] [--files 100] [--bursts 20] [--commits 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(root: str, db: str) -> None:
    from datetime import UTC, datetime

    from costhq.adapters._shared.clock import SystemClock
    from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
    from costhq.adapters.watchers.watchdog_files import WatchdogFileWatcher
    from costhq.application.tracking import RecordFileChange
    from costhq.domain.sessions import NewSession

    with ApswUnitOfWork(db) as uow:
        sid = uow.sessions.add(NewSession(name="bench", start_time=datetime.now(UTC), working_directory=root)).id
    record = RecordFileChange(lambda: ApswUnitOfWork(db), SystemClock())
    pairs: list[tuple[str, int]] = []

    def on_change(c):  # type: ignore[no-untyped-def]
        pairs.append((c.path, int(c.at)))
        record(session_id=sid, path=c.path, change_type=c.change_type)

    watcher = WatchdogFileWatcher(directory=root, scope=root, git_root=None, on_change=on_change)
    watcher.start()
    print("ready", flush=True)
    sys.stdin.readline()
    watcher.stop()
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"events": len(pairs), "distinct": len(set(pairs)), "cpu": use.ru_utime + use.ru_stime,
                      "rss_mb": use.ru_maxrss / 1024}), flush=True)


def commit_latency(n: int) -> list[float]:
    """Seconds from each commit to its callback (one commit at a time)."""
    import threading
    from datetime import UTC, datetime

    import pygit2

    from costhq.adapters.watchers.commit_watcher import CommitWatcher

    out: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = pygit2.init_repository(tmp, initial_head="main")
        sig = pygit2.Signature("Bench", "bench@example.com")

        def commit(i: int) -> None:
            (Path(tmp) / f"c{i}.txt").write_text(str(i))
            repo.index.add_all()
            repo.index.write()
            parents = [] if repo.head_is_unborn else [repo.head.target]
            repo.create_commit("HEAD", sig, sig, f"c{i}", repo.index.write_tree(), parents)

        commit(-1)
        seen = threading.Event()
        watcher = CommitWatcher(git_root=tmp, since=datetime.now(UTC), start_sha=None,
                                on_commit=lambda _c: seen.set(), on_branch=lambda _o, _n: None)
        watcher.start()
        try:
            for i in range(n):
                seen.clear()
                t0 = time.perf_counter()
                commit(i)
                if seen.wait(15):
                    out.append(time.perf_counter() - t0)
        finally:
            watcher.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=10_000)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--bursts", type=int, default=20)
    ap.add_argument("--commits", type=int, default=20)
    ap.add_argument("--child", nargs=2)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root, db = Path(tmp) / "work", str(Path(tmp) / "bench.db")
        root.mkdir()
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(root), db], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        written: set[tuple[str, int]] = set()
        per_burst, durations = a.writes // a.bursts, []
        for burst in range(a.bursts):
            time.sleep(1 - time.time() % 1 + 1.0 * (burst > 0))  # start on a boundary, skip a second
            t0 = time.time()
            for i in range(per_burst):
                name = f"f{i % a.files:04d}.txt"
                (root / name).write_text(f"{burst}:{i}\n")
                written.add((name, int(time.time())))
            durations.append(time.time() - t0)
            if int(time.time()) != int(t0):
                print(f"warning: burst {burst} crossed a second boundary; counts may differ", file=sys.stderr)
        time.sleep(2)  # let the observer drain (a benchmark, not a test)
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        result = json.loads(proc.stdout.readline())
        proc.wait(timeout=30)
    print(f"{'metric':<38}{'value':>14}")
    rows = [("file writes", a.writes), ("distinct (file, second) pairs", len(written)),
            ("events recorded", result["events"]), ("events == pairs", result["events"] == len(written)),
            ("burst write time median (s)", f"{sorted(durations)[len(durations) // 2]:.3f}"),
            ("watcher CPU time (s)", f"{result['cpu']:.2f}"), ("watcher peak RSS (MB)", f"{result['rss_mb']:.1f}")]
    for k, v in rows:
        print(f"{k:<38}{v!s:>14}")
    if a.commits:
        lat = sorted(commit_latency(a.commits))
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else float("nan")
        print(f"\n{'commit detection':<38}{'value':>14}")
        for k, v in [("commits made / detected", f"{a.commits} / {len(lat)}"),
                     ("latency median (s)", f"{lat[len(lat) // 2]:.3f}" if lat else "-"),
                     ("latency p95 (s)", f"{p95:.3f}"), ("latency max (s)", f"{lat[-1]:.3f}" if lat else "-")]:
            print(f"{k:<38}{v!s:>14}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
