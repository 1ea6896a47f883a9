"""Usage writes off the request path, never lost: a write-ahead spool plus one writer thread.

Rules:
- `submit` appends one JSON line to the spool (flushed to the OS) *before* queueing the record,
  so a crash after the response loses nothing: the next proxy start replays leftover spools.
- One writer thread records queued items (one writer: threads never queue on SQLite's lock).
- A spool segment is deleted (or truncated) once every record written to it is committed;
  segments rotate past 1 MB, so the spool stays small under sustained load.
- Replay is idempotent: every record carries a request id and a recorded id is skipped.
- Segments are `proxy-spool-<pid>-<n>.jsonl` in the data dir; a start claims (renames) only
  segments of processes that are no longer running.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from costhq.application.usage import UsageInput
from costhq.domain.errors import CostHQError

log = logging.getLogger("costhq.proxy")
_ROTATE_BYTES = 1024 * 1024
_NAME = re.compile(r"^proxy-spool-(\d+)-(\d+|replay-\d+)\.jsonl$")


@attrs.define(kw_only=True)
class PendingUsage:
    """A call waiting to be recorded, with its attribution inputs.

    `after` (in memory only, e.g. the guard's settle) runs with the recorded cost.
    """

    call: UsageInput
    header_session: int | None = None
    pinned_session: int | None = None
    session_id: int | None = None
    after: Callable[[Any], None] | None = None
    segment: int = -1


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # type: ignore[attr-defined]
        if handle:
            ctypes.windll.kernel32.CloseHandle(handle)  # type: ignore[attr-defined]
        return bool(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """Append-only segments with per-segment pending counts (thread-safe)."""

    def __init__(self, directory: Path) -> None:
        self._dir, self._pid = directory, os.getpid()
        self._lock = threading.Lock()
        self._segments: dict[int, list[Any]] = {}  # n -> [path, file, pending, size]
        self._current = -1
        directory.mkdir(parents=True, exist_ok=True)
        self._rotate()

    def _rotate(self) -> None:
        self._current += 1
        path = self._dir / f"proxy-spool-{self._pid}-{self._current}.jsonl"
        self._segments[self._current] = [path, open(path, "ab"), 0, 0]  # noqa: SIM115 - closed in done/close

    def append(self, line: bytes) -> int:
        with self._lock:
            n = self._current
            seg = self._segments[n]
            seg[1].write(line)
            seg[1].flush()
            seg[2] += 1
            seg[3] += len(line)
            if seg[3] > _ROTATE_BYTES:
                self._rotate()
            return n

    def done(self, n: int) -> None:
        with self._lock:
            seg = self._segments.get(n)
            if seg is None:
                return
            seg[2] -= 1
            if seg[2] > 0:
                return
            if n == self._current:
                seg[1].truncate(0)
                seg[1].seek(0)
                seg[3] = 0
            else:
                seg[1].close()
                seg[0].unlink(missing_ok=True)
                del self._segments[n]

    def close(self) -> None:
        with self._lock:
            for path, fh, pending, _size in self._segments.values():
                fh.close()
                if pending == 0:
                    path.unlink(missing_ok=True)
            self._segments.clear()

    def claim_leftovers(self) -> list[Path]:
        """Rename the segments of dead processes to ours, for replay."""
        claimed = []
        for i, path in enumerate(sorted(self._dir.glob("proxy-spool-*.jsonl"))):
            m = _NAME.match(path.name)
            if not m or int(m.group(1)) == self._pid or _alive(int(m.group(1))):
                continue
            target = self._dir / f"proxy-spool-{self._pid}-replay-{i}.jsonl"
            try:
                path.replace(target)
            except OSError:
                continue  # another proxy claimed it first
            claimed.append(target)
        return claimed


class UsageWriter:
    """Queue + spool + writer thread around a `record(PendingUsage) -> cost | None` callable."""

    def __init__(self, record: Callable[[PendingUsage], Any], spool_dir: Path, converter: Any) -> None:
        self._record, self._conv = record, converter
        self._spool = Spool(spool_dir)
        self._queue: queue.SimpleQueue[PendingUsage | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._outstanding = 0
        self._thread = threading.Thread(target=self._run, name="costhq-usage-writer", daemon=True)

    def start(self) -> None:
        leftovers = self._spool.claim_leftovers()
        with self._idle:
            self._outstanding += 1
        self._thread.start()
        self._queue.put(_Replay(leftovers))  # type: ignore[arg-type]

    def expect(self) -> None:
        """A request is in flight: `wait_idle` also waits for its record (`submit` or `forget`)."""
        with self._idle:
            self._outstanding += 1

    def forget(self) -> None:
        """An expected record will not come (the request failed before any usage existed)."""
        with self._idle:
            self._outstanding -= 1
            self._idle.notify_all()

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

    def _dump(self, item: PendingUsage) -> dict[str, Any]:
        return {"call": self._conv.unstructure(item.call), "header": item.header_session,
                "pinned": item.pinned_session, "session": item.session_id}

    def _load(self, doc: dict[str, Any]) -> PendingUsage:
        return PendingUsage(call=self._conv.structure(doc["call"], UsageInput), header_session=doc.get("header"),
                            pinned_session=doc.get("pinned"), session_id=doc.get("session"))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, _Replay):
                self._replay(item.paths)
            elif self._write(item):
                self._spool.done(item.segment)
            with self._idle:
                self._outstanding -= 1
                self._idle.notify_all()

    def _write(self, item: PendingUsage) -> bool:
        for attempt in range(3):
            try:
                cost = self._record(item)
            except CostHQError as exc:  # e.g. storage_busy: retry, else leave it in the spool
                log.warning("usage write failed (%s), attempt %d", exc.code, attempt + 1)
                continue
            except Exception:  # last resort: keep the writer alive; the spool keeps the record
                log.exception("usage write failed")
                return False
            if item.after is not None:
                item.after(cost)
            return True
        return False

    def _replay(self, paths: list[Path]) -> None:
        for path in paths:
            ok = True
            with open(path, "rb") as fh:
                for raw in fh:
                    try:
                        item = self._load(json.loads(raw))
                    except Exception:  # cattrs raises ExceptionGroups; any bad line is skipped
                        continue  # a torn last line from the crash: nothing recoverable
                    ok = self._write(item) and ok
            if ok:
                path.unlink(missing_ok=True)


@attrs.frozen
class _Replay:
    paths: list[Path]
