"""Opening the SQLite file through APSW (persistence adapter; STYLE §3).

Assumptions: one connection per unit of work, never shared across threads; APSW's
best-practice hooks are process-global and installed once here; the busy timeout is 5 s
because the CLI, the proxy, the dashboard and watchers write to one file at once.
No apsw exception leaves this package.

Two deviations from `apply(recommended)`, both found by the concurrency contract test:
- `connection_optimize` runs `PRAGMA optimize` at *every* open; when it decides to ANALYZE it
  upgrades a read to a write, which fails at once with SQLITE_BUSY(_SNAPSHOT) under concurrent
  writers (the busy handler is not used for that upgrade), so opening a connection raised.
  `optimize_database()` runs it inside an IMMEDIATE transaction instead, for long-lived processes.
- bestpractice's 100 ms busy timeout is replaced by our 5 s one as the *first* hook, so the
  other hooks (journal_mode) wait too. A hook must be a named `connection_*` function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import apsw
import apsw.bestpractice

from costhq.adapters.persistence import schema
from costhq.adapters.persistence.transaction import WriteTransaction, translate_errors

BUSY_TIMEOUT_MS = 5000

_lock = threading.Lock()
_hooks_applied = False
_migrated: set[str] = set()
_schema_lock = threading.Lock()  # threads of one process migrate one at a time


def connection_busy_timeout_5s(connection: apsw.Connection) -> None:
    """Best-practice hook: our busy timeout (bestpractice's default is 100 ms)."""
    connection.set_busy_timeout(BUSY_TIMEOUT_MS)


def _hooks() -> tuple[Callable[..., None], ...]:
    bp = apsw.bestpractice
    swapped = (connection_busy_timeout_5s if f is bp.connection_busy_timeout else f for f in bp.recommended)
    return tuple(f for f in swapped if f is not bp.connection_optimize)


def _apply_best_practice() -> None:
    global _hooks_applied
    with _lock:
        if not _hooks_applied:
            apsw.bestpractice.apply(_hooks())
            _hooks_applied = True


def _ensure_schema(path: str) -> None:
    """Migrate once per process per path; a cheap lock-free version read when already current."""
    key = str(Path(path).resolve())
    if key in _migrated:
        return
    with _schema_lock:
        conn = _connect(path, readonly=False)
        try:
            if schema.check_compatible(conn) < schema.CURRENT_VERSION:
                schema.migrate(conn)
        finally:
            conn.close()
        _migrated.add(key)


def _connect(path: str, *, readonly: bool) -> apsw.Connection:
    flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    conn = apsw.Connection(path, flags=flags)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    if not readonly:
        # IMMEDIATE takes the write lock at BEGIN, where the busy timeout applies (STYLE §3); our
        # own transactions spell it out with WriteTransaction (see transaction.py for why).
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


def optimize_database(path: str) -> None:
    """Run `PRAGMA optimize` holding the write lock (for long-lived processes, at shutdown)."""
    conn = open_connection(path)
    try:
        with WriteTransaction(conn), translate_errors():
            conn.pragma("optimize")
    finally:
        conn.close()
