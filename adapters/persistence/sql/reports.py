"""ReportRepository (port in application/ports/integrations.py) on both SQL back ends: one GROUP BY
over `ai_usage` joined to `sessions`, written once (see the package doc). What differs is how a
stored UTC time becomes a local day, week or month: each back end gives its `KEYS`."""

from __future__ import annotations

from typing import Any, ClassVar

from costhq.adapters.persistence.rows import SESSION_COLUMNS, report_row_from_row, zone
from costhq.adapters.persistence.sql import SqlDb, contains
from costhq.adapters.persistence.sql.team import who_expressions, who_terms, window_terms
from costhq.domain.reports import ReportFilter, ReportKind, ReportRow
from costhq.domain.sessions import Dimension, Session


def _ph(name: str) -> str:
    return f":{name}"


WHO = who_expressions(_ph, "s.")  # issue 16: a session's user, machine and project
_AGG = (  # CAST: PostgreSQL's SUM of BIGINT is NUMERIC; BIGINT is an INTEGER affinity on SQLite
    "COUNT(*) AS calls, CAST(SUM(u.input_tokens) AS BIGINT) AS input,"
    " CAST(SUM(u.cache_read_tokens) AS BIGINT) AS cache_read,"
    " CAST(SUM(u.cache_write_5m_tokens + u.cache_write_1h_tokens) AS BIGINT) AS cache_write,"
    " CAST(SUM(u.output_tokens) AS BIGINT) AS output, CAST(SUM(u.reasoning_tokens) AS BIGINT) AS reasoning,"
    " CAST(SUM(u.total_tokens) AS BIGINT) AS total_tokens,"
    " CAST(COALESCE(SUM(u.cost_units), 0) AS BIGINT) AS cost_units,"
    " SUM(CASE WHEN u.cost_units IS NULL THEN 1 ELSE 0 END) AS unpriced_calls,"
    " MIN(u.timestamp) AS first, MAX(u.timestamp) AS last"
)
_COMMON_KEYS = {
    ReportKind.MODELS: "COALESCE(u.served_model, u.model)",
    ReportKind.PROJECTS: "s.working_directory",
    ReportKind.USERS: WHO[Dimension.USER],
    ReportKind.MACHINES: WHO[Dimension.MACHINE],
}


class SqlReportRepository:
    """ReportRepository: GROUP BY over `ai_usage` joined to `sessions`; `KEYS` adds the calendar kinds
    (`:tz` is the report's zone)."""

    KEYS: ClassVar[dict[ReportKind, str]] = _COMMON_KEYS

    def __init__(self, db: Any) -> None:
        self._sql: SqlDb = db.portable()

    def _where(self, where: ReportFilter) -> tuple[str, dict[str, Any]]:
        zone(where.timezone)
        terms, params = window_terms(_ph, "u.timestamp", where.since, where.until)
        params["tz"] = where.timezone
        if where.project is not None:
            terms.append("s.working_directory = :project")
            params["project"] = where.project
        if where.model:  # a substring, case-insensitive: never a LIKE pattern (`_` in model names)
            terms.append(contains(self._sql, "COALESCE(u.served_model, u.model)", "model"))
            params["model"] = where.model
        who, who_params = who_terms(_ph, user=where.user, machine=where.machine, project=None, owner=where.owner,
                                    table="s.")
        return " AND ".join(["1 = 1", *terms, *who]), {**params, **who_params}

    def _grouped(self, key: str, where: ReportFilter, by: Dimension | None = None) -> list[ReportRow]:
        cond, params = self._where(where)
        group = "CAST(NULL AS TEXT)" if by is None else WHO[by]
        rows = self._sql.rows(
            f"SELECT {key} AS key, {group} AS grp, {_AGG} FROM ai_usage u JOIN sessions s ON s.id = u.session_id"
            f" WHERE {cond} GROUP BY 1, 2 ORDER BY 1, 2", params)
        return [report_row_from_row(r) for r in rows]

    def rows(self, kind: ReportKind, where: ReportFilter, by: Dimension | None = None) -> list[ReportRow]:
        if kind is ReportKind.BLOCKS:
            return self.hours(where)
        return self._grouped(self.KEYS[kind], where, by)

    def hours(self, where: ReportFilter) -> list[ReportRow]:
        return self._grouped("substr(u.timestamp, 1, 13)", where)

    def last_session(self, scope: str) -> Session | None:
        return self._sql.one(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE working_directory = ?"
                             " ORDER BY start_time DESC, id DESC LIMIT 1", (scope,), Session)
