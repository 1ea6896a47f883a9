"""Plumbing of the PostgreSQL repositories: connecting, error translation, rows as dicts.

Assumptions: one connection per unit of work (see uow.py), never shared across threads;
statements use psycopg's `%s` / `%(name)s` placeholders. No psycopg exception leaves this
package: `translate_errors` maps them to the application's errors, passwords redacted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from costhq.adapters.persistence.errors import StorageError
from costhq.adapters.persistence.postgres.url import password_of, redact
from costhq.adapters.persistence.sql import to_pyformat
from costhq.application.errors import Conflict, StorageBusy
from costhq.domain.errors import SessionNotFound

if TYPE_CHECKING:
    import cattrs

    from costhq.adapters.persistence.converter import RowConverter

T = TypeVar("T")
CONNECT_TIMEOUT_S = 10
POOL_MAX = 8  # connections a long-running front end holds at most (psycopg-pool)
_POOLS: dict[str, Any] = {}
_POOLS_LOCK = threading.Lock()
LOCK_TIMEOUT = "15s"  # like SQLite's ~15 s of BEGIN attempts: then StorageBusy, never a hang


@contextlib.contextmanager
def translate_errors(url: str = "") -> Iterator[None]:
    """Re-raise psycopg errors as application errors, with any password removed from the message.

    UniqueViolation/ForeignKeyViolation/CheckViolation -> Conflict; lock timeouts, deadlocks and
    serialization failures -> StorageBusy; anything else (cannot connect, bad SQL) -> StorageError.
    """
    try:
        yield
    except (pg_errors.UniqueViolation, pg_errors.ForeignKeyViolation, pg_errors.CheckViolation) as exc:
        raise Conflict(f"Conflicting write: {_clean(exc, url)}") from None
    except (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected, pg_errors.SerializationFailure,
            pg_errors.QueryCanceled) as exc:
        raise StorageBusy(f"The database is busy: {_clean(exc, url)}") from None
    except psycopg.Error as exc:
        # `from None`: the chained psycopg error may carry the conninfo; the message is enough.
        raise StorageError(f"Storage failure (PostgreSQL): {_clean(exc, url)}") from None


def _clean(exc: BaseException, url: str) -> str:
    return redact(str(exc).strip(), password_of(url)) if url else redact(str(exc).strip())


def configure(conn: psycopg.Connection[Any]) -> None:
    """Session settings of every CostHQ connection (direct or pooled)."""
    # No JIT: every CostHQ statement is an interactive one, and range joins (the dashboard's
    # daily series over the rollup) are estimated at millions of rows, so PostgreSQL spent
    # 365 ms compiling a 12 ms query (docs/benchmarks.md, 2026-12-04).
    conn.execute(f"SELECT set_config('lock_timeout', '{LOCK_TIMEOUT}', false), set_config('jit', 'off', false)")


def shared_pool(url: str) -> Any:
    """This process's bounded psycopg-pool for `url`, opened on first use: the long-running front
    ends (proxy, dashboard) serve from many threads, and a thread-kept connection each would hold
    up to one connection per worker thread on a server the whole team shares."""
    with _POOLS_LOCK:
        pool = _POOLS.get(url)
        if pool is None:
            from psycopg_pool import ConnectionPool

            pool = ConnectionPool(url, min_size=1, max_size=POOL_MAX, open=True, name="costhq", timeout=30,
                                  configure=configure, kwargs={"row_factory": dict_row, "autocommit": True,
                                                               "connect_timeout": CONNECT_TIMEOUT_S,
                                                               "application_name": "costhq"})
            _POOLS[url] = pool
        return pool


def connect(url: str, *, read_only: bool = False) -> psycopg.Connection[dict[str, Any]]:
    """A new autocommit connection (rows as dicts): units of work open `conn.transaction()` blocks.

    Raises:
        StorageError: cannot connect (message without the password).
    """
    with translate_errors(url):
        conn = psycopg.connect(url, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name="costhq", autocommit=True)
        try:
            if read_only:  # a consistent snapshot that takes no row locks
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.read_only = True
            configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn


class PgDb:
    """Bound, error-translated statements on one connection; rows as dicts keyed by column names."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]], conv: cattrs.Converter | RowConverter,
                 *, url: str = "", read_only: bool = False) -> None:
        self.conn = conn
        self.conv = conv
        self.url = url
        self.read_only = read_only

    def rows(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with translate_errors(self.url):
            return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Any, cls: type[T]) -> T | None:
        rows = self.rows(sql, params)
        return self.conv.structure(rows[0], cls) if rows else None

    def many(self, sql: str, params: Any, cls: type[T]) -> list[T]:
        return [self.conv.structure(r, cls) for r in self.rows(sql, params)]

    def run(self, sql: str, params: Any = None) -> int:
        """Execute a write; returns the number of rows it changed."""
        with translate_errors(self.url):
            return self.conn.execute(sql, params).rowcount

    def insert(self, sql: str, params: Any) -> int | None:
        """Execute `INSERT ... RETURNING id`; None when ON CONFLICT DO NOTHING skipped it."""
        rows = self.rows(sql, params)
        return int(rows[0]["id"]) if rows else None

    def require_session(self, session_id: int) -> None:
        if not self.rows("SELECT id FROM sessions WHERE id = %s", (session_id,)):
            raise SessionNotFound(f"Session {session_id} not found", session_id=session_id)

    def savepoint(self) -> Any:
        """`with db.savepoint():` nests a SAVEPOINT in the unit of work's transaction."""
        return _Savepoint(self)

    def portable(self) -> PortablePgDb:
        """This connection taking SQL written in SQLite's placeholder style (persistence/sql)."""
        return PortablePgDb(self)


class PortablePgDb:
    """`PgDb` for the SQL both back ends share: placeholders rewritten by `to_pyformat` (cached)."""

    dialect = "postgres"

    def __init__(self, db: PgDb) -> None:
        self._db = db

    def rows(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        return self._db.rows(to_pyformat(sql), params)

    def run(self, sql: str, params: Any = None) -> int:
        return self._db.run(to_pyformat(sql), params)

    def many(self, sql: str, params: Any, cls: type[T]) -> list[T]:
        return self._db.many(to_pyformat(sql), params, cls)

    def one(self, sql: str, params: Any, cls: type[T]) -> T | None:
        return self._db.one(to_pyformat(sql), params, cls)

    def insert(self, sql: str, params: Any) -> int:
        """An INSERT of one row (no ON CONFLICT skip): its new id, by `RETURNING id`."""
        rid = self._db.insert(to_pyformat(sql) + " RETURNING id", params)
        assert rid is not None
        return rid


class _Savepoint:
    def __init__(self, db: PgDb) -> None:
        self._db = db
        self._tx: Any = None

    def __enter__(self) -> None:
        with translate_errors(self._db.url):
            self._tx = self._db.conn.transaction()
            self._tx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        with translate_errors(self._db.url):
            self._tx.__exit__(*exc)
