"""Opening the SQLite file through APSW (persistence adapter; STYLE §3).

Assumptions: one connection per unit of work, never shared across threads; the connection
hook is process-global and installed once here; the busy timeout is 5 s because the CLI, the
proxy, the dashboard and watchers write to one file at once. No apsw exception leaves this package.

The hook applies `apsw.bestpractice.recommended` itself instead of importing it: that module
imports `apsw.ext` (logging, dataclasses, inspect...), ~25 ms on every `cs` call (ADR 0003).
The settings are the same: WAL, foreign keys, no double-quoted string literals, recursive
triggers, and SQLite's log forwarded to `logging` as `apsw.ext.log_sqlite` does. Two deliberate
deviations from `recommended`, both found by the concurrency contract test:
- no `PRAGMA optimize` at every open: when it decides to ANALYZE it upgrades a read to a write,
  which fails at once with SQLITE_BUSY(_SNAPSHOT) under concurrent writers (the busy handler is
  not used for that upgrade). `optimize_database()` runs it in an IMMEDIATE transaction instead.
- a 5 s busy timeout instead of 100 ms, set *first*, so the journal_mode pragma waits too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import apsw

from costhq.adapters.persistence.sqlite import schema
from costhq.adapters.persistence.sqlite.transaction import WriteTransaction, translate_errors

BUSY_TIMEOUT_MS = 5000

_lock = threading.Lock()
_hooks_applied = False
_migrated: set[str] = set()
_schema_lock = threading.Lock()  # threads of one process migrate one at a time


def connection_costhq_defaults(connection: apsw.Connection) -> None:
    """Connection hook: bestpractice's per-connection settings (see the module docstring)."""
    connection.set_busy_timeout(BUSY_TIMEOUT_MS)
    try:
        if not connection.readonly("main"):
            connection.pragma("journal_mode", "wal")
    except apsw.ReadOnlyError:
        pass
    connection.pragma("foreign_keys", "ON")
    connection.config(apsw.SQLITE_DBCONFIG_DQS_DML, 0)
    connection.config(apsw.SQLITE_DBCONFIG_DQS_DDL, 0)
    # Keep SQLite's checkpoint when the last connection closes (do not set NO_CKPT_ON_CLOSE): without
    # it the WAL outlives each `cs` process, so the next one rebuilds the WAL index from every frame
    # (SQLITE_NOTICE_RECOVER_WAL, logged as a warning on stderr at each open) and reads through a
    # growing WAL. Measured (ADR 0003): +10-20 ms CPU per sequential `cs log-ai`, nothing gained concurrently.
    connection.pragma("recursive_triggers", "ON")


def _log_sqlite(errcode: int, message: str) -> None:
    """SQLite's error log -> `logging`, with the levels and `extra` fields of `apsw.ext.log_sqlite`."""
    import logging

    table = apsw.mapping_result_codes if errcode < 256 else apsw.mapping_extended_result_codes
    name = table.get(errcode, str(errcode))
    level = logging.ERROR
    if errcode & 0xFF in (apsw.SQLITE_WARNING, apsw.SQLITE_NOTICE):
        level = logging.WARNING
    elif errcode == apsw.SQLITE_SCHEMA:
        level = logging.INFO  # schema changes re-prepare statements by themselves
    extra = {"sqlite_code": errcode, "sqlite_code_name": name, "sqlite_message": message}
    logging.log(level, "SQLITE_LOG: %s (%d) %s", message, errcode, name, extra=extra)


def _apply_best_practice() -> None:
    global _hooks_applied
    with _lock:
        if not _hooks_applied:
            apsw.config(apsw.SQLITE_CONFIG_LOG, _log_sqlite)
            apsw.connection_hooks.append(connection_costhq_defaults)
            _hooks_applied = True


def _ensure_schema(conn: apsw.Connection, key: str) -> None:
    """Migrate once per process per file; later opens skip even the version read."""
    with _schema_lock:
        if key in _migrated:
            return
        if schema.check_compatible(conn) < schema.CURRENT_VERSION:
            schema.migrate(conn)
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

    The first open of a file in a process checks (and if needed migrates) its schema on the
    connection it returns; a read-only open does that through a short read-write connection.

    Raises:
        IncompatibleStorage: the file is from a newer CostHQ or is not a CostHQ database.
        StorageBusy: the file stayed locked past the busy timeout.
        StorageError: any other SQLite failure.
    """
    _apply_best_practice()
    key = str(Path(path).resolve())
    with translate_errors():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if readonly and key not in _migrated:  # a read-only connection can neither create nor migrate
            _close_after(_connect(path, readonly=False), key)
        conn = _connect(path, readonly=readonly)
        if key not in _migrated:
            try:
                _ensure_schema(conn, key)
            except BaseException:
                conn.close()
                raise
        return conn


def _close_after(conn: apsw.Connection, key: str) -> None:
    try:
        _ensure_schema(conn, key)
    finally:
        conn.close()


def optimize_database(path: str) -> None:
    """Run `PRAGMA optimize` holding the write lock (for long-lived processes, at shutdown)."""
    conn = open_connection(path)
    try:
        with WriteTransaction(conn), translate_errors():
            conn.pragma("optimize")
    finally:
        conn.close()


class DataVersion:
    """`version()`: `PRAGMA data_version` on one kept connection that never writes, so it changes
    whenever any other connection (of any process) commits. Every cache of the proxy's request
    path (arming, firewall probe, session look-up) is keyed on it: an answer read (on any
    connection, in a new snapshot) AFTER the token was read is exact until the token changes.

    `held()`: within the block, on the calling thread, the token is read once and reused (issue 15:
    one pragma per request on the event loop instead of one per cache); other threads read afresh.
    """

    def __init__(self, path: str) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        self._conn: apsw.Connection | None = None
        self._held: tuple[int, int | None] | None = None  # (thread id, token read in the block)

    def __call__(self) -> int:
        held, me = self._held, threading.get_ident()
        if held is not None and held[0] == me and held[1] is not None:
            return held[1]
        with self._lock, translate_errors():
            if self._conn is None:
                self._conn = open_connection(self._path)
                self._conn.set_busy_timeout(0)  # asked on the event loop: never wait for a lock
            token = int(self._conn.pragma("data_version"))
        if held is not None and held[0] == me:
            self._held = (me, token)
        return token

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._held = (threading.get_ident(), None)
        try:
            yield
        finally:
            self._held = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
