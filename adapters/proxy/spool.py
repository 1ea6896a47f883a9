"""Usage writes off the request path, never lost: a write-ahead spool plus one writer thread.

Rules:
- `submit` appends one JSON line to the spool (flushed to the OS) *before* queueing the record,
  so a crash after the response loses nothing: the next proxy start replays leftover spools.
- One writer thread records queued items (one writer: threads never queue on SQLite's lock),
  many per transaction: it takes what is queued (up to `BATCH`) and records it inside one
  `batch()` context (committing every `BATCH_SECONDS` at most, then leaving the lock free as
  long), so a burst costs one commit instead of one per call and never starves other writers.
- A spool segment (segments.py) is deleted once every record written to it is committed.
- Replay is idempotent: every record carries its call key and a recorded key is skipped.
- A record the use case refuses (not a passing storage error) is moved to the quarantine once
  (segments.Quarantine), so a bad entry is neither lost silently nor retried at every start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import operator
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import attrs

from costhq.adapters.proxy.calls import request_facts
from costhq.adapters.proxy.segments import Quarantine, Spool
from costhq.application.usage import UsageInput
from costhq.domain.errors import CostHQError
from costhq.domain.usage import TokenCounts

log = logging.getLogger("costhq.proxy")
BATCH = 256
BATCH_SECONDS = 0.05  # commit at least this often, so other writers (`cs log-ai`...) get the lock
_TRANSIENT = frozenset({"storage_busy"})


class _Retry:
    """The outcome of a record that was not stored this time (storage busy): it stays spooled.

    One object, also across processes (a recorder process sends it back by name, ADR 0009).
    """

    def __reduce__(self) -> str:
        return "_RETRY"


_RETRY = _Retry()


@attrs.frozen
class _Rejected:
    """The outcome of a record the use case refused (its error code): quarantined, not retried."""

    code: str


@attrs.define(kw_only=True)
class PendingUsage:
    """A call waiting to be recorded, with its attribution inputs.

    `after` (in memory only, e.g. the guard's settle) runs with the recorded cost. `body` (in
    memory only, never spooled) is set when the guard was skipped: the writer turns it into
    the runaway `fingerprint` and drops it.
    """

    call: UsageInput
    header_session: int | None = None
    pinned_session: int | None = None
    session_id: int | None = None
    fingerprint: str | None = None
    after: Callable[[Any], None] | None = None
    body: bytes | None = None
    segment: int = -1


class UsageWriter:
    """Queue + spool + writer thread around `record(PendingUsage) -> cost | None`.

    `batch()` is a context manager the writer enters around each group of records (one
    transaction); `record` must then write inside it. The default records one by one.
    `after_commit()` runs on the writer thread after each committed batch (the proxy re-reads its
    request path's caches there, which that commit made stale, instead of the next request).
    """

    def __init__(self, record: Callable[[PendingUsage], Any], spool_dir: Path, converter: Any,
                 batch: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
                 after_commit: Callable[[], None] | None = None) -> None:
        self._record, self._conv, self._batch, self._after_commit = record, converter, batch, after_commit
        self._spool = Spool(spool_dir)
        self._quarantine = Quarantine(spool_dir)
        self._queue: queue.SimpleQueue[PendingUsage | _Replay | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._outstanding = 0
        self._thread = threading.Thread(target=self._run, name="costhq-usage-writer", daemon=True)

    def start(self) -> None:
        leftovers = self._spool.claim_leftovers()
        with self._idle:
            self._outstanding += 1
        self._thread.start()
        self._queue.put(_Replay(leftovers))

    def expect(self) -> None:
        """A request is in flight: `wait_idle` also waits for its record (`submit` or `forget`)."""
        with self._idle:
            self._outstanding += 1

    def forget(self) -> None:
        """An expected record will not come (the request failed before any usage existed)."""
        self._done(1)

    def submit(self, item: PendingUsage, *, expected: bool = False) -> None:
        line = json.dumps(self._dump(item), separators=(",", ":")).encode() + b"\n"
        item.segment = self._spool.append(line)
        if not expected:
            self.expect()
        self._queue.put(item)

    def wait_idle(self, timeout: float) -> bool:
        """True once everything submitted so far is recorded (tests, benchmarks, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Drain the queue, then close the spool (flush on shutdown)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self._spool.close()

    def _done(self, n: int) -> None:
        with self._idle:
            self._outstanding -= n
            self._idle.notify_all()

    def _dump(self, item: PendingUsage) -> dict[str, Any]:
        return {"call": self._conv.unstructure(item.call), "header": item.header_session,
                "pinned": item.pinned_session, "session": item.session_id, "fp": item.fingerprint}

    def _load(self, doc: dict[str, Any]) -> PendingUsage:
        return PendingUsage(call=self._conv.structure(doc["call"], UsageInput), header_session=doc.get("header"),
                            pinned_session=doc.get("pinned"), session_id=doc.get("session"),
                            fingerprint=doc.get("fp"))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if isinstance(first, _Replay):  # only ever first in the queue (`start`)
                self._replay(first.paths)
                self._done(1)
                continue
            items, stopping = ([] if first is None else [first]), first is None
            while not stopping and len(items) < BATCH:  # everything already queued joins this batch
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                stopping = more is None
                if isinstance(more, PendingUsage):
                    items.append(more)
            if items:
                outcomes = self._write(items)
                self._quarantine.put([(self._dump(item), outcome.code) for item, outcome in zip(items, outcomes,
                                      strict=True) if isinstance(outcome, _Rejected)])
                for item, outcome in zip(items, outcomes, strict=True):
                    if outcome is not _RETRY:
                        self._spool.done(item.segment)
                self._done(len(items))
            if stopping:
                return

    def _write(self, items: list[PendingUsage]) -> list[Any]:
        """Record `items` in as few transactions as the time budget allows; one outcome per item
        (the recorded cost, a `_Rejected`, or `_RETRY`)."""
        for item in items:
            if item.body is not None:  # the guard was skipped: fingerprint off the request path
                item.fingerprint, item.body = request_facts(item.body)[2], None
        done: list[Any] = []
        while len(done) < len(items):
            done += self._write_some(items[len(done):])
        return done

    def _write_some(self, items: list[PendingUsage]) -> list[Any]:
        """Record a prefix of `items` in one transaction; a failed one is retried, then left in the spool."""
        for attempt in range(3):
            began = time.monotonic()
            try:
                costs = self._transaction(items)
            except CostHQError as exc:  # e.g. storage_busy at BEGIN or COMMIT: retry the batch
                log.warning("usage batch write failed (%s), attempt %d", exc.code, attempt + 1)
                continue
            except Exception:  # last resort: keep the writer alive; the spool keeps the records
                log.exception("usage batch write failed")
                return [_RETRY] * len(items)
            if self._after_commit is not None:
                try:
                    self._after_commit()
                except Exception:  # only a cache warm-up: the next request reads for itself; the writer lives on
                    log.warning("refreshing the request path after a commit failed", exc_info=True)
            # Leave the lock free as long as we held it: SQLite's busy handler is not fair, and
            # without a gap a backlogged writer starves every other process (measured: `cs`
            # commands failed with "database is locked" during a benchmark burst).
            time.sleep(min(time.monotonic() - began, BATCH_SECONDS))
            for item, cost in zip(items, costs, strict=False):
                if item.after is not None and cost is not _RETRY and not isinstance(cost, _Rejected):
                    item.after(cost)
            return costs
        return [_RETRY] * len(items)

    def _transaction(self, items: list[PendingUsage]) -> list[Any]:
        # A recorder process (ADR 0009) takes the whole batch in one message and runs the same loop.
        remote = getattr(self._batch, "record_batch", None)
        return remote(items) if remote is not None else record_batch(items, self._record, self._batch)

    def _replay(self, paths: list[Path]) -> None:
        """Record leftover spools; refused entries go to the quarantine (one stderr line for all)."""
        rejected: list[tuple[dict[str, Any], str]] = []
        for path in paths:
            docs, items = [], []
            lines = path.read_bytes().split(b"\n")
            for i, raw in enumerate(lines):
                try:
                    doc = json.loads(raw)
                    items.append(self._load(doc))
                    docs.append(doc)
                except Exception:  # cattrs raises ExceptionGroups; json a ValueError
                    if raw.strip() and i < len(lines) - 1:  # the torn last line of a crash holds nothing
                        rejected.append(({"unreadable": raw.decode("utf-8", "replace")}, "unreadable"))
            outcomes = [o for i in range(0, len(items), BATCH) for o in self._write(items[i:i + BATCH])]
            rejected += [(doc, o.code) for doc, o in zip(docs, outcomes, strict=True) if isinstance(o, _Rejected)]
            retry = [doc for doc, o in zip(docs, outcomes, strict=True) if o is _RETRY]
            if retry:  # storage was busy: only these are tried again at the next start
                path.write_bytes(b"".join(json.dumps(d, separators=(",", ":")).encode() + b"\n" for d in retry))
            else:
                path.unlink(missing_ok=True)
        self._quarantine.put(rejected)


def record_batch(items: list[PendingUsage], record: Callable[[PendingUsage], Any],
                 batch: Callable[[], AbstractContextManager[Any]],
                 before_commit: Callable[[list[Any]], None] | None = None, seconds: float = BATCH_SECONDS) -> list[Any]:
    """Record a prefix of `items` in one `batch()` transaction, stopping once `seconds` have passed.

    Returns one outcome per item written: what `record` returned, `_RETRY` (storage busy: it stays
    spooled) or `_Rejected` (refused by the use case: quarantined). Each record has its own
    savepoint, so a failed one rolls back alone. `before_commit(outcomes)` runs once all are
    written and before the commit (raising rolls the batch back).

    Raises:
        CostHQError: the transaction could not begin or commit (the caller retries the batch).
    """
    outcomes: list[Any] = []
    deadline = time.monotonic() + seconds
    with batch():
        for item in items:
            outcomes.append(_outcome(record, item))
            if time.monotonic() > deadline:
                break
        if before_commit is not None:
            before_commit(outcomes)
    return outcomes


def _outcome(record: Callable[[PendingUsage], Any], item: PendingUsage) -> Any:
    try:
        return record(item)
    except CostHQError as exc:  # this record's savepoint rolled back
        if exc.code in _TRANSIENT:
            log.warning("usage write failed (%s)", exc.code)
            return _RETRY
        return _Rejected(exc.code)
    except Exception:
        log.exception("usage write failed")
        return _Rejected("internal_error")


@attrs.frozen
class _Replay:
    paths: list[Path]


_CALL = tuple(f.name for f in attrs.fields(UsageInput))
_TOKENS = tuple(f.name for f in attrs.fields(TokenCounts))
_call_values, _token_values = operator.attrgetter(*_CALL), operator.attrgetter(*_TOKENS)


def pack(item: PendingUsage) -> tuple[Any, ...]:
    """`item` as plain tuples, for the recorder process's pipe (issue 15: pickling attrs objects was
    ~4 % of the proxy's CPU); the in-memory `after` and `body` stay behind. `unpack` inverts it."""
    call = item.call
    return (_call_values(call), _token_values(call.tokens), item.header_session, item.pinned_session,
            item.session_id, item.fingerprint, item.segment)


def unpack(packed: tuple[Any, ...]) -> PendingUsage:
    values, tokens, header, pinned, session, fingerprint, segment = packed
    counts = TokenCounts(**dict(zip(_TOKENS, tokens, strict=True)))
    call = UsageInput(**dict(zip(_CALL, values, strict=True)) | {"tokens": counts})
    return PendingUsage(call=call, header_session=header, pinned_session=pinned, session_id=session,
                        fingerprint=fingerprint, segment=segment)
