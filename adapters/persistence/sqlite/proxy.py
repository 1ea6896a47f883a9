"""Storage for the proxy's hot path (persistence adapter): batched usage writes and a firewall probe.

- `ApswBatch`: the proxy's usage writer records many calls in ONE IMMEDIATE transaction (one
  commit, one WAL sync); `uow()` gives a UnitOfWork whose `with` block is a SAVEPOINT inside it,
  so one failing record rolls back alone. Used by one thread (the writer) at a time.
- `ApswFirewallArming`: "could the spend firewall refuse or reserve anything now?", asked on
  every proxied request. A persistent read connection answers from memory and re-reads the
  firewall tables only after `PRAGMA data_version` says another connection committed.
- `ApswKeptReads`: read-only units of work on ONE kept connection (the proxy's session look-up,
  issue 15: opening a connection per request was a fifth of an armed request's CPU), and its
  `PRAGMA data_version`, which changes whenever another connection commits.
No apsw exception leaves this package.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import apsw

from costhq.adapters.persistence.audit_head import FileAuditAnchor, head_path
from costhq.adapters.persistence.converter import parse_time
from costhq.adapters.persistence.sqlite.connection import DataVersion, open_connection
from costhq.adapters.persistence.sqlite.transaction import WriteTransaction, translate_errors
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.application.batch_reads import BatchReads
from costhq.application.proxy import CurrentProxySession, ProxySessionLookup, ResolveProxySession
from costhq.domain.audit import AuditEntry
from costhq.domain.errors import CostHQError


class _SavepointUnitOfWork(ApswUnitOfWork):
    """UnitOfWork on the batch's connection: a SAVEPOINT, released on clean exit, else rolled back."""

    def __init__(self, conn: apsw.Connection, audit_key: bytes | None, box: ApswBatch | None = None) -> None:
        super().__init__(":batch:", audit_key=audit_key)
        self._shared, self._box = conn, box

    def __enter__(self) -> Self:
        self._bind(self._shared)
        with translate_errors():
            self._shared.__enter__()
        return self

    @property
    def batch_reads(self) -> BatchReads | None:
        """What the batch transaction has read of the firewall tables, shared by its savepoints."""
        return None if self._box is None else self._box.reads

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with translate_errors():
            self._shared.__exit__(exc_type, exc, tb)
        if exc_type is not None and self._box is not None:
            self._box.reads = BatchReads()  # it may hold this savepoint's rolled-back writes
        if exc_type is None and self._box is not None and self.audit.appended is not None:
            self._box.head = self.audit.appended  # the batch writes the head file after its commit


class ApswBatch:
    """`with batch():` one IMMEDIATE transaction; `batch.uow` inside it. One writer thread uses it.

    The connection is kept from batch to batch (issue 15: opening one per batch, with its PRAGMAs
    and a cold page cache, was a millisecond or more of every batch of the proxy's recorder); a
    batch that fails for any reason but a refused record drops it, and the next opens a new one.
    """

    def __init__(self, db_path: str, *, audit_key: bytes | None = None) -> None:
        self._path, self._key = str(db_path), audit_key
        self._conn: apsw.Connection | None = None
        self._kept: apsw.Connection | None = None
        self.head: AuditEntry | None = None
        self.reads = BatchReads()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        conn = self._kept or open_connection(self._path)
        self._kept, self.head, self.reads = None, None, BatchReads()
        with contextlib.ExitStack() as on_error:
            on_error.callback(conn.close)
            with WriteTransaction(conn):
                self._conn = conn
                try:
                    yield
                finally:
                    self._conn = None
            on_error.pop_all()  # committed: keep the connection for the next batch
        self._kept = conn
        if self.head is not None:  # committed (a failed commit raised above)
            FileAuditAnchor(head_path(self._path), self._key).write(self.head)

    def close(self) -> None:
        """Close the kept connection (the writer has stopped)."""
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def uow(self) -> _SavepointUnitOfWork:
        """A unit of work inside the open batch (the port's `Callable[[], UnitOfWork]`)."""
        if self._conn is None:
            raise RuntimeError("ApswBatch.uow() outside `with batch():`")
        return _SavepointUnitOfWork(self._conn, self._key, self)


