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
from costhq.adapters.persistence.postgres.sessions import TOUCH
from costhq.adapters.persistence.rows import USAGE_COLUMNS, USAGE_FIELDS
from costhq.domain.errors import SessionNotFound
from costhq.domain.identity import Sighting, StoredIdentities
from costhq.domain.sessions import Annotation, Commit, FileChange
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


class PgActivityRepository:
    """ActivityRepository on `file_changes`, `commits` and `annotations` (duplicates are skipped)."""

    _COLS = {
        FileChange: "id, session_id, file_path, change_type, timestamp",
        Commit: "id, session_id, hash, message, author, timestamp",
        Annotation: "id, session_id, message, timestamp",
    }

    def __init__(self, db: PgDb) -> None:
        self._db = db

    def add_file_change(self, change: FileChange) -> FileChange | None:
        params = self._db.conv.unstructure(change)
        with self._db.savepoint():
            self._db.require_session(change.session_id)
            found = self._db.one(
                "INSERT INTO file_changes (session_id, file_path, change_type, timestamp)"
                " VALUES (%(session_id)s, %(file_path)s, %(change_type)s, %(timestamp)s) ON CONFLICT DO NOTHING"
                f" RETURNING {self._COLS[FileChange]}", params, FileChange)
            if found is None:
                return None
            self._db.run(
                "UPDATE sessions SET files_changed = (SELECT COUNT(DISTINCT file_path) FROM file_changes"
                f" WHERE session_id = %(id)s), {TOUCH} WHERE id = %(id)s",
                {"id": change.session_id, "at": params["timestamp"]})
        return found

    def add_commit(self, commit: Commit) -> Commit | None:
        params = self._db.conv.unstructure(commit)
        with self._db.savepoint():
            self._db.require_session(commit.session_id)
            found = self._db.one(
                "INSERT INTO commits (session_id, hash, message, author, timestamp)"
                " VALUES (%(session_id)s, %(hash)s, %(message)s, %(author)s, %(timestamp)s) ON CONFLICT DO NOTHING"
                f" RETURNING {self._COLS[Commit]}", params, Commit)
            if found is None:
                return None
            self._db.run(f"UPDATE sessions SET commits = commits + 1, {TOUCH} WHERE id = %(id)s",
                         {"id": commit.session_id, "at": params["timestamp"]})
        return found

    def add_annotation(self, note: Annotation) -> Annotation:
        with self._db.savepoint():
            self._db.require_session(note.session_id)
            found = self._db.one(
                "INSERT INTO annotations (session_id, message, timestamp)"
                f" VALUES (%(session_id)s, %(message)s, %(timestamp)s) RETURNING {self._COLS[Annotation]}",
                self._db.conv.unstructure(note), Annotation)
        assert found is not None
        return found

    def _for(self, cls: type[T], table: str, session_id: int) -> list[T]:
        return self._db.many(f"SELECT {self._COLS[cls]} FROM {table} WHERE session_id = %s ORDER BY timestamp, id",
                             (session_id,), cls)

    def files(self, session_id: int) -> list[FileChange]:
        return self._for(FileChange, "file_changes", session_id)

    def commits(self, session_id: int) -> list[Commit]:
        return self._for(Commit, "commits", session_id)

    def annotations(self, session_id: int) -> list[Annotation]:
        return self._for(Annotation, "annotations", session_id)

