"""Shared plumbing of the APSW repositories: bound, error-translated statements, rows as dicts.

Assumptions: the caller owns the connection and its transaction (see sqlite/uow.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import apsw

from costhq.adapters.persistence.sqlite.transaction import translate_errors
from costhq.domain.errors import SessionNotFound

if TYPE_CHECKING:
    import cattrs

    from costhq.adapters.persistence.converter import RowConverter

T = TypeVar("T")


TOUCH = "last_activity = MAX(COALESCE(last_activity, ''), :at)"


class Db:
    """Bound, error-translated statements on one connection; rows as dicts keyed by `AS` names."""

    dialect = "sqlite"

    def __init__(self, conn: apsw.Connection, conv: cattrs.Converter | RowConverter) -> None:
        self.conn = conn
        self.conv = conv

    def portable(self) -> Db:
        """Itself: SQLite's placeholder style is the one shared SQL is written in (persistence/sql)."""
        return self

    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with translate_errors():
            cur = self.conn.execute(sql, params)
            names: list[str] = []
            out = []
            for row in cur:
                names = names or [d[0] for d in cur.get_description()]
                out.append(dict(zip(names, row, strict=True)))
            return out

    def one(self, sql: str, params: Any, cls: type[T]) -> T | None:
        rows = self.rows(sql, params)
        return self.conv.structure(rows[0], cls) if rows else None

    def many(self, sql: str, params: Any, cls: type[T]) -> list[T]:
        return [self.conv.structure(r, cls) for r in self.rows(sql, params)]

    def run(self, sql: str, params: Any = ()) -> int:
        """Execute a write; returns the number of rows it changed."""
        with translate_errors():
            self.conn.execute(sql, params)
            return self.conn.changes()

    def insert(self, sql: str, params: Any) -> int | None:
        """Execute an INSERT; returns the new rowid, or None when ON CONFLICT DO NOTHING skipped it."""
        return self.conn.last_insert_rowid() if self.run(sql, params) else None

    def require_session(self, session_id: int) -> None:
        if not self.rows("SELECT id AS id FROM sessions WHERE id = ?", (session_id,)):
            raise SessionNotFound(f"Session {session_id} not found", session_id=session_id)

    def savepoint(self) -> apsw.Connection:
        """`with db.savepoint():` nests a SAVEPOINT in the unit of work's transaction."""
        return self.conn
