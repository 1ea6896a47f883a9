"""APSW dashboard read side (port: DashboardQueries; Start Fresh is in sqlite/reset.py).

Assumptions: every aggregate is one SQL statement over indexed columns (schema v6 adds the
covering indexes the dashboard needs); reads use a fresh read-only connection, so they never
take SQLite's write lock and see one WAL snapshot; Start Fresh is one IMMEDIATE transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from costhq.adapters.persistence.converter import make_converter, parse_time, time_text
from costhq.adapters.persistence.rows import SESSION_COLUMNS
from costhq.adapters.persistence.sql.team import group_totals, spend_query
from costhq.adapters.persistence.sqlite.connection import open_connection
from costhq.adapters.persistence.sqlite.db import Db
from costhq.adapters.persistence.sqlite.sessions import _SECONDS
from costhq.adapters.persistence.sqlite.transaction import translate_errors
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

_PROMPT = "input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens"
_SORT_SQL = {
    SessionSort.START: "start_time",
    SessionSort.NAME: "name COLLATE NOCASE",
    SessionSort.DURATION: _SECONDS,
    SessionSort.COST: "ai_cost_units",
    # Same rule as domain.analytics.cost_per_hour (at least one minute), in exact integer units.
    SessionSort.COST_PER_HOUR: f"ai_cost_units * 3600 / MAX({_SECONDS}, 60)",
    SessionSort.TOKENS: "ai_tokens",
    SessionSort.FILES: "files_changed",
    SessionSort.COMMITS: "commits",
}
_TOTALS = (
    "COUNT(*) AS sessions, COALESCE(SUM(status = 'active'), 0) AS active,"
    f" COALESCE(SUM({_SECONDS}), 0) AS seconds, COALESCE(SUM(files_changed), 0) AS files,"
    " COALESCE(SUM(commits), 0) AS commits, COALESCE(SUM(ai_cost_units), 0) AS cost,"
    " COALESCE(SUM(ai_tokens), 0) AS tokens, COALESCE(SUM(ai_calls), 0) AS calls,"
    " COALESCE(SUM(unpriced_calls), 0) AS unpriced_calls"
)


def _ph(name: str) -> str:
    return f":{name}"


def _hour_bounds(start: datetime | None, end: datetime | None) -> dict[str, str | None]:
    """Split [start, end) into whole UTC hours (read from the rollup) and raw edge ranges."""

    def floor(d: datetime) -> datetime:
        return d.replace(minute=0, second=0, microsecond=0)

    lo_h = None if start is None else (floor(start) if floor(start) == start else floor(start) + timedelta(hours=1))
    hi_h = None if end is None else floor(end)
    if lo_h is not None and hi_h is not None and lo_h >= hi_h:  # inside one hour: raw rows only
        return {"lo_h": "~", "hi_h": "", "a1": time_text(start), "b1": time_text(end), "a2": None, "b2": None}  # type: ignore[arg-type]
    return {
        "lo_h": lo_h and time_text(lo_h)[:13],
        "hi_h": hi_h and time_text(hi_h)[:13],
        "a1": start and time_text(start),
        "b1": lo_h and time_text(lo_h),
        "a2": hi_h and time_text(hi_h),
        "b2": end and time_text(end),
    }


_RAW = (
    "SELECT {key}, COALESCE(u.cost_units, 0) AS cost, u.cost_units IS NULL AS unpriced, u.input_tokens AS input,"
    " u.cache_read_tokens AS cache_read, u.cache_write_5m_tokens + u.cache_write_1h_tokens AS cache_write,"
    " u.output_tokens AS output, u.total_tokens AS total, 1 AS calls FROM {src} JOIN ai_usage u"
    " ON u.timestamp >= {a} AND u.timestamp < {b}"
)
_ROLLED = (
    "SELECT {key}, h.cost_units AS cost, h.unpriced AS unpriced, h.input AS input, h.cache_read AS cache_read,"
    " h.cache_write AS cache_write, h.output AS output, h.total AS total, h.calls AS calls FROM {src}"
    " JOIN usage_hourly h ON {cond}"
)


def _hour_cond(lo: str | None, hi: str | None) -> str:
    # Plain range terms only: an `x IS NULL OR` term would stop SQLite using the primary key.
    terms = [f"h.hour >= {lo}" if lo else "", f"h.hour < {hi}" if hi else ""]
    return " AND ".join(t for t in terms if t) or "1"


# The export's rows come straight out of SQLite as tuples (no per-row Python): duration is
# `_SECONDS` once (a sub-select), and cost per hour is the domain rule (at least a minute,
# half-even to 1e-10 USD) in exact integer arithmetic: SQLite's `/` truncates, so round up when
# the remainder is past half, or exactly half with an odd quotient.
_EXPORT = (
    "SELECT id, name, status, start, finish, secs, working_directory, git_root, branch, files_changed, commits,"
    " ai_tokens, ai_cost_units, ai_calls, unpriced_calls,"
    " q + (2 * r > d OR (2 * r = d AND q % 2 = 1)), notes FROM ("
    " SELECT *, n / d AS q, n % d AS r FROM ("
    "  SELECT *, ai_cost_units * 3600 AS n, MAX(secs, 60) AS d FROM ("
    "   SELECT id, name, status, start_time, substr(start_time, 1, 23) || 'Z' AS start,"
    f"    substr(end_time, 1, 23) || 'Z' AS finish, {_SECONDS} AS secs, working_directory, git_root, branch,"
    "    files_changed, commits, ai_tokens, ai_cost_units, ai_calls, unpriced_calls, notes"
    "   FROM sessions ORDER BY start_time DESC, id DESC LIMIT :limit))) ORDER BY start_time DESC, id DESC"
)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ApswDashboardQueries:
    """DashboardQueries on the SQLite file at `db_path` (a read-only connection per call)."""

    def __init__(self, db_path: str) -> None:
        self._path = str(db_path)
        self._conv = make_converter()
        self._rollup: bool | None = None

    def _has_rollup(self) -> bool:
        # Schema step 6 adds the rollup; until a database has it, the same answers come from a scan.
        if not self._rollup:
            self._rollup = bool(self._rows("SELECT 1 AS x FROM sqlite_master WHERE name = 'usage_hourly'"))
        return self._rollup

    def _rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        conn = open_connection(self._path, readonly=True)
        try:
            return Db(conn, self._conv).rows(sql, params)
        finally:
            conn.close()

    def _sessions(self, sql: str, params: Any) -> list[Session]:
        return [self._conv.structure(r, Session) for r in self._rows(sql, params)]

    def totals(self, *, now: datetime, start: datetime | None = None, end: datetime | None = None) -> Totals:
        return self.spend(TeamFilter(start=start, end=end), now=now)[0].totals

    def spend(self, where: TeamFilter, *, now: datetime, by: Dimension | None = None) -> list[GroupTotals]:
        return [group_totals(r) for r in self._rows(*spend_query(_ph, where, now, by, _TOTALS))]

    def daily(self, windows: list[Window]) -> list[DailyPoint]:
        if not windows:
            return []
        values = ", ".join("(?, ?, ?)" for _ in windows)
        params = [v for i, w in enumerate(windows) for v in (i, time_text(w.start), time_text(w.end))]
        if self._has_rollup():
            usage = self._daily_rolled(windows)
        else:
            usage = self._rows(
                f"WITH w(i, lo, hi) AS (VALUES {values}) SELECT w.i AS i, COALESCE(SUM(u.cost_units), 0) AS cost,"
                f" COALESCE(SUM({_PROMPT}), 0) AS prompt, COALESCE(SUM(u.output_tokens), 0) AS completion,"
                " COUNT(u.timestamp) AS calls FROM w LEFT JOIN ai_usage u"
                " ON u.timestamp >= w.lo AND u.timestamp < w.hi GROUP BY w.i ORDER BY w.i",
                params,
            )
        started = self._rows(
            f"WITH w(i, lo, hi) AS (VALUES {values}) SELECT w.i AS i, COUNT(s.start_time) AS n FROM w"
            " LEFT JOIN sessions s ON s.start_time >= w.lo AND s.start_time < w.hi GROUP BY w.i ORDER BY w.i",
            params,
        )
        return [
            DailyPoint(
                day=w.start.date(),
                cost=from_units(u["cost"]),
                prompt_tokens=u["prompt"],
                completion_tokens=u["completion"],
                calls=u["calls"],
                sessions=s["n"],
            )
            for w, u, s in zip(windows, usage, started, strict=True)
        ]

    def _daily_rolled(self, windows: list[Window]) -> list[dict[str, Any]]:
        bounds = [_hour_bounds(w.start, w.end) for w in windows]
        values = ", ".join("(?, ?, ?, ?, ?, ?, ?)" for _ in windows)
        params = [
            v for i, b in enumerate(bounds) for v in (i, b["lo_h"], b["hi_h"], b["a1"], b["b1"], b["a2"], b["b2"])
        ]
        parts = " UNION ALL ".join(
            [
                _ROLLED.format(key="w.i AS i", src="w", cond=_hour_cond("w.lo_h", "w.hi_h")),
                _RAW.format(key="w.i AS i", src="w", a="w.a1", b="w.b1"),
                _RAW.format(key="w.i AS i", src="w", a="w.a2", b="w.b2"),
            ]
        )
        # Group the UNION directly (joining it back to `w` made SQLite build a temporary index).
        found = {
            r["i"]: r
            for r in self._rows(
                f"WITH w(i, lo_h, hi_h, a1, b1, a2, b2) AS (VALUES {values})"
                " SELECT i AS i, SUM(cost) AS cost, SUM(input + cache_read + cache_write) AS prompt,"
                f" SUM(output) AS completion, SUM(calls) AS calls FROM ({parts}) GROUP BY i",
                params,
            )
        }
        empty = {"cost": 0, "prompt": 0, "completion": 0, "calls": 0}
        return [found.get(i, empty) for i in range(len(windows))]

    def top_sessions(self, limit: int) -> list[Session]:
        return self._sessions(
            f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY ai_cost_units DESC, id DESC LIMIT ?", (limit,)
        )

    def recent_sessions(self, limit: int) -> list[Session]:
        return self._sessions(
            f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY start_time DESC, id DESC LIMIT ?", (limit,)
        )

    def export_rows(self, *, now: datetime, limit: int | None = None) -> list[SessionRow]:
        conn = open_connection(self._path, readonly=True)
        try:
            with translate_errors():
                return conn.execute(_EXPORT, {"now": time_text(now), "limit": limit or -1}).fetchall()
        finally:
            conn.close()

    def sessions(self, query: SessionQuery, *, now: datetime) -> SessionPage:
        where = (
            " WHERE (:q IS NULL OR name LIKE :q ESCAPE '\\' OR working_directory LIKE :q ESCAPE '\\'"
            " OR notes LIKE :q ESCAPE '\\') AND (:status IS NULL OR status = :status)"
        )
        params = {
            "q": _like(query.search) if query.search else None,
            "status": query.status,
            "now": time_text(now),
            "limit": query.per_page,
            "offset": query.offset,
        }
        direction = "DESC" if query.descending else "ASC"
        items = self._sessions(
            f"SELECT {SESSION_COLUMNS} FROM sessions{where}"
            f" ORDER BY {_SORT_SQL[query.sort]} {direction}, id {direction} LIMIT :limit OFFSET :offset",
            params,
        )
        (count,) = self._rows(f"SELECT COUNT(*) AS n FROM sessions{where}", params)
        return SessionPage(items=items, total=count["n"])

    def models(self, *, start: datetime | None = None, end: datetime | None = None) -> list[ModelUsage]:
        if self._has_rollup():
            key = "{t}.provider AS provider, {m} AS model"
            bounds = _hour_bounds(start, end)
            cond = _hour_cond(bounds["lo_h"] and ":lo_h", bounds["hi_h"] and ":hi_h")
            parts = " UNION ALL ".join(
                [
                    _ROLLED.format(key=key.format(t="h", m="h.model"), src="(SELECT 1)", cond=cond),
                    _RAW.format(
                        key=key.format(t="u", m="COALESCE(u.served_model, u.model)"), src="(SELECT 1)", a=":a1", b=":b1"
                    ),
                    _RAW.format(
                        key=key.format(t="u", m="COALESCE(u.served_model, u.model)"), src="(SELECT 1)", a=":a2", b=":b2"
                    ),
                ]
            )
            rows = self._rows(
                "SELECT provider AS provider, model AS model, SUM(calls) AS calls, SUM(cost) AS cost,"
                " SUM(unpriced) AS unpriced_calls, SUM(input) AS input, SUM(cache_read) AS cache_read,"
                " SUM(cache_write) AS cache_write, SUM(output) AS completion_tokens, SUM(total) AS total_tokens"
                f" FROM ({parts}) GROUP BY provider, model ORDER BY cost DESC, calls DESC, provider, model",
                bounds,
            )
        else:
            rows = self._rows(
                "SELECT provider AS provider, COALESCE(served_model, model) AS model, COUNT(*) AS calls,"
                " COALESCE(SUM(cost_units), 0) AS cost, SUM(cost_units IS NULL) AS unpriced_calls,"
                " SUM(input_tokens) AS input, SUM(cache_read_tokens) AS cache_read,"
                " SUM(cache_write_5m_tokens + cache_write_1h_tokens) AS cache_write,"
                " SUM(output_tokens) AS completion_tokens, SUM(total_tokens) AS total_tokens FROM ai_usage"
                " WHERE (:lo IS NULL OR timestamp >= :lo) AND (:hi IS NULL OR timestamp < :hi)"
                " GROUP BY provider, COALESCE(served_model, model) ORDER BY cost DESC, calls DESC, provider, model",
                {"lo": start and time_text(start), "hi": end and time_text(end)},
            )
        return [
            ModelUsage(
                provider=r["provider"],
                model=r["model"],
                calls=r["calls"],
                cost=from_units(r["cost"]),
                prompt_tokens=r["input"] + r["cache_read"] + r["cache_write"],
                completion_tokens=r["completion_tokens"],
                cache_read_tokens=r["cache_read"],
                cache_write_tokens=r["cache_write"],
                total_tokens=r["total_tokens"],
                unpriced_calls=r["unpriced_calls"],
            )
            for r in rows
        ]

    def hotspots(self, limit: int) -> list[FileHotspot]:
        rows = self._rows(
            "SELECT file_path AS path, COUNT(*) AS changes, COUNT(DISTINCT session_id) AS sessions"
            " FROM file_changes GROUP BY file_path ORDER BY sessions DESC, changes DESC, path LIMIT ?",
            (limit,),
        )
        return [FileHotspot(**r) for r in rows]

    def session_starts_by_hour(self) -> list[tuple[datetime, int]]:
        rows = self._rows(
            "SELECT substr(start_time, 1, 13) AS hour, COUNT(*) AS n FROM sessions GROUP BY hour ORDER BY hour"
        )
        return [(parse_time(r["hour"] + ":00:00+00:00"), r["n"]) for r in rows]

    def projects(self, *, now: datetime) -> list[ProjectUsage]:
        rows = self._rows(
            "SELECT working_directory AS path, COUNT(*) AS sessions, SUM(ai_cost_units) AS cost,"
            f" SUM({_SECONDS}) AS seconds, SUM(files_changed) AS files, SUM(commits) AS commits,"
            " SUM(ai_tokens) AS tokens FROM sessions GROUP BY working_directory"
            " ORDER BY cost DESC, sessions DESC, path",
            {"now": time_text(now)},
        )
        return [ProjectUsage(**{**r, "cost": from_units(r["cost"])}) for r in rows]

    def mark(self) -> ChangeMark:
        (row,) = self._rows(
            "SELECT COUNT(*) AS sessions, COALESCE(MAX(id), 0) AS max_session_id,"
            " COALESCE(MAX(last_activity), '') AS last_activity,"
            " (SELECT COALESCE(MAX(id), 0) FROM ai_usage) AS usage_rows FROM sessions"
        )
        return ChangeMark(**row)
