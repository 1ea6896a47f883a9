"""APSW unit of work (port: UnitOfWork) with its repositories `.sessions`, `.usage`, `.activity`.

Assumptions: a fresh connection per unit of work, in WAL (see connection.py), and one
`WriteTransaction` (BEGIN IMMEDIATE) per `with` block: commit on clean exit, rollback on
exception, then the connection is closed. Repositories nest `with conn:` blocks (SAVEPOINTs).
No apsw exception leaves this package.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Self

import apsw

from costhq.adapters.persistence.audit_head import FileAuditAnchor, head_path
from costhq.adapters.persistence.converter import RowConverter
from costhq.adapters.persistence.sql import LazyRepositories
from costhq.adapters.persistence.sqlite.audit import ApswAuditLog
from costhq.adapters.persistence.sqlite.connection import open_connection
from costhq.adapters.persistence.sqlite.db import Db
from costhq.adapters.persistence.sqlite.firewall import ApswBudgetRepository
from costhq.adapters.persistence.sqlite.records import ApswActivityRepository, ApswUsageRepository
from costhq.adapters.persistence.sqlite.runaway import ApswRunawayRepository
from costhq.adapters.persistence.sqlite.sessions import ApswSessionRepository
from costhq.adapters.persistence.sqlite.transaction import WriteTransaction

if TYPE_CHECKING:
    import cattrs


class ApswUnitOfWork(LazyRepositories):
    """UnitOfWork: one fresh connection and one IMMEDIATE transaction per `with` block.

    Commits on clean exit, rolls back on exception, then closes the connection. `durable=False`
    commits without a disk flush (see `__enter__`); then the unit of work must not append to the
    audit chain, whose head file could otherwise outlive the entry across a power cut.
    """

    LAZY: ClassVar[dict[str, str]] = {
        **LazyRepositories.LAZY, "reports": "costhq.adapters.persistence.sqlite.integrations:ApswReportRepository"}

    sessions: ApswSessionRepository
    usage: ApswUsageRepository
    activity: ApswActivityRepository

    def __init__(self, db_path: str, converter: cattrs.Converter | RowConverter | None = None, *,
                 audit_key: bytes | None = None, read_only: bool = False, durable: bool = True,
                 user: str | None = None, machine: str | None = None) -> None:
        self._path = str(db_path)
        self._read_only = read_only
        self._durable = durable
        self._conv = converter or _default_converter()
        self._audit_key = audit_key
        self._user, self._machine = user, machine  # issue 16: stamped on the sessions it creates
        self._conn: apsw.Connection | None = None

    def __enter__(self) -> Self:
        conn = open_connection(self._path)
        if not self._durable:
            # WAL + NORMAL: the commit is not flushed to disk (a power cut may lose it, a crash
            # cannot). For state that is worthless after a power cut: the firewall's leases. This
            # connection also never checkpoints (at a commit or at close), which would flush: the
            # durable writers (usage records, `cs` commands) do that.
            conn.pragma("synchronous", 1)
            conn.pragma("wal_autocheckpoint", 0)
            conn.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)
        # Build the repositories (and run any lazy import) *before* taking the write lock:
        # every millisecond under BEGIN IMMEDIATE is a millisecond other writers wait.
        self._bind(conn)
        tx = WriteTransaction(conn, read_only=self._read_only)
        try:
            tx.__enter__()
        except BaseException:
            conn.close()
            raise
        self._conn, self._tx = conn, tx
        return self

    def _bind(self, conn: apsw.Connection) -> None:
        """Build the repositories over `conn` (sqlite/proxy.py's batched units of work reuse it)."""
        db = Db(conn, self._conv)
        self.sessions = ApswSessionRepository(db, user=self._user, machine=self._machine)
        self.usage, self.activity = ApswUsageRepository(db), ApswActivityRepository(db)
        # issue 4: audit chain, budgets and runaway state join the same transaction
        self.audit = ApswAuditLog(db, self._audit_key)
        self.budgets, self.runaway = ApswBudgetRepository(db), ApswRunawayRepository(db)
        # imports, reports, today and local are built on first use (LazyRepositories, ADR 0003)
        self._db = db
        self._forget_lazy()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None, "unit of work was not entered"
        try:
            self._tx.__exit__(exc_type, exc, tb)
        finally:
            conn.close()
        if exc_type is None and self.audit.appended is not None:  # committed: move the head file (no fsync)
            FileAuditAnchor(head_path(self._path), self._audit_key).write(self.audit.appended)


_CONVERTER: list[RowConverter] = []


def _default_converter() -> RowConverter:
    # Built on first use, not at import (no import-time side effects); bootstrap may pass its own.
    # It builds its cattrs converter only when a row other than a session or a usage record comes.
    if not _CONVERTER:
        _CONVERTER.append(RowConverter())
    return _CONVERTER[0]

