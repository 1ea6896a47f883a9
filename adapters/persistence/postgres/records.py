"""PostgreSQL UsageRepository and ActivityRepository (ports: UsageRepository, ActivityRepository).

Assumptions: runs inside a PgUnitOfWork transaction; each add is one SAVEPOINT that inserts
the row and bumps the owning session's denormalised totals by increments (row-locked by the
UPDATE, so concurrent writers on any machine never lose one); duplicates of file changes and
commits are skipped. A stored `call_key` is a Conflict; identity look-ups live in identity.py.
"""

from __future__ import annotations

from typing import Any, TypeVar

from costhq.adapters.persistence.postgres.db import PgDb, translate_errors
from costhq.adapters.persistence.postgres.identity import stored_identities
from costhq.adapters.persistence.rows import USAGE_COLUMNS, USAGE_FIELDS
from costhq.adapters.persistence.sql.activity import SqlActivity
from costhq.domain.errors import SessionNotFound
from costhq.domain.identity import Sighting, StoredIdentities
from costhq.domain.usage import Origin, UsageRecord

T = TypeVar("T")
INSERT_USAGE = (f"INSERT INTO ai_usage ({', '.join(USAGE_FIELDS)}) VALUES"
                f" ({', '.join(f'%({f})s' for f in USAGE_FIELDS)}) RETURNING id")
BUMP_TOTALS = (
    "UPDATE sessions SET ai_cost_units = ai_cost_units + %(units)s, ai_tokens = ai_tokens + %(tokens)s,"
    " ai_calls = ai_calls + %(calls)s, unpriced_calls = unpriced_calls + %(unpriced)s,"
    " last_activity = GREATEST(COALESCE(last_activity, ''), %(at)s) WHERE id = %(id)s")


class PgUsageRepository:
    """UsageRepository on `ai_usage`; each add bumps the session's totals in the same transaction."""

    def __init__(self, db: PgDb) -> None:
        self._db = db

    def add(self, record: UsageRecord) -> UsageRecord:
        params = self._db.conv.unstructure(record)
        units = params["cost_units"]
        with self._db.savepoint():
            # The totals UPDATE doubles as the existence check: 0 rows -> not found.
            if not self._db.run(BUMP_TOTALS, {"units": units or 0, "tokens": record.total_tokens, "calls": 1,
                                              "unpriced": int(units is None), "at": params["timestamp"],
                                              "id": record.session_id}):
                raise SessionNotFound(f"Session {record.session_id} not found", session_id=record.session_id)
            uid = self._db.insert(INSERT_USAGE, params)
        return self._db.conv.structure({**params, "id": uid}, UsageRecord)

    def add_many(self, records: list[UsageRecord]) -> int:
        params = [self._db.conv.unstructure(r) for r in records]
        totals: dict[int, dict[str, Any]] = {}
        for p in params:
            t = totals.setdefault(p["session_id"], {"units": 0, "tokens": 0, "calls": 0, "unpriced": 0, "at": ""})
            t["units"] += p["cost_units"] or 0
            t["tokens"] += p["total_tokens"]
            t["calls"] += 1
            t["unpriced"] += p["cost_units"] is None
            t["at"] = max(t["at"], p["timestamp"])
        with self._db.savepoint():
            for sid in sorted(totals):  # one lock order for every writer: no deadlock between batches
                self._db.require_session(sid)
            with translate_errors(self._db.url), self._db.conn.cursor() as cur:
                cur.executemany(INSERT_USAGE.removesuffix(" RETURNING id"), params)
                cur.executemany(BUMP_TOTALS, [{**totals[sid], "id": sid} for sid in sorted(totals)])
        return len(records)

    def for_session(self, session_id: int) -> list[UsageRecord]:
        return self._db.many(f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE session_id = %s ORDER BY timestamp, id",
                             (session_id,), UsageRecord)

    def get(self, usage_id: int) -> UsageRecord | None:
        return self._db.one(f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE id = %s", (usage_id,), UsageRecord)

    def identities(self, probes: list[Sighting]) -> StoredIdentities:
        return stored_identities(self._db, probes)

    def add_alias(self, call_key: str, usage_id: int, origin: Origin) -> None:
        # A stored alias or a missing record is a Conflict (primary key, foreign key).
        with self._db.savepoint():
            self._db.run("INSERT INTO ai_usage_aliases (call_key, usage_id, origin) VALUES (%s, %s, %s)",
                         (call_key, usage_id, origin.value))


class PgActivityRepository(SqlActivity):
    """ActivityRepository on `file_changes`, `commits` and `annotations` (persistence/sql/activity.py)."""
