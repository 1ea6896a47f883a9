"""The usage writer's storage in a child process: recording runs outside the proxy's GIL (ADR 0009).

`RecorderProcess` stands in for the `batch` the usage writer (spool.py) is given: the writer hands
it each batch whole (`record_batch`), the child records it with the writer's own loop
(`spool.record_batch`: one transaction, a savepoint per record, the time budget) and answers with
each stored record. The writer thread keeps every other rule of its own (spool first, retries,
`after` hooks in this process); it waits on a pipe, without the GIL, while the child does the
SQLite and pricing work on the other core.

Rules:
- The child builds its own storage with the composition root's callables, so nothing but
  picklable settings and usage records cross the pipe; never a request body or a credential.
- `start` returns once the child is ready (imports, storage): a call's firewall
  hold is released only once its record is stored, so the first calls must not wait for them.
- The child ignores SIGINT/SIGTERM (the proxy drains the writer, then closes the child) and exits
  when the pipe closes, so it never outlives the proxy; a batch whose proxy died meanwhile (e.g.
  SIGKILL) is rolled back, not committed: the next start replays it from the spool.
- A child that dies or stops answering fails its batch with `RecorderUnavailable` (the writer
  retries the batch; the records stay in the spool) and is started again for the next attempt.
  A batch committed just before such a death is not doubled: the recording pipeline recognises
  a call it already stored (its call key).
- With `hooks_before_commit` a batch has two phases: the child writes it, the proxy runs the
  items' `after` hooks (the guard's settle, which never writes storage) on the stored records,
  then the child commits.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

import attrs

from costhq.adapters.proxy.spool import pack
from costhq.domain.errors import CostHQError
from costhq.domain.usage import TokenCounts

log = logging.getLogger("costhq.proxy")
START_TIMEOUT_S = 120.0  # the child's imports and storage, on a loaded machine
REPLY_TIMEOUT_S = 120.0  # longer than SQLite's busy waits of a batch; past it the child is replaced


class RecorderUnavailable(CostHQError):
    """The recorder process died or stopped answering; the batch is retried from the spool."""

    code = "recorder_unavailable"


class RecorderError(CostHQError):
    """The child's transaction could not begin or commit; `code` is the child's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # the child's code, per instance


