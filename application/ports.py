"""Ports: what the use cases need from the outside world, as Protocols.

Adapters do not inherit from these; mypy checks conformance where an adapter is
bound to a port-typed field (bootstrap, contract fixtures). Ports speak domain types.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

# Domain types appear only in annotations (strings under `from __future__ import annotations`):
# importing them at runtime would make every use case pay for every domain module (ADR 0003).
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
    from costhq.domain.git import GitHead, Scope, WorkChanges
    from costhq.domain.pricing import CustomPrice, PriceQuote
    from costhq.domain.sessions import Annotation, Commit, FileChange, NewSession, Session, Stats
    from costhq.domain.usage import UsageRecord


class Clock(Protocol):
    """Source of the current aware UTC time."""

    def now(self) -> datetime: ...


class SessionRepository(Protocol):
    """Sessions and their denormalised totals."""

    def add(self, new: NewSession) -> Session: ...
    def get(self, session_id: int) -> Session | None: ...
    def active_in_scope(self, scope: str) -> list[Session]:
        """Active sessions of one scope, most recently active first."""
        ...
    def all_active(self) -> list[Session]:
        """Every active session, most recently active first."""
        ...
    def find_by_name(self, name: str, *, status: str | None = None) -> Session | None: ...
    def end(self, session_id: int, *, end_time: datetime, notes: str | None) -> Session: ...
    def reopen(self, session_id: int, *, at: datetime) -> Session: ...
    def touch(self, session_id: int, at: datetime) -> None: ...
    def recent(self, limit: int) -> list[Session]:
        """Newest first."""
        ...
    def stats(self, now: datetime) -> Stats: ...


class UsageRepository(Protocol):
    """AI usage records; adding one updates the session totals in the same transaction."""

    def add(self, record: UsageRecord) -> UsageRecord: ...
    def add_many(self, records: list[UsageRecord]) -> int:
        """Bulk add (imports): one statement batch, each session's totals bumped once; returns
        how many were added. Request ids must be new (see `known_request_ids`)."""
        ...
    def for_session(self, session_id: int) -> list[UsageRecord]: ...
    def has_request_id(self, request_id: str) -> bool: ...
    def known_request_ids(self, request_ids: list[str]) -> set[str]:
        """The subset of `request_ids` already recorded (one look-up per batch)."""
        ...


class ActivityRepository(Protocol):
    """File changes, commits and annotations of sessions."""

    def add_file_change(self, change: FileChange) -> FileChange | None:
        """Add; returns None when the same (session, path, type) is already recorded."""
        ...
    def add_commit(self, commit: Commit) -> Commit | None:
        """Add; returns None when the hash is already recorded for the session."""
        ...
    def add_annotation(self, note: Annotation) -> Annotation: ...
    def files(self, session_id: int) -> list[FileChange]: ...
    def commits(self, session_id: int) -> list[Commit]: ...
    def annotations(self, session_id: int) -> list[Annotation]: ...


class UnitOfWork(Protocol):
    """One transaction: commits on clean exit, rolls back on exception."""

    sessions: SessionRepository
    usage: UsageRepository
    activity: ActivityRepository
    audit: AuditLog  # issue 4: every state change appends in the same transaction

    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class PriceBook(Protocol):
    """Built-in prices (catalogue) merged with custom overrides."""

    def quote(self, provider: str, model: str, at: datetime | None = None) -> PriceQuote | None:
        """Custom `provider/model`, custom `model`, then the catalogue price in force `at`
        (default now); None when unknown."""
        ...
    def builtin(self, *, provider: str | None = None, search: str | None = None) -> Iterator[PriceQuote]: ...


class CustomPriceStore(Protocol):
    """User overrides (`pricing.json`)."""

    def all(self) -> list[CustomPrice]: ...
    def put(self, price: CustomPrice) -> None: ...
    def remove(self, key: str) -> bool: ...
    def clear(self) -> int: ...


class GitMetadata(Protocol):
    """Read-only view of a git work tree."""

    def scope(self, path: str) -> Scope: ...
    def head(self, root: str) -> GitHead: ...
    def changes_since(self, root: str, start_sha: str | None, *, since: datetime) -> WorkChanges:
        """Commits after `start_sha` (or after `since` on an unborn start) and every path
        changed since then, uncommitted and untracked included."""
        ...


# --- Dashboard (issue 6): read-side aggregates, all computed in storage -------------------------


class DashboardQueries(Protocol):
    """Read-only aggregates for the dashboard and the stats card (SQL in the real adapter).

    Windows are half-open UTC ranges chosen by the caller (local days, months), so storage never
    needs to know the user's timezone.
    """

    def totals(self, *, now: datetime, start: datetime | None = None, end: datetime | None = None) -> Totals:
        """Totals of the sessions started in [start, end) (all sessions when both are None)."""
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


# --- issue 7: agent integrations (imports, reports, today) -------------------------------------

if TYPE_CHECKING:
    from costhq.domain.imports import ImportCursor, ImportedCall, ScanStats
    from costhq.domain.reports import ReportFilter, ReportKind, ReportRow
    from costhq.domain.today import TodayProject, WorkTreeState


class UsageLogScan(Protocol):
    """One streaming pass over agent logs. `stats` and `end_offset` are final once iterated."""

    stats: ScanStats
    end_offset: int

    def __iter__(self) -> Iterator[ImportedCall]: ...


class UsageLogSource(Protocol):
    """Reads an agent's local usage logs (Claude Code, Codex), line by line, never whole files."""

    name: str

    def scan(self, *, paths: list[str] | None = None, since: datetime | None = None) -> UsageLogScan:
        """Every call in the agent's log dirs (or under `paths`), at or after `since`."""
        ...
    def scan_file(self, path: str, *, offset: int = 0) -> UsageLogScan:
        """Calls in one file from byte `offset`; `end_offset` is just past the last complete line."""
        ...


