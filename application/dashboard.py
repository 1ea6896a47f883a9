"""Dashboard use cases: overview, sessions table, models, insights, stats card, Start Fresh.

Storage aggregates; these use cases only choose the windows (local days in the user's
timezone) and assemble read models. Timezones are `zoneinfo` names resolved by the edge.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.dashboard import DashboardQueries, DataReset
from costhq.domain.analytics import (
    ChangeMark,
    DailyPoint,
    Insights,
    ModelUsage,
    Overview,
    ResetCounts,
    SessionPage,
    SessionQuery,
    SessionRow,
    Totals,
    VelocityPoint,
    Window,
    cost_per_hour,
    project_spend,
)
from costhq.domain.audit import AuditEvent
from costhq.domain.errors import InvalidArgument
from costhq.domain.sessions import Session

RESET_CONFIRMATION = "RESET"


def local_day_windows(today: date, days: int, tz: tzinfo) -> list[Window]:
    """`days` local calendar days ending with `today`, as UTC windows (DST-correct: 23/25 h days)."""
    out = []
    for i in range(days - 1, -1, -1):
        d = today - timedelta(days=i)
        start = datetime.combine(d, time(), tz).astimezone(UTC)
        end = datetime.combine(d + timedelta(days=1), time(), tz).astimezone(UTC)
        out.append(Window(start=start, end=end, label=d.isoformat()))
    return out


def _points(windows: list[Window], raw: list[DailyPoint]) -> list[DailyPoint]:
    return [attrs.evolve(p, day=date.fromisoformat(w.label)) for w, p in zip(windows, raw, strict=True)]


@attrs.frozen
class GetOverview:
    """KPIs, the last `days` local days, the spend projection, top sessions and cost velocity."""

    queries: DashboardQueries
    clock: Clock

    def __call__(self, *, tz: tzinfo, days: int = 30, top: int = 10) -> Overview:
        if not 1 <= days <= 366:
            raise InvalidArgument("days must be between 1 and 366")
        now = self.clock.now()
        today = now.astimezone(tz).date()
        windows = local_day_windows(today, days, tz)
        daily = _points(windows, self.queries.daily(windows))
        recent = self.queries.recent_sessions(30)
        velocity = [
            VelocityPoint(session_id=s.id, name=s.name, per_hour=cost_per_hour(s.ai_cost, s.duration(now)))
            for s in reversed(recent)
        ]
        return Overview(
            totals=self.queries.totals(now=now),
            daily=daily,
            projection=project_spend(daily, today),
            top_sessions=self.queries.top_sessions(top),
            velocity=velocity,
        )


@attrs.frozen
class SearchSessions:
    """One page of the sessions table (search, status filter, sort)."""

    queries: DashboardQueries
    clock: Clock

    def __call__(self, *, query: SessionQuery) -> SessionPage:
        if query.status not in (None, "active", "completed"):
            raise InvalidArgument("status must be active or completed")
        return self.queries.sessions(query, now=self.clock.now())


@attrs.frozen
class ExportSessions:
    """Every session (or the `limit` newest), newest first, in one query."""

    queries: DashboardQueries

    def __call__(self, *, limit: int | None = None) -> list[Session]:
        if limit is not None and limit < 1:
            raise InvalidArgument("limit must be a positive integer")
        return self.queries.recent_sessions(limit or 2**62)


@attrs.frozen
class ExportSessionRows:
    """Every session (or the `limit` newest), newest first, as flat rows (the CSV export's fast path)."""

    queries: DashboardQueries
    clock: Clock

    def __call__(self, *, limit: int | None = None) -> list[SessionRow]:
        if limit is not None and limit < 1:
            raise InvalidArgument("limit must be a positive integer")
        return self.queries.export_rows(now=self.clock.now(), limit=limit)


@attrs.frozen
class GetModelBreakdown:
    """Per-model totals (most expensive first)."""

    queries: DashboardQueries

    def __call__(self) -> list[ModelUsage]:
        return self.queries.models()


@attrs.frozen
class GetInsights:
    """File hotspots, the local 7x24 activity heatmap (Monday first) and per-project totals."""

    queries: DashboardQueries
    clock: Clock

    def __call__(self, *, tz: tzinfo, hotspots: int = 20) -> Insights:
        grid = [[0] * 24 for _ in range(7)]
        for hour, count in self.queries.session_starts_by_hour():
            local = hour.astimezone(tz)
            grid[local.weekday()][local.hour] += count
        return Insights(
            hotspots=self.queries.hotspots(hotspots), heatmap=grid, projects=self.queries.projects(now=self.clock.now())
        )


@attrs.frozen(kw_only=True)
class CardStats:
    """What the shareable stats card shows."""

    period: str
    label: str
    totals: Totals
    models: list[ModelUsage]
    daily: list[DailyPoint]


def period_window(period: str, now: datetime, tz: tzinfo) -> tuple[datetime | None, str, int]:
    """(UTC start or None for all time, label, days in the chart) of a card period."""
    local = now.astimezone(tz)
    if period == "month":
        start = datetime.combine(local.date().replace(day=1), time(), tz)
        return start.astimezone(UTC), local.strftime("%B %Y"), local.day
    if period == "year":
        start = datetime.combine(local.date().replace(month=1, day=1), time(), tz)
        return start.astimezone(UTC), local.strftime("%Y"), min(local.timetuple().tm_yday, 366)
    if period == "all":
        return None, "All time", 30
    raise InvalidArgument("period must be month, year or all")


@attrs.frozen
class GetCardStats:
    """Totals, top models and a daily series for a period (`month`, `year`, `all`)."""

    queries: DashboardQueries
    clock: Clock

    def __call__(self, *, period: str, tz: tzinfo) -> CardStats:
        now = self.clock.now()
        start, label, days = period_window(period, now, tz)
        windows = local_day_windows(now.astimezone(tz).date(), min(days, 366), tz)
        return CardStats(
            period=period,
            label=label,
            totals=self.queries.totals(now=now, start=start, end=None if start is None else now),
            models=self.queries.models(start=start)[:5],
            daily=_points(windows, self.queries.daily(windows)),
        )


@attrs.frozen
class WatchChanges:
    """The data fingerprint, for live refresh (SSE) without reading whole tables."""

    queries: DashboardQueries

    def __call__(self) -> ChangeMark:
        return self.queries.mark()


@attrs.frozen
class StartFresh:
    """Delete all sessions, AI usage, file changes, commits, annotations and alert thresholds.

    Guarded: the caller must pass the literal confirmation `RESET`. `clear_alerts` removes the
    budget rules (the firewall's store) and returns how many were removed.
    """

    reset: DataReset
    clear_alerts: Callable[[], int]
    clock: Clock | None = None
    actor: str = "http"

    def __call__(self, *, confirm: str) -> ResetCounts:
        if confirm != RESET_CONFIRMATION:
            raise InvalidArgument(f'Start Fresh needs the confirmation "{RESET_CONFIRMATION}"')
        removed = self.clear_alerts()  # first, so each removal is audited before its session goes
        event = None
        if self.clock is not None:  # the deletion itself is a state change: audited atomically with it
            event = AuditEvent(event="data.reset", actor=self.actor, payload={"alertThresholds": removed},
                               at=self.clock.now())
        return attrs.evolve(self.reset.clear_all(event), alert_thresholds=removed)
