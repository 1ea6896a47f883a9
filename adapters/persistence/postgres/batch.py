"""The proxy's batched usage writes on PostgreSQL (persistence adapter), as `ApswBatch` on SQLite.

`PgBatch`: the proxy's usage writer records many calls in ONE transaction (one commit instead of
one per call); `uow()` gives a unit of work whose `with` block is a SAVEPOINT inside it, so one
failing record rolls back alone. Used by one thread (the writer) at a time.

Team budgets stay exact with a call's hold released inside the batch, before its commit (issue
14's rule, docs/firewall.md): recording a call checks the budget rules that count it
(`check_recorded`), which reads them `FOR UPDATE`; a savepoint's row locks pass to the batch, so
from the first record of a batch that any rule counts until its commit, a lease renewal on any
machine (which reads the rules `FOR UPDATE` before it sums) waits, then sees the batch's calls
recorded. It never sees a call released and not yet committed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from costhq.adapters.persistence.postgres.uow import PgUnitOfWork


class _SavepointUnitOfWork:
    """A unit of work inside the open batch: the batch's repositories, its `with` block a SAVEPOINT
    (released on a clean exit, else rolled back alone)."""

    def __init__(self, outer: PgUnitOfWork) -> None:
        self._outer = outer
        self._savepoint: Any = None

    def __enter__(self) -> Self:
        self._savepoint = self._outer.db.savepoint()
        self._savepoint.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._savepoint.__exit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:  # sessions, usage, audit, budgets, runaway, the lazy ones
        return getattr(self._outer, name)


class PgBatch:
    """`with batch():` one connection and one transaction; `batch.uow` inside it (the port's
    `Callable[[], UnitOfWork]`). `kw` as PgUnitOfWork's (audit key, user, machine)."""

    def __init__(self, url: str, **kw: Any) -> None:
        self._url, self._kw = url, kw
        self._open: PgUnitOfWork | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with PgUnitOfWork(self._url, **self._kw) as outer:
            self._open = outer
            try:
                yield
            finally:
                self._open = None

    def uow(self) -> _SavepointUnitOfWork:
        if self._open is None:
            raise RuntimeError("PgBatch.uow() outside `with batch():`")
        return _SavepointUnitOfWork(self._open)
