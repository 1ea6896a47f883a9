"""PostgreSQL SessionRepository (port: SessionRepository) on the `sessions` table.

Assumptions: runs inside a PgUnitOfWork transaction; times are fixed-width UTC text, so
GREATEST/ORDER BY on them are chronological; each new session is stamped with the unit of
work's user and machine (issue 16: who and where); `stats` aggregates in SQL.
With a machine set, "active" means active on that machine: each machine's `cs start`, its proxy's
"most recently active session" and its background session see only its own sessions (two
people may work in the same project path on two laptops, each in a session of their own).
"""

from __future__ import annotations

from datetime import datetime

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.postgres.db import PgDb
from costhq.adapters.persistence.rows import SESSION_COLUMNS as _COLS
from costhq.domain.errors import SessionNotFound
from costhq.domain.money import from_units
from costhq.domain.sessions import NewSession, Session, SessionStatus, Stats

TOUCH = "last_activity = GREATEST(COALESCE(last_activity, ''), %(at)s)"
# Whole seconds per session, exactly like Session.duration (floor of the exact difference).
_SECONDS = ("GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (COALESCE(end_time, %(now)s)::timestamptz"
            " - start_time::timestamptz))))")


class PgSessionRepository:
    """SessionRepository on `sessions`."""

    def __init__(self, db: PgDb, *, user: str | None = None, machine: str | None = None) -> None:
        self._db = db
        self._user, self._machine = user, machine

    def add(self, new: NewSession) -> Session:
        params = {**self._db.conv.unstructure(new), "user": self._user, "machine": self._machine}
        found = self._db.one(
            "INSERT INTO sessions (name, status, start_time, working_directory, git_root, start_git_head,"
            " branch, last_activity, user_name, machine) VALUES (%(name)s, 'active', %(start_time)s,"
            " %(working_directory)s, %(git_root)s, %(start_git_head)s, %(branch)s, %(start_time)s, %(user)s,"
            f" %(machine)s) RETURNING {_COLS}", params, Session)
        assert found is not None
        return found

    def get(self, session_id: int) -> Session | None:
        return self._db.one(f"SELECT {_COLS} FROM sessions WHERE id = %s", (session_id,), Session)

    def _get(self, session_id: int) -> Session:
        session = self.get(session_id)
        if session is None:
            raise SessionNotFound(f"Session {session_id} not found", session_id=session_id)
        return session

    def _mine(self) -> str:
        """This machine's sessions only (module docstring), when the unit of work names one."""
        return "" if self._machine is None else " AND machine = %(machine)s"

    def active_in_scope(self, scope: str) -> list[Session]:
        return self._db.many(
            f"SELECT {_COLS} FROM sessions WHERE working_directory = %(scope)s AND status = 'active'{self._mine()}"
            " ORDER BY last_activity DESC, id DESC", {"scope": scope, "machine": self._machine}, Session)

    def all_active(self) -> list[Session]:
        return self._db.many(
            f"SELECT {_COLS} FROM sessions WHERE status = 'active'{self._mine()} ORDER BY last_activity DESC, id DESC",
            {"machine": self._machine}, Session)

    def find_by_name(self, name: str, *, status: str | None = None) -> Session | None:
        cond = "" if status is None else " AND status = %(status)s"
        return self._db.one(
            f"SELECT {_COLS} FROM sessions WHERE name = %(name)s{cond}{self._mine()}"
            " ORDER BY start_time DESC, id DESC LIMIT 1", {"name": name, "status": status, "machine": self._machine},
            Session)

    def _update(self, session_id: int, sql: str, params: dict[str, object]) -> Session:
        found = self._db.one(f"UPDATE sessions SET {sql} WHERE id = %(id)s RETURNING {_COLS}",
                             {**params, "id": session_id}, Session)
        if found is None:
            raise SessionNotFound(f"Session {session_id} not found", session_id=session_id)
        return found

    def end(self, session_id: int, *, end_time: datetime, notes: str | None) -> Session:
        return self._update(session_id, "status = %(status)s, end_time = %(end)s, notes = %(notes)s",
                            {"status": SessionStatus.COMPLETED.value, "end": time_text(end_time), "notes": notes})

    def reopen(self, session_id: int, *, at: datetime) -> Session:
        return self._update(session_id, f"status = %(status)s, end_time = NULL, {TOUCH}",
                            {"status": SessionStatus.ACTIVE.value, "at": time_text(at)})

    def touch(self, session_id: int, at: datetime) -> None:
        if not self._db.run(f"UPDATE sessions SET {TOUCH} WHERE id = %(id)s", {"at": time_text(at), "id": session_id}):
            raise SessionNotFound(f"Session {session_id} not found", session_id=session_id)

    def recent(self, limit: int) -> list[Session]:
        return self._db.many(f"SELECT {_COLS} FROM sessions ORDER BY start_time DESC, id DESC LIMIT %s",
                             (limit,), Session)

    def stats(self, now: datetime) -> Stats:
        (row,) = self._db.rows(
            "SELECT COUNT(*) AS total_sessions, COUNT(*) FILTER (WHERE status = 'active') AS active_sessions,"
            f" COALESCE(SUM({_SECONDS}), 0)::bigint AS total_seconds,"
            " COALESCE(SUM(files_changed), 0)::bigint AS files_changed, COALESCE(SUM(commits), 0)::bigint AS commits,"
            " COALESCE(SUM(ai_cost_units), 0)::bigint AS ai_cost_units,"
            " COALESCE(SUM(ai_tokens), 0)::bigint AS ai_tokens, COALESCE(SUM(ai_calls), 0)::bigint AS ai_calls,"
            " COALESCE(SUM(unpriced_calls), 0)::bigint AS unpriced_calls FROM sessions",
            {"now": time_text(now)})
        row["ai_cost"] = from_units(row.pop("ai_cost_units"))
        return Stats(**row)
