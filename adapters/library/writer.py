"""The library's background writer: tracked SDK calls are stored off the caller's thread, in batches.

A SQLite transaction costs milliseconds (open, firewall reads, WAL commit); the tracked clients
must add well under 2 ms to a call. So a call is priced on the caller's thread (the AgentSession's
running total and budget pre-flight need the cost at once) and queued; one daemon thread per
process wakes on the first queued call, lets the calls of the next LINGER_S join it, and stores
them all with `RecordUsage` (the recording pipeline every path uses): one unit of work and one
commit per batch, with every per-call guarantee of `LogUsage` (identity rule, audit entry, session
totals, firewall check).

Durability: a call is stored within about LINGER_S plus one batch write. `flush()` cuts the wait
short and returns once everything queued so far is stored; sessions call it when they end, and
it runs at interpreter exit (atexit). What remains: a process killed by SIGKILL, or ended by a
signal Python does not handle (the default SIGTERM), or by `os._exit`, loses the calls of its last
~LINGER_S plus the batch being written (rolled back whole, never half-written). After `fork()` the
child starts with an empty queue and no thread (the parent's thread does not exist there).
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from costhq.application.usage import BatchOutcome, QueuedUsage

LINGER_S = 0.05  # how long the first queued call waits for company: bounds what a SIGKILL can lose
MAX_BATCH = 500  # calls per transaction: keeps the write lock short for other writers


class _Job(NamedTuple):
    log: Callable[[], Any]  # gives the RecordUsage to store with (resolved on the writer thread)
    item: QueuedUsage
    done: Callable[[BatchOutcome], None]  # bookkeeping of the submitter; runs on the writer thread


class BackgroundWriter:
    """FIFO of calls to store, written in batches by one lazily started daemon thread."""

    def __init__(self, *, linger_s: float = LINGER_S, max_batch: int = MAX_BATCH) -> None:
        self._linger_s, self._max_batch = linger_s, max_batch
        self._reset()

    def _reset(self) -> None:
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._done = threading.Condition()
        self._hurry = threading.Event()  # set by flush(): write what is queued without lingering
        self._submitted = 0
        self._finished = 0

    def submit(self, log: Callable[[], Any], item: QueuedUsage, done: Callable[[BatchOutcome], None]) -> None:
        """Queue `item`; it is stored after every item submitted before it, then `done(outcome)` runs."""
        with self._done:  # counted and queued together, so flush() never waits for an unqueued job
            self._submitted += 1
            self._queue.put(_Job(log, item, done))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="costhq-library-writer", daemon=True)
                    self._thread.start()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every call submitted so far is stored; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            target = self._submitted
            while self._finished < target:
                self._hurry.set()  # again after each batch: the writer clears it before it drains
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._done.wait(left)
        return True

    @property
    def pending(self) -> int:
        with self._done:
            return self._submitted - self._finished

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            self._hurry.wait(self._linger_s)
            self._hurry.clear()
            while len(jobs) < self._max_batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(jobs)
            finally:
                with self._done:
                    self._finished += len(jobs)
                    self._done.notify_all()

    def _write(self, jobs: list[_Job]) -> None:
        groups: dict[int, tuple[Any, list[_Job]]] = {}  # one batch per use case (i.e. per container)
        for job in jobs:
            try:
                log = job.log()
            except Exception as exc:  # e.g. no usable data dir: this call cannot be stored
                _warn(repr(exc))
                _finish(job, BatchOutcome())
                continue
            groups.setdefault(id(log), (log, []))[1].append(job)
        for log, group in groups.values():
            try:
                outcomes = log(items=[job.item for job in group], allow_unpriced=True)
            except Exception as exc:  # the writer must outlive one failed batch (a bug, an untranslated error)
                _warn(repr(exc))
                outcomes = [BatchOutcome()] * len(group)
            for job, outcome in zip(group, outcomes, strict=True):
                if outcome.error is not None:
                    _warn(outcome.error.message)
                _finish(job, outcome)


def _finish(job: _Job, outcome: BatchOutcome) -> None:
    try:
        job.done(outcome)
    except Exception as exc:  # a submitter's bookkeeping must not stop the others'
        _warn(repr(exc))


def _warn(message: str) -> None:
    sys.stderr.write(f"warning: costhq could not record a call: {message}\n")


WRITER = BackgroundWriter()


def flush(timeout: float | None = 30.0) -> bool:
    """Store every tracked call made so far in this process (True when all were written)."""
    return WRITER.flush(timeout)


atexit.register(flush)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=WRITER._reset)
