"""PostgreSQL repositories of issue 7 (ports: ImportRepository, ReportRepository, TodayRepository).

Assumptions: runs inside a PgUnitOfWork transaction. Reports aggregate in SQL; day, week
(Monday) and month buckets are computed by PostgreSQL's own IANA zone support
(`AT TIME ZONE`) on the stored UTC text, after the zone name is checked against Python's.
"""

from __future__ import annotations

from typing import Any

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.postgres.db import PgDb
from costhq.adapters.persistence.rows import SESSION_COLUMNS, report_row_from_row, zone
from costhq.adapters.persistence.sql.team import who_expressions, who_terms
from costhq.domain.reports import ReportFilter, ReportKind, ReportRow
from costhq.domain.sessions import Dimension, Session

_LOCAL = "(u.timestamp::timestamptz AT TIME ZONE %(tz)s)"
_AGG = (
    "COUNT(*) AS calls, SUM(u.input_tokens)::bigint AS input, SUM(u.cache_read_tokens)::bigint AS cache_read,"
    " SUM(u.cache_write_5m_tokens + u.cache_write_1h_tokens)::bigint AS cache_write,"
    " SUM(u.output_tokens)::bigint AS output, SUM(u.reasoning_tokens)::bigint AS reasoning,"
    " SUM(u.total_tokens)::bigint AS total_tokens, COALESCE(SUM(u.cost_units), 0)::bigint AS cost_units,"
    " COUNT(*) FILTER (WHERE u.cost_units IS NULL) AS unpriced_calls,"
    " MIN(u.timestamp) AS first, MAX(u.timestamp) AS last"
)
def _ph(name: str) -> str:
    return f"%({name})s"


_WHO = who_expressions(_ph, "s.")  # issue 16: a session's user, machine and project
_KEYS = {
    ReportKind.DAILY: f"to_char({_LOCAL}, 'YYYY-MM-DD')",
    ReportKind.WEEKLY: f"to_char(date_trunc('week', {_LOCAL}), 'YYYY-MM-DD')",
    ReportKind.MONTHLY: f"to_char({_LOCAL}, 'YYYY-MM')",
    ReportKind.MODELS: "COALESCE(u.served_model, u.model)",
    ReportKind.PROJECTS: "s.working_directory",
    ReportKind.USERS: _WHO[Dimension.USER],
    ReportKind.MACHINES: _WHO[Dimension.MACHINE],
}


def _where(where: ReportFilter) -> tuple[str, dict[str, Any]]:
    zone(where.timezone)
    params: dict[str, Any] = {"tz": where.timezone}
    conds = ["TRUE"]
    if where.since is not None:
        conds.append("u.timestamp >= %(since)s")
        params["since"] = time_text(where.since)
    if where.until is not None:
        conds.append("u.timestamp < %(until)s")
        params["until"] = time_text(where.until)
    if where.project is not None:
        conds.append("s.working_directory = %(project)s")
        params["project"] = where.project
    if where.model:
        conds.append("strpos(lower(COALESCE(u.served_model, u.model)), %(model)s) > 0")
        params["model"] = where.model.lower()
    terms, who = who_terms(_ph, user=where.user, machine=where.machine, project=None, owner=where.owner, table="s.")
    return " AND ".join(conds + terms), {**params, **who}


class PgReportRepository:
    """ReportRepository: GROUP BY over `ai_usage` joined to `sessions`."""

    def __init__(self, db: PgDb) -> None:
        self._db = db

    def _grouped(self, key: str, where: ReportFilter, by: Dimension | None = None) -> list[ReportRow]:
        cond, params = _where(where)
        group = "NULL::text" if by is None else _WHO[by]
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
        return self._db.one(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE working_directory = %s"
                            " ORDER BY start_time DESC, id DESC LIMIT 1", (scope,), Session)
