"""The audit chain's storage on both SQL back ends: appending the next entry and reading the chain.

Assumptions: the caller makes "read the tail, insert the next" atomic (SQLite: the unit of work's
IMMEDIATE transaction; PostgreSQL: an advisory lock taken first, see postgres/audit.py), so the
chain never forks and each entry's `at` is sealed after its predecessor's. Hashing is the domain's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from costhq.adapters.persistence.rows import USAGE_COLUMNS
from costhq.adapters.persistence.sql import SqlDb
from costhq.domain.audit import GENESIS, AuditEntry, AuditEvent, seal
from costhq.domain.usage import UsageRecord

_COLS = ("seq AS seq, at AS at, actor AS actor, event AS event, payload AS payload, alg AS alg,"
         " prev_hash AS prev_hash, hash AS hash")


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(seq=row["seq"], at=row["at"], actor=row["actor"], event=row["event"],
                      payload=json.loads(row["payload"]), alg=row["alg"], prev_hash=row["prev_hash"],
                      hash=row["hash"])


def append_entry(db: SqlDb, event: AuditEvent, key: bytes | None) -> AuditEntry:
    """Seal `event` after the chain's tail and insert it (see the module's assumptions)."""
    last = db.rows("SELECT seq AS seq, hash AS hash, at AS at FROM audit_log ORDER BY seq DESC LIMIT 1")
    seq, prev, prev_at = (last[0]["seq"] + 1, last[0]["hash"], last[0]["at"]) if last else (1, GENESIS, "")
    entry = seal(event, seq=seq, prev_hash=prev, key=key, prev_at=prev_at)
    payload = json.dumps(entry.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    db.run("INSERT INTO audit_log (seq, at, actor, event, payload, alg, prev_hash, hash)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
           (entry.seq, entry.at, entry.actor, entry.event, payload, entry.alg, entry.prev_hash, entry.hash))
    return entry


class SqlAuditReads:
    """The AuditLog port's reads (the chain and the usage rows it covers); back ends add `append`."""

    def __init__(self, db: Any, key: bytes | None = None) -> None:
        self._sql: SqlDb = db.portable()
        self._key = key

    def usage_mark(self) -> int:
        return int(self._sql.rows("SELECT COALESCE(MAX(id), 0) AS mark FROM ai_usage")[0]["mark"])

    def usage_after(self, after_id: int) -> Iterator[UsageRecord]:
        return iter(self._sql.many(f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE id > ? ORDER BY id", (after_id,),
                                   UsageRecord))

    def head(self) -> AuditEntry | None:
        rows = self._sql.rows(f"SELECT {_COLS} FROM audit_log ORDER BY seq DESC LIMIT 1")
        return _entry(rows[0]) if rows else None

    def entries(self, *, after_seq: int = 0, limit: int | None = None) -> Iterator[AuditEntry]:
        bounded = "" if limit is None else f" LIMIT {int(limit)}"
        rows = self._sql.rows(f"SELECT {_COLS} FROM audit_log WHERE seq > ? ORDER BY seq{bounded}", (after_seq,))
        return (_entry(r) for r in rows)

    def last(self, n: int) -> list[AuditEntry]:
        rows = self._sql.rows(f"SELECT {_COLS} FROM audit_log ORDER BY seq DESC LIMIT ?", (n,))
        return [_entry(r) for r in reversed(rows)]
