"""APSW AuditLog (port: AuditLog) and the schema of issue 4 (budgets, audit chain, runaway).

Assumptions: runs inside an ApswUnitOfWork IMMEDIATE transaction, so reading the last entry
and inserting the next one cannot interleave with another process (the chain never forks), and
the entry's `at` is sealed after its predecessor's (never backwards). Triggers refuse UPDATE
and DELETE on `audit_log`; hashing is the domain's (costhq.domain.audit). The unit of work
writes the head file (audit_head.py) after its commit, from `appended`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import apsw

from costhq.adapters.persistence.converter import RowConverter
from costhq.adapters.persistence.sql.audit import SqlAuditReads, append_entry
from costhq.adapters.persistence.sqlite.db import Db
from costhq.domain.audit import AuditEntry, AuditEvent

V2_SQL = """
CREATE TABLE budgets (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    limit_units INTEGER NOT NULL CHECK (limit_units > 0),
    action TEXT NOT NULL,
    model TEXT,
    session_id INTEGER REFERENCES sessions(id) ON DELETE CASCADE,
    project TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE budget_reservations (
    id INTEGER PRIMARY KEY,
    session_id INTEGER,
    project TEXT,
    model TEXT NOT NULL,
    amount_units INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX budget_reservations_expires ON budget_reservations(expires_at);
CREATE INDEX ai_usage_served_model ON ai_usage(served_model);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    alg TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE runaway_events (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL DEFAULT '',
    cost_units INTEGER NOT NULL DEFAULT 0,
    at TEXT NOT NULL
);
CREATE INDEX runaway_events_session_time ON runaway_events(session_id, at);
CREATE INDEX runaway_events_time ON runaway_events(at);
CREATE TABLE runaway_trips (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL,
    detector TEXT NOT NULL,
    action TEXT NOT NULL,
    message TEXT NOT NULL,
    at TEXT NOT NULL,
    until TEXT NOT NULL,
    cleared_at TEXT
);
CREATE INDEX runaway_trips_session ON runaway_trips(session_id, until);
CREATE TABLE runaway_config (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    config TEXT NOT NULL
);
"""


def _insert(conn: apsw.Connection, event: AuditEvent, key: bytes | None) -> AuditEntry:
    return append_entry(Db(conn, RowConverter()), event, key)


def append_migration_entry(conn: apsw.Connection, *, version: int, note: str, **facts: Any) -> AuditEntry:
    """Record a schema migration in the chain, inside the ladder's transaction.

    Later ladder steps call this too (with `facts`, e.g. step 9's usage baseline). The ladder has
    no audit key, so migration entries are unkeyed (domain.audit accepts that for `migration` only).
    """
    event = AuditEvent(event="migration", actor="system", payload={"version": version, "note": note, **facts},
                       at=datetime.now(UTC))
    return _insert(conn, event, None)


class ApswAuditLog(SqlAuditReads):
    """AuditLog on `audit_log`; `key` switches hashing to HMAC-SHA-256."""

    def __init__(self, db: Db, key: bytes | None = None) -> None:
        super().__init__(db, key)
        self._db = db
        self.appended: AuditEntry | None = None  # the newest entry this log appended (for the head file)

    def append(self, event: AuditEvent) -> AuditEntry:
        self.appended = append_entry(self._sql, event, self._key)
        return self.appended
