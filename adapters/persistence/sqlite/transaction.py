"""Write transactions and error translation for APSW connections (persistence adapter).

`WriteTransaction` is `with conn:` for the outermost transaction, spelled as explicit
`BEGIN IMMEDIATE` / `COMMIT` / `ROLLBACK` through `conn.execute`. APSW 3.54 holds the GIL
while `Connection.__enter__` waits out the busy timeout, so a thread waiting for the write
lock stopped the thread holding it from finishing (5 s stalls, measured with 8 threads);
`execute` releases the GIL while SQLite waits. Nested `with conn:` blocks inside it are
SAVEPOINTs, as usual. No apsw exception leaves this package: `translate_errors` maps them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType

import apsw

from costhq.adapters.persistence.errors import StorageError
from costhq.application.errors import Conflict, StorageBusy

BEGIN_ATTEMPTS = 3  # x the 5 s busy timeout: a writer waits up to ~15 s before StorageBusy


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


class WriteTransaction:
    """`with WriteTransaction(conn):` commits on clean exit and rolls back on exception.

    `read_only=True` begins a deferred transaction instead: a consistent WAL snapshot that never
    takes (or waits for) the write lock, for use cases that only read.
    """

    def __init__(self, conn: apsw.Connection, *, begin_attempts: int = BEGIN_ATTEMPTS,
                 read_only: bool = False) -> None:
        self._conn = conn
        self._attempts = begin_attempts
        self._begin = "BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE"

    def __enter__(self) -> apsw.Connection:
        # SQLite's busy handler is not fair: under a burst of writers on a loaded machine one
        # of them can lose every poll for the whole busy timeout. Nothing has happened before
        # BEGIN, so retrying it is safe; each attempt waits the connection's busy timeout.
        for attempt in range(1, self._attempts + 1):
            try:
                with translate_errors():
                    self._conn.execute(self._begin)
                return self._conn
            except StorageBusy:
                if attempt == self._attempts:
                    raise
        raise AssertionError("unreachable")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        with translate_errors():
            if exc_type is None:
                try:
                    conn.execute("COMMIT")
                except apsw.Error:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            elif conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                conn.execute("ROLLBACK")
