"""PostgreSQL AuditLog (port: AuditLog): one hash chain for every machine writing the database.

Assumptions: runs inside a PgUnitOfWork transaction. Appending takes a transaction-level
advisory lock first, so "read the last entry, insert the next" is atomic across processes and
machines: concurrent writers queue for the lock (held until their commit) and the chain never
forks (`seq` is the primary key as a last guard). UPDATE, DELETE and TRUNCATE are refused by
triggers. Hashing is the domain's (costhq.domain.audit).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from costhq.adapters.persistence.postgres.db import PgDb
from costhq.adapters.persistence.sql.audit import SqlAuditReads, append_entry
from costhq.domain.audit import AuditEntry, AuditEvent

AUDIT_LOCK = 0x43734851_0002  # pg_advisory_xact_lock key of the chain's tail ('CsHQ', 2)


def _insert(db: PgDb, event: AuditEvent, key: bytes | None) -> AuditEntry:
    db.run("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
    return append_entry(db.portable(), event, key)


def append_migration_entry(db: PgDb, *, version: int, note: str, **facts: Any) -> AuditEntry:
    """Record a schema step in the chain, inside the ladder's transaction (unkeyed, like SQLite's);
    `facts` as SQLite's (step 3's usage baseline)."""
    event = AuditEvent(event="migration", actor="system", payload={"version": version, "note": note,
                                                                    "backend": "postgresql", **facts},
                       at=datetime.now(UTC))
    return _insert(db, event, None)


class PgAuditLog(SqlAuditReads):
    """AuditLog on `audit_log`; `key` switches hashing to HMAC-SHA-256."""

    def __init__(self, db: PgDb, key: bytes | None = None) -> None:
        super().__init__(db, key)
        self._db = db

    def append(self, event: AuditEvent) -> AuditEntry:
        return _insert(self._db, event, self._key)
