"""Ports: Agent integrations: transcript sources, imports, reports and `cs today`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from costhq.application.ports.storage import UnitOfWork

if TYPE_CHECKING:
    from costhq.domain.imports import ImportCursor, ImportedCall, ScanStats
    from costhq.domain.reports import ReportFilter, ReportKind, ReportRow
    from costhq.domain.sessions import Dimension, Session
    from costhq.domain.today import TodayProject


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

    def rows(self, kind: ReportKind, where: ReportFilter, by: Dimension | None = None) -> list[ReportRow]:
        """Groups for daily/weekly/monthly (keys in `where.timezone`), models, projects, users or machines,
        sorted by key; with `by`, each split by user, machine or project (`group`), sorted by key then group.
        A session without user and machine counts as `where.owner`'s (issue 16)."""
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