class RecorderProcess:
    """The usage writer's batches, recorded by a child process (`record_batch`)."""

    def __init__(self, factory: tuple[Callable[[Any], Any], Callable[[Any], Any]], arg: Any, *,
                 hooks_before_commit: bool = False) -> None:
        # `factory` = (build, storage), module-level callables (pickled by name): the child records
        # with `storage(build(arg))[:2]`, i.e. (record, batch).
        self._factory, self._arg = factory, arg
        # True when the items' `after` hooks must run inside the batch, before its commit (they then
        # must not write storage: the child holds the write lock meanwhile).
        self._hooks_before_commit = hooks_before_commit
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self.in_flight = False  # a batch was sent and its reply is awaited

    def start(self) -> None:
        """Start the child and wait until it is ready (its imports take a moment), if it is not running.

        A fresh interpreter (`python -m costhq.adapters.proxy.recorder`), not multiprocessing: a
        forked copy of a threaded process is unsafe, and a spawned one re-runs the parent's
        `__main__` script.
        """
        if self._proc is not None and self._proc.poll() is None:
            return
        self._stop_child()
        ours, theirs = socket.socketpair()
        with theirs:
            argv = [sys.executable, "-m", "costhq.adapters.proxy.recorder", str(theirs.fileno()), str(os.getpid())]
            self._proc = subprocess.Popen(argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        self._conn = Connection(ours.detach())
        try:
            self._conn.send_bytes(pickle.dumps((self._factory, self._arg), pickle.HIGHEST_PROTOCOL))
            ready = self._conn.poll(START_TIMEOUT_S) and pickle.loads(self._conn.recv_bytes()) == ("ready", None)
        except (OSError, EOFError):
            ready = False
        if not ready:
            self._stop_child()
            raise RecorderUnavailable("the usage recorder process did not start; the batch will be retried")

    def record_batch(self, items: list[Any]) -> list[Any]:
        """Record a prefix of `items` in one transaction in the child; per item a `Stored` or an outcome mark.

        Raises:
            CostHQError: the transaction could not begin or commit, or the child is gone (retry).
        """
        self.start()
        outcomes = _unpack_outcomes(self._ask(("batch", self._hooks_before_commit, [pack(item) for item in items])))
        if self._hooks_before_commit:  # written, not committed: run the hooks here, then commit
            for item, outcome in zip(items, outcomes, strict=False):
                if item.after is not None and (outcome is None or isinstance(outcome, Stored)):
                    try:
                        item.after(outcome)
                    except Exception:  # a hook never stops the batch (it is retried after the commit)
                        log.exception("usage hook failed")
            outcomes = _unpack_outcomes(self._ask(("commit",)))
        return outcomes

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before the first start or after `close`)."""
        return None if self._proc is None else self._proc.pid

    def _ask(self, msg: tuple[Any, ...]) -> Any:
        try:
            assert self._conn is not None
            self._conn.send_bytes(pickle.dumps(msg, pickle.HIGHEST_PROTOCOL))
            self.in_flight = True
            if not self._conn.poll(REPLY_TIMEOUT_S):
                raise TimeoutError
            status, value = pickle.loads(self._conn.recv_bytes())
            self.in_flight = status == "written"
        except (OSError, EOFError, TimeoutError):
            self.in_flight = False
            self._stop_child()
            raise RecorderUnavailable("the usage recorder process stopped; the batch will be retried") from None
        if status in ("ok", "written"):
            return value
        if status == "error":
            raise RecorderError(*value)
        raise RuntimeError(f"usage recorder: {value}")  # an unexpected error, logged by the writer

    def _stop_child(self, timeout: float = 5.0) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout)  # the child exits once its pipe closes
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def close(self, timeout: float = 30.0) -> None:
        """Stop the child (after the writer has drained): it finishes what it was doing and exits."""
        self._stop_child(timeout)


def _serve(fd: int, parent: int) -> None:
    """The child of proxy `parent`: the factory and its argument first, then one batch per message."""
    from costhq.adapters.proxy.spool import _RETRY, _Rejected, record_batch, unpack

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        (build, storage), arg = pickle.loads(conn.recv_bytes())
    except (EOFError, OSError):
        return
    record, batch = storage(build(arg))[:2]
    try:
        conn.send_bytes(pickle.dumps(("ready", None), pickle.HIGHEST_PROTOCOL))
    except OSError:
        return

    def answers(outcomes: list[Any]) -> list[Any]:
        return [c if c is _RETRY or isinstance(c, _Rejected) else _packed_stored(c) for c in outcomes]

    def before_commit(outcomes: list[Any]) -> None:
        if hooks:  # the proxy runs its hooks on what was written, then says commit
            try:
                conn.send_bytes(pickle.dumps(("written", answers(outcomes)), pickle.HIGHEST_PROTOCOL))
                go = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                go = None
            if go != ("commit",):
                raise RecorderUnavailable("the proxy is gone")
        if os.getppid() != parent:  # the proxy was killed: roll back, its spool keeps the records
            raise RecorderUnavailable("the proxy is gone")

    while True:
        try:
            _kind, hooks, packed = pickle.loads(conn.recv_bytes())
            items = [unpack(p) for p in packed]
        except (EOFError, OSError):
            break
        reply: tuple[str, Any]
        try:
            reply = ("ok", answers(record_batch(items, record, batch, before_commit)))
        except CostHQError as exc:
            reply = ("error", (exc.code, exc.message))
        except Exception as exc:  # kept alive: the parent logs it and the spool keeps the records
            log.exception("usage recorder failed")
            reply = ("crash", type(exc).__name__)
        try:
            conn.send_bytes(pickle.dumps(reply, pickle.HIGHEST_PROTOCOL))
        except OSError:  # the proxy is gone
            break


@attrs.frozen
class StoredCall:
    """What the writer's `after` hooks read of a stored call (the guard's settle: issue 14)."""

    cost: Decimal | None
    tokens: TokenCounts
    timestamp: datetime
    error: bool
    partial: bool


@attrs.frozen
class Stored:
    """One stored call, read by the writer's `after` hooks as `.record` (as on the LoggedUsage the
    in-process recorder returns)."""

    record: StoredCall


_TOKEN_FIELDS = tuple(f.name for f in attrs.fields(TokenCounts))


def _packed_stored(result: Any) -> tuple[Any, ...] | None:
    # Plain values, not the UsageRecord: unpickling 256 attrs records per batch held the proxy's
    # GIL for milliseconds on its writer thread, stalling the event loop (issue 15).
    r = getattr(result, "record", None)
    if r is None:
        return None
    return r.cost, tuple(getattr(r.tokens, f) for f in _TOKEN_FIELDS), r.timestamp, r.error, r.partial


def _unpack_outcomes(outcomes: list[Any]) -> list[Any]:
    return [Stored(StoredCall(o[0], TokenCounts(**dict(zip(_TOKEN_FIELDS, o[1], strict=True))), *o[2:]))
            if type(o) is tuple else o for o in outcomes]


if __name__ == "__main__":
    # Run the imported module's `_serve`, not this `__main__` copy: what it pickles back (`Stored`)
    # must be named `costhq.adapters.proxy.recorder.Stored` for the proxy to load it.
    from costhq.adapters.proxy.recorder import _serve as serve

    serve(int(sys.argv[1]), int(sys.argv[2]))
