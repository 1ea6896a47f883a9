"""PostgreSQL unit of work (port: UnitOfWork, FirewallUnitOfWork) with its repositories.

Assumptions: a connection per unit of work, never shared by two at once: a thread keeps its
last idle connection per database for its next unit of work (`pooled`: the process's bounded
psycopg-pool lends one, for the long-running front ends); one `conn.transaction()` per `with`
block: commit on clean exit, rollback on exception, then the connection goes back idle. Nested
blocks of the repositories are SAVEPOINTs. The schema is checked, and migrated when older, on
the first unit of work of a process per database (schema.py).
No psycopg exception leaves this package.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from costhq.adapters.persistence.postgres import schema
from costhq.adapters.persistence.postgres.audit import PgAuditLog
from costhq.adapters.persistence.postgres.db import PgDb, connect, shared_pool, translate_errors
from costhq.adapters.persistence.postgres.firewall import PgBudgetRepository, PgRunawayRepository
from costhq.adapters.persistence.postgres.records import PgActivityRepository, PgUsageRepository
from costhq.adapters.persistence.postgres.sessions import PgSessionRepository
from costhq.adapters.persistence.sql import LazyRepositories
from costhq.application.errors import StorageBusy

if TYPE_CHECKING:
    import cattrs
    import psycopg

    from costhq.adapters.persistence.converter import RowConverter

_migrated: set[str] = set()
_schema_lock = threading.Lock()
# One idle connection per thread and database: a `cs` call runs a few units of work one after
# the other, and each new connection costs a TCP connect plus a scram-sha-256 handshake (~10 ms).
_idle = threading.local()


def _take(url: str, read_only: bool) -> psycopg.Connection[Any]:
    slot: dict[str, Any] = getattr(_idle, "conns", None) or {}
    conn: psycopg.Connection[Any] | None = slot.pop(url, None)
    if conn is None or conn.closed or conn.info.transaction_status != _IDLE:
        if conn is not None:
            conn.close()
        conn = connect(url)
    with translate_errors(url):
        conn.read_only = read_only
        conn.isolation_level = _REPEATABLE_READ() if read_only else None
    return conn


def _give_back(url: str, conn: psycopg.Connection[Any]) -> None:
    slot = getattr(_idle, "conns", None)
    if slot is None:
        slot = _idle.conns = {}
    old = slot.pop(url, None)
    if old is not None:
        old.close()
    if conn.closed or conn.info.transaction_status != _IDLE:
        conn.close()
    else:
        slot[url] = conn


def _REPEATABLE_READ() -> Any:
    import psycopg

    return psycopg.IsolationLevel.REPEATABLE_READ


_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE


def ensure_schema(url: str, converter: Any = None) -> None:
    """Check (and migrate when older) the database's schema once per process."""
    if url in _migrated:
        return
    with _schema_lock:
        if url in _migrated:
            return
        conn = _take(url, False)
        try:
            db = PgDb(conn, converter or _default_converter(), url=url)
            if schema.current_version(db) < schema.CURRENT_VERSION:
                schema.migrate(db)
        finally:
            _give_back(url, conn)
        _migrated.add(url)


class PgUnitOfWork(LazyRepositories):
    """UnitOfWork on PostgreSQL: one connection and one transaction per `with` block.

    `user` and `machine` stamp the sessions it creates (who and where). `read_only` opens a
    REPEATABLE READ READ ONLY transaction: a consistent snapshot that takes no row locks.
    `durable=False` commits with `synchronous_commit = off` (the server does not wait for its WAL
    flush: a server crash may lose the commit, never corrupt it): for the firewall's leases and
    samples, never for audit entries.
    """

    LAZY: ClassVar[dict[str, str]] = {
        **LazyRepositories.LAZY, "reports": "costhq.adapters.persistence.postgres.integrations:PgReportRepository"}

    sessions: PgSessionRepository
    usage: PgUsageRepository
    activity: PgActivityRepository
    audit: PgAuditLog
    budgets: PgBudgetRepository
    runaway: PgRunawayRepository

    def __init__(self, url: str, converter: cattrs.Converter | RowConverter | None = None, *,
                 audit_key: bytes | None = None, read_only: bool = False, durable: bool = True,
                 user: str | None = None, machine: str | None = None, pooled: bool = False) -> None:
        self._url = url
        self._conv = converter or _default_converter()
        self._audit_key = audit_key
        self._read_only = read_only
        self._durable = durable
        self._user, self._machine = user, machine
        self._pool = shared_pool(url) if pooled else None
        self._conn: psycopg.Connection[Any] | None = None
        self._tx: Any = None

    def __enter__(self) -> Self:
        ensure_schema(self._url, self._conv)
        conn = self._lend() if self._pool is not None else _take(self._url, self._read_only)
        db = PgDb(conn, self._conv, url=self._url, read_only=self._read_only)
        self.sessions = PgSessionRepository(db, user=self._user, machine=self._machine)
        self.usage, self.activity = PgUsageRepository(db), PgActivityRepository(db)
        self.audit = PgAuditLog(db, self._audit_key)
        self.budgets, self.runaway = PgBudgetRepository(db), PgRunawayRepository(db)
        self._db = db
        self._forget_lazy()
        try:
            with translate_errors(self._url):
                self._tx = conn.transaction()
                self._tx.__enter__()
                if not self._durable and not self._read_only:
                    conn.execute("SET LOCAL synchronous_commit = off")
        except BaseException:
            self._release(conn)
            raise
        self._conn = conn
        return self

    def _lend(self) -> Any:
        from psycopg_pool import PoolTimeout

        try:
            with translate_errors(self._url):
                conn = self._pool.getconn()
        except PoolTimeout:
            raise StorageBusy("The database is busy: no pooled connection free within 30 s") from None
        try:
            with translate_errors(self._url):
                conn.read_only = self._read_only
                conn.isolation_level = _REPEATABLE_READ() if self._read_only else None
        except BaseException:
            self._pool.putconn(conn)
            raise
        return conn

    @property
    def db(self) -> PgDb:
        """The unit of work's statements (for this package's admin code: reset, push)."""
        return self._db

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None, "unit of work was not entered"
        try:
            with translate_errors(self._url):
                self._tx.__exit__(exc_type, exc, tb)
        finally:
            self._release(conn)

    def _release(self, conn: Any) -> None:
        if self._pool is not None:
            self._pool.putconn(conn)
        else:
            _give_back(self._url, conn)


_CONVERTER: list[Any] = []


def _default_converter() -> Any:
    if not _CONVERTER:
        from costhq.adapters.persistence.converter import RowConverter

        _CONVERTER.append(RowConverter())
    return _CONVERTER[0]
