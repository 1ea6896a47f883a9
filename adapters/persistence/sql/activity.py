"""ActivityRepository on both SQL back ends: `file_changes`, `commits` and `annotations` (the
statements are the same on SQLite and PostgreSQL, see the package doc).

Rules: each add checks its session and keeps the session's counters in step, in one savepoint;
a file change or commit already stored (the tables' unique keys) is skipped and answered None;
`last_activity` only moves forward.
"""

from __future__ import annotations

from typing import Any, TypeVar

from costhq.adapters.persistence.rows import columns
from costhq.domain.sessions import Annotation, Commit, FileChange

T = TypeVar("T")

_TOUCH = "last_activity = CASE WHEN COALESCE(last_activity, '') > :at THEN last_activity ELSE :at END"
_COLS = {
    FileChange: columns("id", "session_id", "file_path", "change_type", "timestamp"),
    Commit: columns("id", "session_id", "hash", "message", "author", "timestamp"),
    Annotation: columns("id", "session_id", "message", "timestamp"),
}


class SqlActivity:
    """ActivityRepository over a back end's `Db` (its `savepoint`, `require_session` and converter)."""

    def __init__(self, db: Any) -> None:
        self._db, self._sql = db, db.portable()

    def _add(self, cls: type[T], sql: str, params: dict[str, Any], counters: str | None) -> T | None:
        """INSERT `sql` (a row of `cls`, or nothing on conflict) and update the session's `counters`."""
        with self._db.savepoint():
            self._db.require_session(params["session_id"])
            rows = self._sql.rows(f"{sql} RETURNING {_COLS[cls]}", params)
            if not rows:
                return None
            if counters is not None:
                self._sql.run(f"UPDATE sessions SET {counters}, {_TOUCH} WHERE id = :id",
                              {"id": params["session_id"], "at": params["timestamp"]})
        return self._db.conv.structure(rows[0], cls)  # type: ignore[no-any-return]

    def add_file_change(self, change: FileChange) -> FileChange | None:
        return self._add(
            FileChange, "INSERT INTO file_changes (session_id, file_path, change_type, timestamp)"
                        " VALUES (:session_id, :file_path, :change_type, :timestamp) ON CONFLICT DO NOTHING",
            self._db.conv.unstructure(change),
            "files_changed = (SELECT COUNT(DISTINCT file_path) FROM file_changes WHERE session_id = :id)")

    def add_commit(self, commit: Commit) -> Commit | None:
        return self._add(
            Commit, "INSERT INTO commits (session_id, hash, message, author, timestamp)"
                    " VALUES (:session_id, :hash, :message, :author, :timestamp) ON CONFLICT DO NOTHING",
            self._db.conv.unstructure(commit), "commits = commits + 1")

    def add_annotation(self, note: Annotation) -> Annotation:
        found = self._add(
            Annotation, "INSERT INTO annotations (session_id, message, timestamp)"
                        " VALUES (:session_id, :message, :timestamp)",
            self._db.conv.unstructure(note), None)
        assert found is not None
        return found

    def _for(self, cls: type[T], table: str, session_id: int) -> list[T]:
        return self._sql.many(f"SELECT {_COLS[cls]} FROM {table} WHERE session_id = ? ORDER BY timestamp, id",
                              (session_id,), cls)

    def files(self, session_id: int) -> list[FileChange]:
        return self._for(FileChange, "file_changes", session_id)

    def commits(self, session_id: int) -> list[Commit]:
        return self._for(Commit, "commits", session_id)

    def annotations(self, session_id: int) -> list[Annotation]:
        return self._for(Annotation, "annotations", session_id)
