"""Dashboard read models: aggregates computed by storage, plus the projection and velocity rules.

These are values, never rows: storage aggregates in SQL and hands back these objects.
"""

from __future__ import annotations

import calendar
import enum
from datetime import date, datetime
from decimal import Decimal

import attrs

from costhq.domain.money import ZERO, quantize
from costhq.domain.sessions import Session


class SessionSort(enum.Enum):
    """Columns the sessions table can be sorted by."""

    START = "startTime"
    NAME = "name"
    DURATION = "duration"
    COST = "aiCost"
    COST_PER_HOUR = "costPerHour"
    TOKENS = "aiTokens"
    FILES = "filesChanged"
    COMMITS = "commits"


@attrs.frozen(kw_only=True)
class SessionQuery:
    """Search, filter, sort and page the sessions table.

    Attributes:
        search: case-insensitive substring of the name, working directory or notes.
        status: only `active` or `completed` sessions when set.
        sort: sort column; ties broken by id (same direction).
        descending: sort direction.
        page: 1-based page number.
        per_page: rows per page (1..500).
    """

    search: str | None = None
    status: str | None = None
    sort: SessionSort = SessionSort.START
    descending: bool = True
    page: int = attrs.field(default=1)
    per_page: int = attrs.field(default=25)

    @page.validator
    def _check_page(self, _a: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError("page must be >= 1")

    @per_page.validator
    def _check_per_page(self, _a: attrs.Attribute[int], value: int) -> None:
        if not 1 <= value <= 500:
            raise ValueError("per_page must be between 1 and 500")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@attrs.frozen(kw_only=True)
class SessionPage:
    """One page of sessions plus the number of matching sessions."""

    items: list[Session]
    total: int


@attrs.frozen(kw_only=True)
class DailyPoint:
    """Totals of one local calendar day (AI calls by call time, sessions by start time)."""

    day: date
    cost: Decimal = ZERO
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    sessions: int = 0


@attrs.frozen(kw_only=True)
class Projection:
    """Spend projection: the average over the days shown and a full-month estimate.

    Attributes:
        avg_daily: mean cost per day over the window.
        month_to_date: cost since the first of the current local month.
        projected_month: month_to_date + avg_daily x days left in the month (today excluded).
    """

    avg_daily: Decimal
    month_to_date: Decimal
    projected_month: Decimal


def project_spend(daily: list[DailyPoint], today: date) -> Projection:
    """Average daily spend over `daily` and the projected total for `today`'s month."""
    total = sum((d.cost for d in daily), ZERO)
    avg = quantize(total / len(daily)) if daily else ZERO
    mtd = sum((d.cost for d in daily if (d.day.year, d.day.month) == (today.year, today.month)), ZERO)
    days_left = calendar.monthrange(today.year, today.month)[1] - today.day
    return Projection(avg_daily=avg, month_to_date=quantize(mtd), projected_month=quantize(mtd + avg * days_left))


def cost_per_hour(cost: Decimal, seconds: int) -> Decimal:
    """Cost velocity in USD/hour; sessions shorter than a minute count as one minute (no spikes)."""
    return quantize(cost * 3600 / max(seconds, 60))


#: Field order of a `SessionRow` (the export's flat form of a session).
SESSION_ROW_FIELDS = (
    "id", "name", "status", "start_time", "end_time", "duration", "working_directory", "git_root", "branch",
    "files_changed", "commits", "ai_tokens", "ai_cost_units", "ai_calls", "unpriced_calls",
    "cost_per_hour_units", "notes",
)

#: One session flattened for export, in `SESSION_ROW_FIELDS` order: plain values, not a Session,
#: because building 10,000 objects was most of an export's time. Times are ISO-8601 UTC text with
#: milliseconds and `Z` (None while active); `duration` is whole seconds (live for active
#: sessions); money is exact integer 1e-10 USD, `cost_per_hour_units` rounded half-even by the
#: same rule as `cost_per_hour`.
SessionRow = tuple[int, str, str, str, str | None, int, str, str | None, str | None, int, int, int, int, int, int,
                   int, str | None]


@attrs.frozen(kw_only=True)
class ModelUsage:
    """Totals of one (provider, model), the model as served when known."""

    provider: str
    model: str
    calls: int
    cost: Decimal
    prompt_tokens: int
    completion_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    total_tokens: int
    unpriced_calls: int


@attrs.frozen(kw_only=True)
class FileHotspot:
    """A file changed in many sessions."""

    path: str
    changes: int
    sessions: int


@attrs.frozen(kw_only=True)
class ProjectUsage:
    """Totals of one project (a session scope: git root or directory)."""

    path: str
    sessions: int
    cost: Decimal
    seconds: int
    files: int
    commits: int
    tokens: int


@attrs.frozen(kw_only=True)
class Insights:
    """File hotspots, a 7x24 heatmap (Monday=0, local hours) and per-project totals."""

    hotspots: list[FileHotspot]
    heatmap: list[list[int]]
    projects: list[ProjectUsage]


@attrs.frozen(kw_only=True)
class Totals:
    """Totals over the sessions started in a window (or all sessions).

    Attributes:
        sessions: sessions counted.
        active: of which still active.
        seconds: summed durations (live for active sessions).
        files: summed distinct files changed per session.
        commits: summed commits.
        cost: priced AI cost.
        tokens: AI tokens.
        calls: AI calls.
        unpriced_calls: calls with no known price (never counted as $0 silently).
    """

    sessions: int
    active: int
    seconds: int
    files: int
    commits: int
    cost: Decimal
    tokens: int
    calls: int
    unpriced_calls: int

    @property
    def avg_seconds(self) -> int:
        return self.seconds // self.sessions if self.sessions else 0

    @property
    def avg_cost(self) -> Decimal:
        return quantize(self.cost / self.sessions) if self.sessions else ZERO


@attrs.frozen(kw_only=True)
class VelocityPoint:
    """Cost velocity of one session."""

    session_id: int
    name: str
    per_hour: Decimal


@attrs.frozen(kw_only=True)
class Overview:
    """The Overview page: totals, daily series, projection, top sessions and cost velocity."""

    totals: Totals
    daily: list[DailyPoint]
    projection: Projection
    top_sessions: list[Session]
    velocity: list[VelocityPoint]


@attrs.frozen(kw_only=True)
class ChangeMark:
    """A cheap fingerprint of the data: it changes whenever anything is recorded."""

    sessions: int
    max_session_id: int
    last_activity: str
    usage_rows: int

    def changed_since(self, other: ChangeMark | None) -> bool:
        return other is None or self != other


@attrs.frozen(kw_only=True)
class ResetCounts:
    """What Start Fresh deleted, per kind."""

    sessions: int = 0
    ai_usage: int = 0
    file_changes: int = 0
    commits: int = 0
    annotations: int = 0
    alert_thresholds: int = 0


@attrs.frozen(kw_only=True)
class Window:
    """A half-open UTC time window [start, end) with its label (a local day, a month...)."""

    start: datetime
    end: datetime
    label: str
