"""APSW SessionRepository (port: SessionRepository) on the `sessions` table.

Assumptions: runs inside an ApswUnitOfWork transaction; times are fixed-width UTC text, so
`MAX(last_activity, :at)` and ORDER BY on them are chronological; `stats` aggregates in SQL;
each new session is stamped with the unit of work's user and machine (issue 16, schema v10).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.rows import SESSION_COLUMNS as _COLS
from costhq.adapters.persistence.sqlite.db import TOUCH, Db
from costhq.domain.errors import SessionNotFound
from costhq.domain.money import from_units
from costhq.domain.sessions import NewSession, Session, SessionStatus, Stats

# Whole seconds per session, exactly like Session.duration: SQLite's unixepoch() drops the
# fraction, so subtract one when the end's microseconds are below the start's.
_SECONDS = (
    "MAX(0, unixepoch(COALESCE(end_time, :now)) - unixepoch(start_time)"
    " - (substr(COALESCE(end_time, :now), 21, 6) < substr(start_time, 21, 6)))"
)


class ApswSessionRepository:
    """SessionRepository on the `sessions` table."""

    def __init__(self, db: Db, *, user: str | None = None, machine: str | None = None) -> None:
        self._db = db
        self._user, self._machine = user, machine

    def add(self, new: NewSession) -> Session:
        params = {**self._db.conv.unstructure(new), "user": self._user, "machine": self._machine}
        sid = self._db.insert(
            "INSERT INTO sessions (name, status, start_time, working_directory, git_root, start_git_head,"
            " branch, last_activity, user_name, machine) VALUES (:name, 'active', :start_time, :working_directory,"
            " :git_root, :start_git_head, :branch, :start_time, :user, :machine)",
            params,
        )
        assert sid is not None
        return self._get(sid)

    def get(self, session_id: int) -> Session | None:
        return self._db.one(f"SELECT {_COLS} FROM sessions WHERE id = ?", (session_id,), Session)

    def _get(self, session_id: int) -> Session:
        session = self.get(session_id)
        if session is None:
            raise SessionNotFound(f"Session {session_id} not found", session_id=session_id)
        return session

    def active_in_scope(self, scope: str) -> list[Session]:
        return self._db.many(
            f"SELECT {_COLS} FROM sessions WHERE working_directory = ? AND status = 'active'"
            " ORDER BY last_activity DESC, id DESC",
            (scope,),
            Session,
        )

    def all_active(self) -> list[Session]:
        return self._db.many(
            f"SELECT {_COLS} FROM sessions WHERE status = 'active' ORDER BY last_activity DESC, id DESC",
            (),
            Session,
        )

    def find_by_name(self, name: str, *, status: str | None = None) -> Session | None:
        return self._db.one(
            f"SELECT {_COLS} FROM sessions WHERE name = :name AND (:status IS NULL OR status = :status)"
            " ORDER BY start_time DESC, id DESC LIMIT 1",
            {"name": name, "status": status},
            Session,
        )

    def _update(self, session_id: int, sql: str, params: dict[str, Any]) -> None:
        if not self._db.run(f"UPDATE sessions SET {sql} WHERE id = :id", {**params, "id": session_id}):
            raise SessionNotFound(f"Session {session_id} not found", session_id=session_id)

    def end(self, session_id: int, *, end_time: datetime, notes: str | None) -> Session:
        self._update(
            session_id,
            "status = :status, end_time = :end, notes = :notes",
            {"status": SessionStatus.COMPLETED.value, "end": time_text(end_time), "notes": notes},
        )
        return self._get(session_id)

    def reopen(self, session_id: int, *, at: datetime) -> Session:
        self._update(
            session_id,
            f"status = :status, end_time = NULL, {TOUCH}",
            {"status": SessionStatus.ACTIVE.value, "at": time_text(at)},
        )
        return self._get(session_id)

    def touch(self, session_id: int, at: datetime) -> None:
        self._update(session_id, TOUCH, {"at": time_text(at)})

    def recent(self, limit: int) -> list[Session]:
        return self._db.many(
            f"SELECT {_COLS} FROM sessions ORDER BY start_time DESC, id DESC LIMIT ?", (limit,), Session
        )

    def stats(self, now: datetime) -> Stats:
        (row,) = self._db.rows(
            "SELECT COUNT(*) AS total_sessions, COALESCE(SUM(status = 'active'), 0) AS active_sessions,"
            f" COALESCE(SUM({_SECONDS}), 0) AS total_seconds,"
            " COALESCE(SUM(files_changed), 0) AS files_changed, COALESCE(SUM(commits), 0) AS commits,"
            " COALESCE(SUM(ai_cost_units), 0) AS ai_cost_units, COALESCE(SUM(ai_tokens), 0) AS ai_tokens,"
            " COALESCE(SUM(ai_calls), 0) AS ai_calls, COALESCE(SUM(unpriced_calls), 0) AS unpriced_calls"
            " FROM sessions",
            {"now": time_text(now)},
        )
        row["ai_cost"] = from_units(row.pop("ai_cost_units"))
        return Stats(**row)
