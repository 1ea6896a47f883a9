"""PostgreSQL AuditLog (port: AuditLog): one hash chain for every machine writing the database.

Assumptions: runs inside a PgUnitOfWork transaction. Appending takes a transaction-level
advisory lock first, so "read the last entry, insert the next" is atomic across processes and
machines: concurrent writers queue for the lock (held until their commit) and the chain never
forks (`seq` is the primary key as a last guard). UPDATE, DELETE and TRUNCATE are refused by
triggers. Hashing is the domain's (costhq.domain.audit).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from costhq.adapters.persistence.postgres.db import PgDb
from costhq.adapters.persistence.rows import USAGE_COLUMNS
from costhq.domain.audit import GENESIS, AuditEntry, AuditEvent, seal
from costhq.domain.usage import UsageRecord

AUDIT_LOCK = 0x43734851_0002  # pg_advisory_xact_lock key of the chain's tail ('CsHQ', 2)
_COLS = "seq, at, actor, event, payload, alg, prev_hash, hash"


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(seq=row["seq"], at=row["at"], actor=row["actor"], event=row["event"],
                      payload=json.loads(row["payload"]), alg=row["alg"], prev_hash=row["prev_hash"],
                      hash=row["hash"])


def _insert(db: PgDb, event: AuditEvent, key: bytes | None) -> AuditEntry:
    db.run("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
    last = db.rows("SELECT seq, hash, at FROM audit_log ORDER BY seq DESC LIMIT 1")
    seq, prev, prev_at = (last[0]["seq"] + 1, last[0]["hash"], last[0]["at"]) if last else (1, GENESIS, "")
    entry = seal(event, seq=seq, prev_hash=prev, key=key, prev_at=prev_at)
    payload = json.dumps(entry.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    db.run("INSERT INTO audit_log (seq, at, actor, event, payload, alg, prev_hash, hash)"
           " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
           (entry.seq, entry.at, entry.actor, entry.event, payload, entry.alg, entry.prev_hash, entry.hash))
    return entry


def append_migration_entry(db: PgDb, *, version: int, note: str, **facts: Any) -> AuditEntry:
    """Record a schema step in the chain, inside the ladder's transaction (unkeyed, like SQLite's);
    `facts` as SQLite's (step 3's usage baseline)."""
    event = AuditEvent(event="migration", actor="system", payload={"version": version, "note": note,
                                                                    "backend": "postgresql", **facts},
                       at=datetime.now(UTC))
    return _insert(db, event, None)


class PgAuditLog:
    """AuditLog on `audit_log`; `key` switches hashing to HMAC-SHA-256."""

    def __init__(self, db: PgDb, key: bytes | None = None) -> None:
        self._db = db
        self._key = key

    def append(self, event: AuditEvent) -> AuditEntry:
        return _insert(self._db, event, self._key)

    def usage_mark(self) -> int:
        return int(self._db.rows("SELECT COALESCE(MAX(id), 0) AS mark FROM ai_usage")[0]["mark"])

    def usage_after(self, after_id: int) -> Iterator[UsageRecord]:
        return iter(self._db.many(f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE id > %s ORDER BY id", (after_id,),
                                  UsageRecord))

    def head(self) -> AuditEntry | None:
        rows = self._db.rows(f"SELECT {_COLS} FROM audit_log ORDER BY seq DESC LIMIT 1")
        return _entry(rows[0]) if rows else None

    def entries(self, *, after_seq: int = 0, limit: int | None = None) -> Iterator[AuditEntry]:
        rows = self._db.rows(f"SELECT {_COLS} FROM audit_log WHERE seq > %s ORDER BY seq LIMIT %s",
                             (after_seq, limit))
        return (_entry(r) for r in rows)

    def last(self, n: int) -> list[AuditEntry]:
        rows = self._db.rows(f"SELECT {_COLS} FROM audit_log ORDER BY seq DESC LIMIT %s", (n,))
        return [_entry(r) for r in reversed(rows)]
