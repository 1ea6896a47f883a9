"""APSW repositories of issue 7 (ports: ImportRepository, ReportRepository, TodayRepository).

Assumptions: runs inside an ApswUnitOfWork transaction. Reports aggregate in SQL; the only
Python in the loop is `costhq_bucket`, a deterministic SQL function mapping a stored UTC time
to its day/week/month in an IANA zone (SQLite knows no zones), memoised per minute.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.rows import SESSION_COLUMNS, report_row_from_row, zone
from costhq.adapters.persistence.sql.team import who_expressions, who_terms
from costhq.adapters.persistence.sqlite.db import Db
from costhq.domain.reports import ReportFilter, ReportKind, ReportRow
from costhq.domain.sessions import Dimension, Session

V3_SQL = """
CREATE TABLE IF NOT EXISTS import_cursors (
    path TEXT PRIMARY KEY,
    byte_offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_scope_start ON sessions(working_directory, start_time);
"""

_S_COLS = ", ".join(f"s.{c.split(' AS ')[0]} AS {c.split(' AS ')[1]}" for c in SESSION_COLUMNS.split(", "))




@functools.lru_cache(maxsize=65536)
def _bucket(minute: str, kind: str, tz: str) -> str:
    local = datetime.fromisoformat(minute + ":00+00:00").astimezone(ZoneInfo(tz))
    if kind == "daily":
        return local.date().isoformat()
    if kind == "weekly":
        return (local.date() - timedelta(days=local.weekday())).isoformat()
    return f"{local.year:04d}-{local.month:02d}"


def costhq_bucket(ts: str, kind: str, tz: str) -> str:
    """SQL function: stored UTC text -> local day / week (Monday) / month key."""
    return _bucket(ts[:16], kind, tz)


_AGG = (
    "COUNT(*) AS calls, SUM(u.input_tokens) AS input, SUM(u.cache_read_tokens) AS cache_read,"
    " SUM(u.cache_write_5m_tokens + u.cache_write_1h_tokens) AS cache_write, SUM(u.output_tokens) AS output,"
    " SUM(u.reasoning_tokens) AS reasoning, SUM(u.total_tokens) AS total_tokens,"
    " COALESCE(SUM(u.cost_units), 0) AS cost_units, SUM(u.cost_units IS NULL) AS unpriced_calls,"
    " MIN(u.timestamp) AS first, MAX(u.timestamp) AS last"
)
def _ph(name: str) -> str:
    return f":{name}"


_WHO = who_expressions(_ph, "s.")  # issue 16: a session's user, machine and project
_KEYS = {
    ReportKind.DAILY: "costhq_bucket(u.timestamp, 'daily', :tz)",
    ReportKind.WEEKLY: "costhq_bucket(u.timestamp, 'weekly', :tz)",
    ReportKind.MONTHLY: "costhq_bucket(u.timestamp, 'monthly', :tz)",
    ReportKind.MODELS: "COALESCE(u.served_model, u.model)",
    ReportKind.PROJECTS: "s.working_directory",
    ReportKind.USERS: _WHO[Dimension.USER],
    ReportKind.MACHINES: _WHO[Dimension.MACHINE],
}


def _where(where: ReportFilter) -> tuple[str, dict[str, Any]]:
    zone(where.timezone)
    params = {"since": time_text(where.since) if where.since else None,
              "until": time_text(where.until) if where.until else None,
              "project": where.project, "model": f"%{where.model.lower()}%" if where.model else None,
              "tz": where.timezone}
    sql = ("(:since IS NULL OR u.timestamp >= :since) AND (:until IS NULL OR u.timestamp < :until)"
           " AND (:project IS NULL OR s.working_directory = :project)"
           " AND (:model IS NULL OR lower(COALESCE(u.served_model, u.model)) LIKE :model)")
    terms, who = who_terms(_ph, user=where.user, machine=where.machine, project=None, owner=where.owner, table="s.")
    return " AND ".join([sql, *terms]), {**params, **who}




class ApswReportRepository:
    """ReportRepository: GROUP BY over `ai_usage` joined to `sessions`."""

    def __init__(self, db: Db) -> None:
        self._db = db
        db.conn.create_scalar_function("costhq_bucket", costhq_bucket, 3, deterministic=True)

    def _grouped(self, key: str, where: ReportFilter, by: Dimension | None = None) -> list[ReportRow]:
        cond, params = _where(where)
        group = "NULL" if by is None else _WHO[by]
        rows = self._db.rows(
            f"SELECT {key} AS key, {group} AS grp, {_AGG} FROM ai_usage u JOIN sessions s ON s.id = u.session_id"
            f" WHERE {cond} GROUP BY 1, 2 ORDER BY 1, 2", params)
        return [report_row_from_row(r) for r in rows]

    def rows(self, kind: ReportKind, where: ReportFilter, by: Dimension | None = None) -> list[ReportRow]:
        if kind is ReportKind.BLOCKS:
            return self.hours(where)
        return self._grouped(_KEYS[kind], where, by)

    def hours(self, where: ReportFilter) -> list[ReportRow]:
        return self._grouped("substr(u.timestamp, 1, 13)", where)

    def last_session(self, scope: str) -> Session | None:
        return self._db.one(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE working_directory = ?"
            " ORDER BY start_time DESC, id DESC LIMIT 1", (scope,), Session)
