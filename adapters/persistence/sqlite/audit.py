"""APSW AuditLog (port: AuditLog) and the schema of issue 4 (budgets, audit chain, runaway).

Assumptions: runs inside an ApswUnitOfWork IMMEDIATE transaction, so reading the last entry
and inserting the next one cannot interleave with another process (the chain never forks), and
the entry's `at` is sealed after its predecessor's (never backwards). Triggers refuse UPDATE
and DELETE on `audit_log`; hashing is the domain's (costhq.domain.audit). The unit of work
writes the head file (audit_head.py) after its commit, from `appended`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import apsw

from costhq.adapters.persistence.rows import USAGE_COLUMNS
from costhq.adapters.persistence.sqlite.db import Db
from costhq.domain.audit import GENESIS, AuditEntry, AuditEvent, seal
from costhq.domain.usage import UsageRecord

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

_COLS = "seq AS seq, at AS at, actor AS actor, event AS event, payload AS payload, alg AS alg, " \
        "prev_hash AS prev_hash, hash AS hash"


def _row_to_entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(seq=row["seq"], at=row["at"], actor=row["actor"], event=row["event"],
                      payload=json.loads(row["payload"]), alg=row["alg"], prev_hash=row["prev_hash"],
                      hash=row["hash"])


def _insert(conn: apsw.Connection, event: AuditEvent, key: bytes | None) -> AuditEntry:
    last = conn.execute("SELECT seq, hash, at FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev, prev_at = (last[0] + 1, last[1], last[2]) if last else (1, GENESIS, "")
    entry = seal(event, seq=seq, prev_hash=prev, key=key, prev_at=prev_at)
    payload = json.dumps(entry.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    conn.execute("INSERT INTO audit_log (seq, at, actor, event, payload, alg, prev_hash, hash)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (entry.seq, entry.at, entry.actor, entry.event, payload, entry.alg, entry.prev_hash, entry.hash))
    return entry


def append_migration_entry(conn: apsw.Connection, *, version: int, note: str, **facts: Any) -> AuditEntry:
    """Record a schema migration in the chain, inside the ladder's transaction.

    Later ladder steps call this too (with `facts`, e.g. step 9's usage baseline). The ladder has
    no audit key, so migration entries are unkeyed (domain.audit accepts that for `migration` only).
    """
    event = AuditEvent(event="migration", actor="system", payload={"version": version, "note": note, **facts},
                       at=datetime.now(UTC))
    return _insert(conn, event, None)


class ApswAuditLog:
    """AuditLog on `audit_log`; `key` switches hashing to HMAC-SHA-256."""

    def __init__(self, db: Db, key: bytes | None = None) -> None:
        self._db = db
        self._key = key
        self.appended: AuditEntry | None = None  # the newest entry this log appended (for the head file)

    def append(self, event: AuditEvent) -> AuditEntry:
        self.appended = _insert(self._db.conn, event, self._key)
        return self.appended

    def usage_mark(self) -> int:
        rows = self._db.rows("SELECT COALESCE(MAX(id), 0) AS mark FROM ai_usage")
        return int(rows[0]["mark"])

    def usage_after(self, after_id: int) -> Iterator[UsageRecord]:
        return iter(self._db.many(f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE id > ? ORDER BY id", (after_id,),
                                  UsageRecord))

    def head(self) -> AuditEntry | None:
        rows = self._db.rows(f"SELECT {_COLS} FROM audit_log ORDER BY seq DESC LIMIT 1")
        return _row_to_entry(rows[0]) if rows else None

    def entries(self, *, after_seq: int = 0, limit: int | None = None) -> Iterator[AuditEntry]:
        rows = self._db.rows(f"SELECT {_COLS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                             (after_seq, -1 if limit is None else limit))
        return (_row_to_entry(r) for r in rows)

    def last(self, n: int) -> list[AuditEntry]:
        rows = self._db.rows(f"SELECT {_COLS} FROM audit_log ORDER BY seq DESC LIMIT ?", (n,))
        return [_row_to_entry(r) for r in reversed(rows)]
