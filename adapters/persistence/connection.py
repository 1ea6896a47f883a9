"""Opening the SQLite file through APSW (persistence adapter; STYLE §3).

Assumptions: one connection per unit of work, never shared across threads; APSW's
best-practice hooks (WAL, foreign keys, no DQS, optimize, logging) are process-global and
installed once here; the busy timeout is 5 s because the CLI, the proxy, the dashboard
and watchers write to one file at once. No apsw exception leaves this package.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import apsw
import apsw.bestpractice
from costhq.adapters.persistence import schema
from costhq.application.errors import Conflict, StorageBusy
from costhq.domain.errors import CostHQError

BUSY_TIMEOUT_MS = 5000

_lock = threading.Lock()
_hooks_applied = False
_migrated: set[str] = set()


class StorageError(CostHQError):
    """Any other SQLite failure (I/O error, corrupt file, cannot open)."""

    code = "storage_error"


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise APSW errors as application errors (BusyError -> StorageBusy, Constraint -> Conflict)."""
    try:
        yield
    except apsw.BusyError as exc:
        raise StorageBusy(f"The database is busy: {exc}") from exc
    except apsw.ConstraintError as exc:
        raise Conflict(f"Conflicting write: {exc}") from exc
    except apsw.Error as exc:
        raise StorageError(f"Storage failure: {exc}") from exc


def _apply_best_practice() -> None:
    global _hooks_applied
    with _lock:
        if not _hooks_applied:
            apsw.bestpractice.apply(apsw.bestpractice.recommended)
            _hooks_applied = True


def _ensure_schema(path: str) -> None:
    """Migrate once per process per path; a cheap lock-free version read when already current."""
    key = str(Path(path).resolve())
    if key in _migrated:
        return
    conn = _connect(path, readonly=False)
    try:
        if schema.check_compatible(conn) < schema.CURRENT_VERSION:
            schema.migrate(conn)
    finally:
        conn.close()
    with _lock:
        _migrated.add(key)


def _connect(path: str, *, readonly: bool) -> apsw.Connection:
    flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    conn = apsw.Connection(path, flags=flags)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    if not readonly:
        # IMMEDIATE takes the write lock at BEGIN, where the busy timeout applies (STYLE §3).
        conn.transaction_mode = "IMMEDIATE"
    return conn


def open_connection(path: str, *, readonly: bool = False) -> apsw.Connection:
    """A new connection to the CostHQ database file at `path` (never `:memory:`), schema up to date.

    Raises:
        IncompatibleStorage: the file is from a newer CostHQ or is not a CostHQ database.
        StorageBusy: the file stayed locked past the busy timeout.
        StorageError: any other SQLite failure.
    """
    _apply_best_practice()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with translate_errors():
        _ensure_schema(path)
        return _connect(path, readonly=readonly)

