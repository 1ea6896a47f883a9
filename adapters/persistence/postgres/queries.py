"""PostgreSQL dashboard read side (port: DashboardQueries; Start Fresh is in postgres/reset.py).

Assumptions: every aggregate is one SQL statement; each call is a read-only REPEATABLE READ unit
of work (one snapshot, no row locks) on the thread's idle connection (uow.py). Sums are cast to
BIGINT (PostgreSQL sums BIGINT as NUMERIC) so money stays integer 1e-10 USD. Calls are summed
from the hourly rollup (schema v4, `spend_hourly`) for whole UTC hours and from `ai_usage`
through its time index only for partial edge hours (sql/rollup.py), as on SQLite.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.adapters.persistence.postgres.sessions import _SECONDS
from costhq.adapters.persistence.postgres.uow import PgUnitOfWork
from costhq.adapters.persistence.rows import SESSION_COLUMNS
from costhq.adapters.persistence.sql.rollup import ROLLUP, hour_spans
from costhq.adapters.persistence.sql.team import group_totals, spend_query
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
# One row's sums under the rollup's column names, from the rollup or from a raw call.
_SUMS = "calls, cost_units, unpriced, input, cache_read, cache_write, output, total"
_RAW_SUMS = ("1 AS calls, COALESCE(cost_units, 0) AS cost_units, (cost_units IS NULL)::int AS unpriced,"
             " input_tokens AS input, cache_read_tokens AS cache_read,"
             " cache_write_5m_tokens + cache_write_1h_tokens AS cache_write, output_tokens AS output,"
             " total_tokens AS total")
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


def _usage_parts(start: datetime | None, end: datetime | None, tag: str, params: dict[str, Any],
                 key: str = "") -> list[str]:
    """SELECTs (to UNION ALL) of the calls in [start, end) as rows of `key` (e.g. `1 AS i, `),
    provider, model (the served one, else the requested one) and _SUMS; adds their parameters."""
    parts = []
    for n, (table, lo, hi) in enumerate(hour_spans(start, end)):
        rolled = table == ROLLUP
        col = "hour" if rolled else "timestamp"
        bounds = []
        for name, value, op in ((f"lo{tag}_{n}", lo, ">="), (f"hi{tag}_{n}", hi, "<")):
            if value is not None:
                params[name] = value
                bounds.append(f"{col} {op} %({name})s")
        model = "CASE served_model WHEN '' THEN model ELSE served_model END" if rolled else \
            "COALESCE(served_model, model)"
        where = " WHERE " + " AND ".join(bounds) if bounds else ""
        parts.append(f"SELECT {key}provider, {model} AS model, {_SUMS if rolled else _RAW_SUMS} FROM {table}{where}")
    return parts


def _window_spans(w: Window) -> tuple[str | None, ...]:
    """A window's (lo_h, hi_h) rollup hours and (a1, b1), (a2, b2) raw edges; None bounds match nothing."""
    rolled: tuple[str | None, ...] = ("~", "")  # an empty range when the window is inside one hour
    raw: list[str | None] = []
    for table, lo, hi in hour_spans(w.start, w.end):
        if table == ROLLUP:
            rolled = (lo, hi)
        else:
            raw += [lo, hi]
    return (*rolled, *raw, *[None] * (4 - len(raw)))


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
        spans = [_window_spans(w) for w in windows]
        rolled = ", ".join(f"h.{c}" for c in _SUMS.split(", "))
        parts = " UNION ALL ".join(
            [f"SELECT w.i, {rolled} FROM w JOIN spend_hourly h ON h.hour >= w.lo_h AND h.hour < w.hi_h"]
            + [f"SELECT w.i, {_RAW_SUMS} FROM w JOIN ai_usage u ON u.timestamp >= w.{a} AND u.timestamp < w.{b}"
               for a, b in (("a1", "b1"), ("a2", "b2"))])
        found = {r["i"]: r for r in self._rows(
            "WITH w(i, lo_h, hi_h, a1, b1, a2, b2) AS (VALUES "
            + ", ".join("(%s::int, %s::text, %s::text, %s::text, %s::text, %s::text, %s::text)" for _ in windows)
            + ") SELECT i, SUM(cost_units)::bigint AS cost, SUM(input + cache_read + cache_write)::bigint AS prompt,"
            f" SUM(output)::bigint AS completion, SUM(calls)::bigint AS calls FROM ({parts}) u GROUP BY i",
            [v for i, row in enumerate(spans) for v in (i, *row)])}
        usage = [found.get(i, {"cost": 0, "prompt": 0, "completion": 0, "calls": 0}) for i in range(len(windows))]
        values = ", ".join("(%s::int, %s::text, %s::text)" for _ in windows)
        started = self._rows(
            f"WITH w(i, lo, hi) AS (VALUES {values}) SELECT w.i AS i, COUNT(s.id) AS n FROM w"
            " LEFT JOIN sessions s ON s.start_time >= w.lo AND s.start_time < w.hi GROUP BY w.i ORDER BY w.i",
            [v for i, w in enumerate(windows) for v in (i, time_text(w.start), time_text(w.end))])
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
        params: dict[str, Any] = {}
        rows = self._rows(
            "SELECT provider, model, SUM(calls)::bigint AS calls, SUM(cost_units)::bigint AS cost,"
            " SUM(unpriced)::bigint AS unpriced, SUM(input + cache_read + cache_write)::bigint AS prompt,"
            " SUM(cache_read)::bigint AS cache_read, SUM(cache_write)::bigint AS cache_write,"
            " SUM(output)::bigint AS completion, SUM(total)::bigint AS total"
            f" FROM ({' UNION ALL '.join(_usage_parts(start, end, '', params))}) u"
            " GROUP BY 1, 2 ORDER BY cost DESC, calls DESC, provider, model", params)
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