class ImportRepository(Protocol):
    """Import cursors and the session look-ups attribution needs."""

    def cursor(self, path: str) -> ImportCursor | None: ...
    def save_cursor(self, cursor: ImportCursor) -> None: ...
    def covering_session(self, scope: str, at: datetime) -> Session | None:
        """The most recent session of `scope` whose window (start..end, or still active) holds `at`."""
        ...
    def named_session(self, name: str, scope: str) -> Session | None:
        """The newest session called `name` in `scope`."""
        ...


class ReportRepository(Protocol):
    """Read side of reports: aggregates computed by storage (SQL), never row by row in Python."""

    def rows(self, kind: ReportKind, where: ReportFilter) -> list[ReportRow]:
        """Groups for daily/weekly/monthly (keys in `where.timezone`), models or projects, sorted by key."""
        ...
    def hours(self, where: ReportFilter) -> list[ReportRow]:
        """One row per UTC hour with calls (key `YYYY-MM-DDTHH`), for 5-hour blocks."""
        ...
    def last_session(self, scope: str) -> Session | None:
        """The most recently started session of a scope."""
        ...


class TodayRepository(Protocol):
    """Projects registered with `cs today add` (table `today_projects`)."""

    def add(self, project: TodayProject) -> TodayProject:
        """Add, or return the existing registration of the same path."""
        ...
    def remove(self, path: str) -> bool: ...
    def all(self) -> list[TodayProject]: ...


class IntegrationsUnitOfWork(UnitOfWork, Protocol):
    """A UnitOfWork that also offers the issue-7 repositories."""

    imports: ImportRepository
    reports: ReportRepository
    today: TodayRepository


class WorkTreeInspector(Protocol):
    """Observes a project's git state for `cs today`."""

    def state(self, path: str) -> WorkTreeState: ...


# --- issue 4: spend firewall, runaway detection, audit chain ------------------------------------

if TYPE_CHECKING:
    from decimal import Decimal

    from costhq.domain.audit import AuditEntry, AuditEvent
    from costhq.domain.budgets import BudgetRule, NewBudgetRule, SpendFilter
    from costhq.domain.runaway import ActivityEvent, RunawayConfig, Trip, WindowFacts


class AuditLog(Protocol):
    """The append-only audit chain (a unit-of-work repository: appends join its transaction).

    `append` reads the last entry inside the (IMMEDIATE) transaction, so concurrent appends
    from many processes serialize and the chain never forks.
    """

    def append(self, event: AuditEvent) -> AuditEntry: ...
    def head(self) -> AuditEntry | None: ...
    def entries(self, *, after_seq: int = 0, limit: int | None = None) -> Iterator[AuditEntry]:
        """Entries in seq order."""
        ...
    def last(self, n: int) -> list[AuditEntry]:
        """The newest `n` entries, oldest first."""
        ...


