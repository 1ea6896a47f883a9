"""APSW Start Fresh (port: DataReset): delete every session and what hangs off it, in one
IMMEDIATE transaction. Budget rules are removed first by the firewall's use case (audited); the
audit chain, runaway settings, import cursors and pricing are not session data and are kept."""

from __future__ import annotations

from costhq.adapters.persistence.audit_head import FileAuditAnchor, head_path
from costhq.adapters.persistence.converter import make_converter
from costhq.adapters.persistence.reset_audit import reset_event
from costhq.adapters.persistence.sqlite.audit import ApswAuditLog
from costhq.adapters.persistence.sqlite.connection import open_connection
from costhq.adapters.persistence.sqlite.db import Db
from costhq.domain.analytics import ResetCounts
from costhq.domain.audit import AuditEvent

_RESET_TABLES = ("ai_usage", "file_changes", "commits", "annotations", "sessions")

_SESSION_BOUND = ("budget_reservations", "runaway_events", "runaway_trips")


class ApswDataReset:
    """DataReset: Start Fresh in one IMMEDIATE transaction (children first, then sessions)."""

    def __init__(self, db_path: str, *, audit_key: bytes | None = None) -> None:
        self._path = str(db_path)
        self._audit_key = audit_key

    def clear_all(self, event: AuditEvent | None = None) -> ResetCounts:
        conn = open_connection(self._path)
        try:
            db = Db(conn, make_converter())
            with conn:
                # Session ids restart at 1 once the table is empty: drop the firewall's per-session
                # activity (reservations, runaway events and trips) so it never attaches to new sessions.
                for table in _SESSION_BOUND:
                    if db.rows("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)):
                        db.run(f"DELETE FROM {table}")
                counts = {t: db.run(f"DELETE FROM {t}") for t in _RESET_TABLES}
                result = ResetCounts(
                    sessions=counts["sessions"],
                    ai_usage=counts["ai_usage"],
                    file_changes=counts["file_changes"],
                    commits=counts["commits"],
                    annotations=counts["annotations"],
                )
                log = ApswAuditLog(db, self._audit_key)
                if event is not None:
                    log.append(reset_event(event, result))
        finally:
            conn.close()
        if log.appended is not None:
            FileAuditAnchor(head_path(self._path), self._audit_key).write(log.appended)
        return result