class ApswFirewallArming:
    """True when a budget rule exists, runaway blocking is on, or a runaway block is still open.

    `block_unpriced` (config) arms it for good. A busy or failing read answers True: the proxy
    then takes the full guard path, which waits and decides properly. Thread-safe: the event loop
    asks it, and the usage writer re-reads it after its commits (`ProxyDeps.warm`).
    """

    def __init__(self, db_path: str, *, block_unpriced: bool = False, version: DataVersion | None = None) -> None:
        self._path, self._always = str(db_path), block_unpriced
        self._changes = version or DataVersion(self._path)
        self._conn: apsw.Connection | None = None
        self._version: int | None = None
        self._armed = True
        self._until: datetime | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        if self._always:
            return True
        with self._lock:
            return self._answer()

    def _answer(self) -> bool:
        try:
            if self._conn is None:
                self._conn = open_connection(self._path)
                self._conn.set_busy_timeout(0)  # asked on the event loop: never wait for a lock
            version = self._changes()  # before the read: a commit in between only costs one more read
            if version != self._version or (self._until is not None and datetime.now(UTC) >= self._until):
                self._armed, self._version = self._read(self._conn), version
        except (apsw.Error, CostHQError):
            self._version = None
            return True
        return self._armed

    def _read(self, conn: apsw.Connection) -> bool:
        # One statement, so one read snapshot answers the three questions.
        rules, config, until = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM budgets), (SELECT config FROM runaway_config WHERE id = 1),"
            " (SELECT MAX(until) FROM runaway_trips WHERE action = 'block' AND cleared_at IS NULL)").get
        self._until = parse_time(until) if isinstance(until, str) else None
        if self._until is not None and self._until <= datetime.now(UTC):
            self._until = None
        blocking = isinstance(config, str) and json.loads(config).get("action") == "block"
        return bool(rules) or blocking or self._until is not None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._changes.close()


class _KeptReadUnitOfWork(ApswUnitOfWork):
    """A read-only unit of work (a deferred transaction: one WAL snapshot, never the write lock) on
    the kept connection of an `ApswKeptReads`, which it holds for the `with` block."""

    def __init__(self, kept: ApswKeptReads) -> None:
        super().__init__(":kept:", read_only=True)
        self._kept = kept

    def __enter__(self) -> Self:
        self._kept.lock.acquire()
        try:
            conn = self._kept.connection()
            self._bind(conn)
            self._tx = WriteTransaction(conn, read_only=True)
            self._tx.__enter__()
        except BaseException:
            self._kept.lock.release()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._tx.__exit__(exc_type, exc, tb)
        finally:
            self._kept.lock.release()


class ApswKeptReads:
    """`uow()`: a read-only unit of work on one kept connection (threads take turns on it);
    `version()`: that connection's `PRAGMA data_version`, which changes whenever another
    connection (of any process) commits, so an answer read after it is exact until it changes."""

    def __init__(self, db_path: str) -> None:
        self._path = str(db_path)
        self.lock = threading.Lock()
        self._conn: apsw.Connection | None = None

    def connection(self) -> apsw.Connection:
        """The kept connection, opened on first use (call with `lock` held)."""
        if self._conn is None:
            self._conn = open_connection(self._path)
        return self._conn

    def uow(self) -> _KeptReadUnitOfWork:
        """A read-only unit of work on the kept connection (the port's `Callable[[], UnitOfWork]`)."""
        return _KeptReadUnitOfWork(self)

    def version(self) -> int:
        with self.lock, translate_errors():
            return int(self.connection().pragma("data_version"))

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def kept_session_lookup(db_path: str, background: Any,
                        version: DataVersion | None = None) -> tuple[ResolveProxySession, ProxySessionLookup]:
    """(resolve, find) for the proxy: the session look-up reads on one kept connection, and `find`
    answers from memory until another connection commits (ADR 0009): until `version` changes (the
    process's shared `DataVersion`; None: the kept connection's own); `background` creates the
    background session (EnsureBackgroundSession)."""
    kept = ApswKeptReads(db_path)
    current = CurrentProxySession(kept.uow)
    return ResolveProxySession(current, background), ProxySessionLookup(current, version or kept.version, kept.close)
