"""APSW unit of work (port: UnitOfWork) with its repositories `.sessions`, `.usage`, `.activity`.

Assumptions: a fresh connection per unit of work, in WAL (see connection.py), and one
`WriteTransaction` (BEGIN IMMEDIATE) per `with` block: commit on clean exit, rollback on
exception, then the connection is closed. Repositories nest `with conn:` blocks (SAVEPOINTs).
No apsw exception leaves this package.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import apsw
import cattrs

from costhq.adapters.persistence.apsw_audit import ApswAuditLog
from costhq.adapters.persistence.apsw_db import Db
from costhq.adapters.persistence.apsw_firewall import ApswBudgetRepository, ApswRunawayRepository
from costhq.adapters.persistence.apsw_records import ApswActivityRepository, ApswUsageRepository
from costhq.adapters.persistence.apsw_sessions import ApswSessionRepository
from costhq.adapters.persistence.connection import open_connection
from costhq.adapters.persistence.converter import make_converter
from costhq.adapters.persistence.transaction import WriteTransaction


class ApswUnitOfWork:
    """UnitOfWork: one fresh connection and one IMMEDIATE transaction per `with` block.

    Commits on clean exit, rolls back on exception, then closes the connection.
    """

    sessions: ApswSessionRepository
    usage: ApswUsageRepository
    activity: ApswActivityRepository

    def __init__(self, db_path: str, converter: cattrs.Converter | None = None, *,
                 audit_key: bytes | None = None) -> None:
        self._path = str(db_path)
        self._conv = converter or _default_converter()
        self._audit_key = audit_key
        self._conn: apsw.Connection | None = None

    def __enter__(self) -> Self:
        conn = open_connection(self._path)
        # Build the repositories (and run any lazy import) *before* taking the write lock:
        # every millisecond under BEGIN IMMEDIATE is a millisecond other writers wait.
        db = Db(conn, self._conv)
        self.sessions, self.usage, self.activity = (
            ApswSessionRepository(db), ApswUsageRepository(db), ApswActivityRepository(db))
        # issue 4: audit chain, budgets and runaway state join the same transaction
        self.audit = ApswAuditLog(db, self._audit_key)
        self.budgets, self.runaway = ApswBudgetRepository(db), ApswRunawayRepository(db)
        # issue 7: agent integrations (import cursors, reports, today projects)
        from costhq.adapters.persistence.apsw_integrations import (
            ApswImportRepository,
            ApswReportRepository,
            ApswTodayRepository,
        )

        self.imports, self.reports, self.today = (
            ApswImportRepository(db), ApswReportRepository(db), ApswTodayRepository(db))
        tx = WriteTransaction(conn)
        try:
            tx.__enter__()
        except BaseException:
            conn.close()
            raise
        self._conn, self._tx = conn, tx
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None, "unit of work was not entered"
        try:
            self._tx.__exit__(exc_type, exc, tb)
        finally:
            conn.close()


_CONVERTER: list[cattrs.Converter] = []


def _default_converter() -> cattrs.Converter:
    # Built on first use, not at import (no import-time side effects); bootstrap may pass its own.
    if not _CONVERTER:
        _CONVERTER.append(make_converter())
    return _CONVERTER[0]