class BudgetRepository(Protocol):
    """Budget rules, recorded spend per rule filter, and in-flight reservations."""

    def add(self, rule: NewBudgetRule, *, at: datetime) -> BudgetRule: ...
    def get(self, rule_id: int) -> BudgetRule | None: ...
    def all(self) -> list[BudgetRule]: ...
    def remove(self, rule_id: int) -> bool: ...
    def spent(self, where: SpendFilter) -> Decimal:
        """Recorded (priced) spend matching the filter; calendar bounds are on call time."""
        ...
    def reserved(self, where: SpendFilter, *, now: datetime) -> Decimal:
        """Unexpired reservations matching the filter (calendar bounds on reservation time)."""
        ...
    def standing(self, wheres: list[SpendFilter], *, now: datetime,
                 with_reserved: bool = True) -> list[tuple[Decimal, Decimal]]:
        """(`spent`, `reserved`) of each filter, in one read (reserved 0 without `with_reserved`)."""
        ...
    def reserve(self, *, session_id: int | None, project: str | None, model: str, amount: Decimal,
                at: datetime, expires_at: datetime) -> int:
        """Store a reservation; returns its id."""
        ...
    def release(self, reservation_id: int) -> bool: ...
    def expire(self, now: datetime) -> int:
        """Drop reservations whose expiry has passed; returns how many."""
        ...


class RunawayRepository(Protocol):
    """Recent activity events, trips and the detector configuration."""

    def config(self) -> RunawayConfig: ...
    def save_config(self, config: RunawayConfig) -> None: ...
    def add_event(self, event: ActivityEvent) -> None: ...
    def events(self, session_id: int, *, since: datetime) -> list[ActivityEvent]:
        """Chronological events of a session after `since`."""
        ...
    def window_facts(self, session_id: int, config: RunawayConfig, *, now: datetime) -> WindowFacts:
        """What the detectors read at `now` (domain.runaway.window_facts on the session's events),
        from indexed aggregates: the cost must not grow with the window's event count."""
        ...
    def prune(self, before: datetime) -> int: ...
    def add_trip(self, trip: Trip) -> Trip: ...
    def trips(self, *, session_id: int | None = None, open_at: datetime | None = None) -> list[Trip]:
        """Trips (of a session), newest first; `open_at` keeps those not cleared and not past `until`."""
        ...
    def clear(self, *, session_id: int | None, at: datetime) -> int:
        """Mark open trips (of a session, or all) cleared and forget their events; returns how many."""
        ...


class FirewallUnitOfWork(UnitOfWork, Protocol):
    """A UnitOfWork that also offers the firewall repositories."""

    budgets: BudgetRepository
    runaway: RunawayRepository


# --- issue 3: proxy (Decimal is imported above, by issue 4's block) -------------------------------


class RequestGuard(Protocol):
    """Spend-firewall hook the proxy calls around every forwarded request.

    `before` runs (in a worker thread) before anything reaches upstream; it may raise
    `BudgetExceeded` / `RunawayDetected` to refuse the call, else returns a token (e.g. a
    reservation) that `settle` receives with the call's actual cost when the response ends.
    `fingerprint` is sha256 of model + the canonical JSON body (identical-call detection).
    """

    def before(
        self, *, session_id: int, provider: str, model: str, body_bytes: int,
        max_output_tokens: int | None, fingerprint: str,
    ) -> object | None: ...
    def settle(self, token: object | None, actual_cost: Decimal | None) -> None: ...


# --- issue 8: local models, hardware presets, time-based cost -----------------------------------

if TYPE_CHECKING:
    from costhq.domain.local_models import (
        ComputeSummary,
        HardwarePreset,
        LocalCompute,
        LocalModel,
    )


class LocalRepository(Protocol):
    """Hardware presets, registered local models and the compute side of local calls.

    Fresh storage holds the built-in presets (`BUILTIN_PRESETS`); the user may change or remove them.
    """

    def presets(self) -> list[HardwarePreset]:
        """Every preset, by name."""
        ...
    def preset(self, name: str) -> HardwarePreset | None: ...
    def put_preset(self, preset: HardwarePreset) -> None:
        """Add or replace by name."""
        ...
    def remove_preset(self, name: str) -> bool: ...
    def models(self) -> list[LocalModel]:
        """Every local model, by name."""
        ...
    def model(self, name: str) -> LocalModel | None: ...
    def put_model(self, model: LocalModel) -> None:
        """Add or replace by name."""
        ...
    def remove_model(self, name: str) -> bool: ...
    def models_on(self, preset: str) -> list[str]:
        """Names of the local models billed at `preset`."""
        ...
    def add_compute(self, compute: LocalCompute) -> LocalCompute:
        """Link the compute side to its (already added) usage record, in the same transaction."""
        ...
    def compute_for(self, usage_id: int) -> LocalCompute | None: ...
    def summary(self, where: ReportFilter) -> ComputeSummary:
        """Compute per hardware tier and per model of the calls matching `where` (aggregated in storage)."""
        ...


class LocalUnitOfWork(UnitOfWork, Protocol):
    """A UnitOfWork that also offers the local-models repository."""

    local: LocalRepository
