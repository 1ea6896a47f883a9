"""PostgreSQL Start Fresh (port: DataReset): delete every session and what hangs off it, in one
transaction. As on SQLite, the audit chain, runaway settings, import cursors and prices are kept,
and ids restart at 1: the tables are locked (ACCESS EXCLUSIVE) first, so no other machine's
write can slip between the deletes and the identity restarts; it waits and lands after."""

from __future__ import annotations

from costhq.adapters.persistence.postgres.audit import PgAuditLog
from costhq.adapters.persistence.postgres.uow import PgUnitOfWork
from costhq.adapters.persistence.reset_audit import reset_event
from costhq.domain.analytics import ResetCounts
from costhq.domain.audit import AuditEvent

_SESSION_BOUND = ("budget_reservations", "runaway_events", "runaway_trips")
_RESET_TABLES = ("ai_usage", "file_changes", "commits", "annotations", "sessions")


class PgDataReset:
    """DataReset: Start Fresh in one transaction (children first, then sessions)."""

    def __init__(self, url: str, *, audit_key: bytes | None = None) -> None:
        self._url = url
        self._audit_key = audit_key

    def clear_all(self, event: AuditEvent | None = None) -> ResetCounts:
        with PgUnitOfWork(self._url, audit_key=self._audit_key) as uow:
            db = uow.db
            db.run(f"LOCK TABLE {', '.join(_RESET_TABLES + _SESSION_BOUND)} IN ACCESS EXCLUSIVE MODE")
            for table in _SESSION_BOUND:
                db.run(f"DELETE FROM {table}")
            counts = {t: db.run(f"DELETE FROM {t}") for t in _RESET_TABLES}
            for table in (*_RESET_TABLES, *_SESSION_BOUND):
                db.run(f"ALTER TABLE {table} ALTER COLUMN id RESTART WITH 1")
            result = ResetCounts(sessions=counts["sessions"], ai_usage=counts["ai_usage"],
                                 file_changes=counts["file_changes"], commits=counts["commits"],
                                 annotations=counts["annotations"])
            if event is not None:
                PgAuditLog(db, self._audit_key).append(reset_event(event, result))
        return result
