"""ImportRepository and TodayRepository (ports in application/ports/integrations.py) on both SQL
back ends: the statements are the same on SQLite and PostgreSQL (see the package doc).

Assumptions: runs inside a unit of work's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.rows import SESSION_COLUMNS, today_project_from_row
from costhq.adapters.persistence.sql import SqlDb
from costhq.domain.imports import ImportCursor
from costhq.domain.sessions import Session
from costhq.domain.today import TodayProject

_S_COLS = ", ".join(f"s.{c.split(' AS ')[0]} AS {c.split(' AS ')[1]}" for c in SESSION_COLUMNS.split(", "))


class SqlImportRepository:
    """ImportRepository on `import_cursors` and `sessions`."""

    def __init__(self, db: Any) -> None:
        self._db: SqlDb = db.portable()

    def cursor(self, path: str) -> ImportCursor | None:
        rows = self._db.rows("SELECT path AS path, byte_offset AS offset, size AS size, inode AS inode,"
                             " mtime_ns AS mtime_ns FROM import_cursors WHERE path = ?", (path,))
        return ImportCursor(**rows[0]) if rows else None

    def save_cursor(self, cursor: ImportCursor) -> None:
        self._db.run(
            "INSERT INTO import_cursors (path, byte_offset, size, inode, mtime_ns)"
            " VALUES (:path, :offset, :size, :inode, :mtime_ns) ON CONFLICT(path) DO UPDATE SET"
            " byte_offset = excluded.byte_offset, size = excluded.size, inode = excluded.inode,"
            " mtime_ns = excluded.mtime_ns",
            {"path": cursor.path, "offset": cursor.offset, "size": cursor.size, "inode": cursor.inode,
             "mtime_ns": cursor.mtime_ns})

    def covering_session(self, scope: str, at: datetime) -> Session | None:
        return self._db.one(
            f"SELECT {_S_COLS} FROM sessions s WHERE s.working_directory = :scope AND s.start_time <= :at"
            " AND (s.status = 'active' OR s.end_time >= :at) AND s.name != 'Imported'"
            " ORDER BY s.start_time DESC, s.id DESC LIMIT 1",
            {"scope": scope, "at": time_text(at)}, Session)

    def named_session(self, name: str, scope: str) -> Session | None:
        return self._db.one(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE name = ? AND working_directory = ?"
            " ORDER BY start_time DESC, id DESC LIMIT 1", (name, scope), Session)


class SqlTodayRepository:
    """TodayRepository on `today_projects`."""

    _COLS = "id AS id, path AS path, COALESCE(name, path) AS name, added_at AS added_at"

    def __init__(self, db: Any) -> None:
        self._db: SqlDb = db.portable()

    def add(self, project: TodayProject) -> TodayProject:
        self._db.run("INSERT INTO today_projects (path, name, added_at) VALUES (?, ?, ?)"
                     " ON CONFLICT(path) DO NOTHING", (project.path, project.name, time_text(project.added_at)))
        (row,) = self._db.rows(f"SELECT {self._COLS} FROM today_projects WHERE path = ?", (project.path,))
        return today_project_from_row(row)

    def remove(self, path: str) -> bool:
        return bool(self._db.run("DELETE FROM today_projects WHERE path = ?", (path,)))

    def all(self) -> list[TodayProject]:
        rows = self._db.rows(f"SELECT {self._COLS} FROM today_projects ORDER BY id")
        return [today_project_from_row(r) for r in rows]
