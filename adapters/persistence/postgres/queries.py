"""PostgreSQL dashboard read side (port: DashboardQueries; Start Fresh is in postgres/reset.py).

Assumptions: every aggregate is one SQL statement; each call is a read-only REPEATABLE READ unit
of work (one snapshot, no row locks) on the thread's idle connection (uow.py). Sums are cast to
BIGINT (PostgreSQL sums BIGINT as NUMERIC) so money stays integer 1e-10 USD. Calls are summed
from `ai_usage` through its time index: PostgreSQL scans a million rows fast enough for the
dashboard (docs/benchmarks.md), so SQLite's hourly rollup has no counterpart here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.adapters.persistence.postgres.sessions import _SECONDS
from costhq.adapters.persistence.postgres.uow import PgUnitOfWork
from costhq.adapters.persistence.rows import SESSION_COLUMNS
from costhq.adapters.persistence.sql.team import group_totals, spend_query, window_terms
from costhq.domain.analytics import (
    ChangeMark,
    DailyPoint,
    FileHotspot,
    ModelUsage,
    ProjectUsage,
    SessionPage,
    SessionQuery,
    SessionRow,
    SessionSort,
    Totals,
    Window,
)
from costhq.domain.money import from_units
from costhq.domain.sessions import Dimension, Session
from costhq.domain.team import GroupTotals, TeamFilter

_SECS = f"({_SECONDS})::bigint"
_PROMPT = "u.input_tokens + u.cache_read_tokens + u.cache_write_5m_tokens + u.cache_write_1h_tokens"
_SORT_SQL = {
    SessionSort.START: "start_time",
    SessionSort.NAME: "lower(name)",
    SessionSort.DURATION: _SECS,
    SessionSort.COST: "ai_cost_units",
    # Same rule as domain.analytics.cost_per_hour (at least one minute); BIGINT division truncates.
    SessionSort.COST_PER_HOUR: f"ai_cost_units * 3600 / GREATEST({_SECS}, 60)",
    SessionSort.TOKENS: "ai_tokens",
    SessionSort.FILES: "files_changed",
    SessionSort.COMMITS: "commits",
}
_TOTALS = (
    "COUNT(*) AS sessions, COUNT(*) FILTER (WHERE status = 'active') AS active,"
    f" COALESCE(SUM({_SECS}), 0)::bigint AS seconds, COALESCE(SUM(files_changed), 0)::bigint AS files,"
    " COALESCE(SUM(commits), 0)::bigint AS commits, COALESCE(SUM(ai_cost_units), 0)::bigint AS cost,"
    " COALESCE(SUM(ai_tokens), 0)::bigint AS tokens, COALESCE(SUM(ai_calls), 0)::bigint AS calls,"
    " COALESCE(SUM(unpriced_calls), 0)::bigint AS unpriced_calls"
)
# The export's rows, flat, as on SQLite (sqlite/queries.py): cost per hour is the domain rule in
# exact integers, rounded half-even (BIGINT `/` truncates; round up past half, or at half with an odd quotient).
_EXPORT = (
    "SELECT id AS id, name AS name, status AS status, start AS start, finish AS finish, secs AS secs,"
    " working_directory AS wd, git_root AS git_root, branch AS branch, files_changed AS files, commits AS commits,"
    " ai_tokens AS tokens, ai_cost_units AS cost, ai_calls AS calls, unpriced_calls AS unpriced,"
    " q + CASE WHEN 2 * r > d OR (2 * r = d AND mod(q, 2) = 1) THEN 1 ELSE 0 END AS per_hour, notes AS notes FROM ("
    " SELECT *, n / d AS q, mod(n, d) AS r FROM ("
    "  SELECT *, ai_cost_units * 3600 AS n, GREATEST(secs, 60) AS d FROM ("
    "   SELECT id, name, status, start_time, substr(start_time, 1, 23) || 'Z' AS start,"
    f"    substr(end_time, 1, 23) || 'Z' AS finish, {_SECS} AS secs, working_directory, git_root, branch,"
    "    files_changed, commits, ai_tokens, ai_cost_units, ai_calls, unpriced_calls, notes"
    "   FROM sessions ORDER BY start_time DESC, id DESC LIMIT %(limit)s) a) b) c ORDER BY start_time DESC, id DESC"
)


def _ph(name: str) -> str:
    return f"%({name})s"


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class PgDashboardQueries:
    """DashboardQueries on the PostgreSQL database at `url` (a read-only unit of work per call)."""

    def __init__(self, url: str) -> None:
        self._url = url

    def _rows(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with PgUnitOfWork(self._url, read_only=True) as uow:
            return uow.db.rows(sql, params)

    def _sessions(self, sql: str, params: Any) -> list[Session]:
        with PgUnitOfWork(self._url, read_only=True) as uow:
            return uow.db.many(sql, params, Session)

    def totals(self, *, now: datetime, start: datetime | None = None, end: datetime | None = None) -> Totals:
        return self.spend(TeamFilter(start=start, end=end), now=now)[0].totals

    def spend(self, where: TeamFilter, *, now: datetime, by: Dimension | None = None) -> list[GroupTotals]:
        return [group_totals(r) for r in self._rows(*spend_query(_ph, where, now, by, _TOTALS))]

    def daily(self, windows: list[Window]) -> list[DailyPoint]:
        if not windows:
            return []
        values = ", ".join("(%s::int, %s::text, %s::text)" for _ in windows)
        params = [v for i, w in enumerate(windows) for v in (i, time_text(w.start), time_text(w.end))]
        usage = self._rows(
            f"WITH w(i, lo, hi) AS (VALUES {values}) SELECT w.i AS i, COALESCE(SUM(u.cost_units), 0)::bigint AS cost,"
            f" COALESCE(SUM({_PROMPT}), 0)::bigint AS prompt, COALESCE(SUM(u.output_tokens), 0)::bigint AS completion,"
            " COUNT(u.id) AS calls FROM w LEFT JOIN ai_usage u ON u.timestamp >= w.lo AND u.timestamp < w.hi"
            " GROUP BY w.i ORDER BY w.i", params)
        started = self._rows(
            f"WITH w(i, lo, hi) AS (VALUES {values}) SELECT w.i AS i, COUNT(s.id) AS n FROM w"
            " LEFT JOIN sessions s ON s.start_time >= w.lo AND s.start_time < w.hi GROUP BY w.i ORDER BY w.i", params)
        return [DailyPoint(day=w.start.date(), cost=from_units(u["cost"]), prompt_tokens=u["prompt"],
                           completion_tokens=u["completion"], calls=u["calls"], sessions=s["n"])
                for w, u, s in zip(windows, usage, started, strict=True)]

    def top_sessions(self, limit: int) -> list[Session]:
        return self._sessions(f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY ai_cost_units DESC, id DESC LIMIT %s",
                              (limit,))

    def recent_sessions(self, limit: int) -> list[Session]:
        return self._sessions(f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY start_time DESC, id DESC LIMIT %s",
                              (limit,))

    def export_rows(self, *, now: datetime, limit: int | None = None) -> list[SessionRow]:
        return [tuple(r.values()) for r in self._rows(_EXPORT, {"now": time_text(now), "limit": limit})]

    def sessions(self, query: SessionQuery, *, now: datetime) -> SessionPage:
        terms, params = [], {"now": time_text(now), "limit": query.per_page, "offset": query.offset}
        if query.search:
            terms.append("(name ILIKE %(q)s OR working_directory ILIKE %(q)s OR notes ILIKE %(q)s)")
            params["q"] = _like(query.search)
        if query.status is not None:
            terms.append("status = %(status)s")
            params["status"] = query.status
        where = " WHERE " + " AND ".join(terms) if terms else ""
        direction = "DESC" if query.descending else "ASC"
        items = self._sessions(
            f"SELECT {SESSION_COLUMNS} FROM sessions{where}"
            f" ORDER BY {_SORT_SQL[query.sort]} {direction}, id {direction} LIMIT %(limit)s OFFSET %(offset)s", params)
        (count,) = self._rows(f"SELECT COUNT(*) AS n FROM sessions{where}", params)
        return SessionPage(items=items, total=count["n"])

    def models(self, *, start: datetime | None = None, end: datetime | None = None) -> list[ModelUsage]:
        terms, params = window_terms(_ph, "timestamp", start, end)
        where = " WHERE " + " AND ".join(terms) if terms else ""
        rows = self._rows(
            "SELECT provider AS provider, COALESCE(served_model, model) AS model, COUNT(*) AS calls,"
            " COALESCE(SUM(cost_units), 0)::bigint AS cost, COUNT(*) FILTER (WHERE cost_units IS NULL) AS unpriced,"
            " SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens)::bigint AS prompt,"
            " SUM(cache_read_tokens)::bigint AS cache_read,"
            " SUM(cache_write_5m_tokens + cache_write_1h_tokens)::bigint AS cache_write,"
            " SUM(output_tokens)::bigint AS completion, SUM(total_tokens)::bigint AS total FROM ai_usage"
            f"{where} GROUP BY 1, 2 ORDER BY cost DESC, calls DESC, provider, model", params)
        return [ModelUsage(provider=r["provider"], model=r["model"], calls=r["calls"], cost=from_units(r["cost"]),
                           prompt_tokens=r["prompt"], completion_tokens=r["completion"],
                           cache_read_tokens=r["cache_read"], cache_write_tokens=r["cache_write"],
                           total_tokens=r["total"], unpriced_calls=r["unpriced"]) for r in rows]

    def hotspots(self, limit: int) -> list[FileHotspot]:
        rows = self._rows(
            "SELECT file_path AS path, COUNT(*) AS changes, COUNT(DISTINCT session_id) AS sessions"
            " FROM file_changes GROUP BY file_path ORDER BY sessions DESC, changes DESC, path LIMIT %s", (limit,))
        return [FileHotspot(**r) for r in rows]

    def session_starts_by_hour(self) -> list[tuple[datetime, int]]:
        rows = self._rows("SELECT substr(start_time, 1, 13) AS hour, COUNT(*) AS n FROM sessions GROUP BY 1 ORDER BY 1")
        return [(parse_time(r["hour"] + ":00:00+00:00"), r["n"]) for r in rows]

    def projects(self, *, now: datetime) -> list[ProjectUsage]:
        rows = self._rows(
            "SELECT working_directory AS path, COUNT(*) AS sessions, SUM(ai_cost_units)::bigint AS cost,"
            f" SUM({_SECS})::bigint AS seconds, SUM(files_changed)::bigint AS files, SUM(commits)::bigint AS commits,"
            " SUM(ai_tokens)::bigint AS tokens FROM sessions GROUP BY working_directory"
            " ORDER BY cost DESC, sessions DESC, path", {"now": time_text(now)})
        return [ProjectUsage(**{**r, "cost": from_units(r["cost"])}) for r in rows]

    def mark(self) -> ChangeMark:
        (row,) = self._rows(
            "SELECT COUNT(*) AS sessions, COALESCE(MAX(id), 0) AS max_session_id,"
            " COALESCE(MAX(last_activity), '') AS last_activity,"
            " (SELECT COALESCE(MAX(id), 0) FROM ai_usage) AS usage_rows FROM sessions")
        return ChangeMark(**row)
