"""APSW UsageRepository and ActivityRepository (ports: UsageRepository, ActivityRepository).

Assumptions: runs inside an ApswUnitOfWork transaction; each add is one SAVEPOINT that
inserts the row and bumps the owning session's denormalised totals by integer increments,
so a failed call leaves nothing half-done. Duplicate file changes / commits are skipped.
"""

from __future__ import annotations

from typing import TypeVar

from costhq.adapters.persistence.apsw_db import TOUCH, USAGE_COLUMNS, USAGE_FIELDS, Db, columns
from costhq.domain.sessions import Annotation, Commit, FileChange
from costhq.domain.usage import UsageRecord

T = TypeVar("T")

class ApswUsageRepository:
    """UsageRepository on `ai_usage`; each add bumps the session's totals in the same transaction."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, record: UsageRecord) -> UsageRecord:
        params = self._db.conv.unstructure(record)
        with self._db.savepoint():
            self._db.require_session(record.session_id)
            placeholders = ", ".join(f":{f}" for f in USAGE_FIELDS)
            uid = self._db.insert(f"INSERT INTO ai_usage ({', '.join(USAGE_FIELDS)}) VALUES ({placeholders})",
                                  params)
            self._db.run(
                "UPDATE sessions SET ai_cost_units = ai_cost_units + COALESCE(:units, 0),"
                " ai_tokens = ai_tokens + :tokens, ai_calls = ai_calls + 1,"
                f" unpriced_calls = unpriced_calls + (:units IS NULL), {TOUCH} WHERE id = :id",
                {"units": params["cost_units"], "tokens": record.total_tokens, "at": params["timestamp"],
                 "id": record.session_id},
            )
        return self._db.one(f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE id = ?", (uid,), UsageRecord)  # type: ignore[return-value]

    def for_session(self, session_id: int) -> list[UsageRecord]:
        return self._db.many(
            f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE session_id = ? ORDER BY timestamp, id",
            (session_id,),
            UsageRecord,
        )

    def has_request_id(self, request_id: str) -> bool:
        return bool(self._db.rows("SELECT 1 AS found FROM ai_usage WHERE request_id = ?", (request_id,)))


class ApswActivityRepository:
    """ActivityRepository on `file_changes`, `commits` and `annotations` (duplicates are skipped)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add_file_change(self, change: FileChange) -> FileChange | None:
        params = self._db.conv.unstructure(change)
        with self._db.savepoint():
            self._db.require_session(change.session_id)
            fid = self._db.insert(
                "INSERT INTO file_changes (session_id, file_path, change_type, timestamp)"
                " VALUES (:session_id, :file_path, :change_type, :timestamp) ON CONFLICT DO NOTHING",
                params,
            )
            if fid is None:
                return None
            self._db.run(
                "UPDATE sessions SET files_changed = (SELECT COUNT(DISTINCT file_path) FROM file_changes"
                f" WHERE session_id = :id), {TOUCH} WHERE id = :id",
                {"id": change.session_id, "at": params["timestamp"]},
            )
        return self._one(FileChange, "file_changes", fid)

    def add_commit(self, commit: Commit) -> Commit | None:
        params = self._db.conv.unstructure(commit)
        with self._db.savepoint():
            self._db.require_session(commit.session_id)
            cid = self._db.insert(
                "INSERT INTO commits (session_id, hash, message, author, timestamp)"
                " VALUES (:session_id, :hash, :message, :author, :timestamp) ON CONFLICT DO NOTHING",
                params,
            )
            if cid is None:
                return None
            self._db.run(
                f"UPDATE sessions SET commits = commits + 1, {TOUCH} WHERE id = :id",
                {"id": commit.session_id, "at": params["timestamp"]},
            )
        return self._one(Commit, "commits", cid)

    def add_annotation(self, note: Annotation) -> Annotation:
        with self._db.savepoint():
            self._db.require_session(note.session_id)
            aid = self._db.insert(
                "INSERT INTO annotations (session_id, message, timestamp)"
                " VALUES (:session_id, :message, :timestamp)",
                self._db.conv.unstructure(note),
            )
        return self._one(Annotation, "annotations", aid)

    _COLS = {
        FileChange: columns("id", "session_id", "file_path", "change_type", "timestamp"),
        Commit: columns("id", "session_id", "hash", "message", "author", "timestamp"),
        Annotation: columns("id", "session_id", "message", "timestamp"),
    }

    def _one(self, cls: type[T], table: str, row_id: int | None) -> T:
        found = self._db.one(f"SELECT {self._COLS[cls]} FROM {table} WHERE id = ?", (row_id,), cls)
        assert found is not None
        return found

    def _for(self, cls: type[T], table: str, session_id: int) -> list[T]:
        return self._db.many(
            f"SELECT {self._COLS[cls]} FROM {table} WHERE session_id = ? ORDER BY timestamp, id",
            (session_id,),
            cls,
        )

    def files(self, session_id: int) -> list[FileChange]:
        return self._for(FileChange, "file_changes", session_id)

    def commits(self, session_id: int) -> list[Commit]:
        return self._for(Commit, "commits", session_id)

    def annotations(self, session_id: int) -> list[Annotation]:
        return self._for(Annotation, "annotations", session_id)
