"""Ports: The dashboard's aggregate queries and Start Fresh."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from costhq.domain.analytics import (
        ChangeMark,
        DailyPoint,
        FileHotspot,
        ModelUsage,
        ProjectUsage,
        ResetCounts,
        SessionPage,
        SessionQuery,
        SessionRow,
        Totals,
        Window,
    )
    from costhq.domain.audit import AuditEvent
    from costhq.domain.sessions import Dimension, Session
    from costhq.domain.team import GroupTotals, TeamFilter


class DashboardQueries(Protocol):
    """Read-only aggregates for the dashboard and the stats card (SQL in the real adapter).

    Windows are half-open UTC ranges chosen by the caller (local days, months), so storage never
    needs to know the user's timezone.
    """

    def totals(self, *, now: datetime, start: datetime | None = None, end: datetime | None = None) -> Totals:
        """Totals of the sessions started in [start, end) (all sessions when both are None)."""
        ...
    def spend(self, where: TeamFilter, *, now: datetime, by: Dimension | None = None) -> list[GroupTotals]:
        """Totals of the sessions `where` selects (issue 16): one group keyed "" when `by` is None
        (even when nothing matches), else one per user / machine / project, most expensive first
        (ties: more sessions, then key). A session without user/machine counts as `where.owner`'s."""
        ...
    def daily(self, windows: list[Window]) -> list[DailyPoint]:
        """One point per window: AI cost/tokens/calls by call time, sessions by start time."""
        ...
    def top_sessions(self, limit: int) -> list[Session]:
        """Most expensive sessions first (ties: newest id first)."""
        ...
    def recent_sessions(self, limit: int) -> list[Session]:
        """Newest started first."""
        ...
    def sessions(self, query: SessionQuery, *, now: datetime) -> SessionPage: ...
    def models(self, *, start: datetime | None = None, end: datetime | None = None) -> list[ModelUsage]:
        """Per (provider, served model) totals, most expensive first."""
        ...
    def hotspots(self, limit: int) -> list[FileHotspot]:
        """Most frequently changed files (by number of sessions, then changes)."""
        ...
    def session_starts_by_hour(self) -> list[tuple[datetime, int]]:
        """Sessions started per UTC hour (hour start, count); the caller buckets them locally."""
        ...
    def projects(self, *, now: datetime) -> list[ProjectUsage]:
        """Per working directory totals, most expensive first."""
        ...
    def mark(self) -> ChangeMark:
        """A cheap fingerprint that changes whenever anything is recorded (live refresh)."""
        ...
    def export_rows(self, *, now: datetime, limit: int | None = None) -> list[SessionRow]:
        """Every session (or the `limit` newest), newest started first, flattened (issue 6 export)."""
        ...


class DataReset(Protocol):
    """Start Fresh: delete every session and what hangs off it (a unit-of-work repository)."""

    def clear_all(self, event: AuditEvent | None = None) -> ResetCounts:
        """Delete, and append `event` (payload plus the counts) to the audit chain in the same transaction."""
        ...
