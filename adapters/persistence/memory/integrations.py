"""In-memory fakes of the issue-7 repositories (verified against APSW by tests/contract).

They live on the unit of work's working copy (`_State.tables` for cursors and today
projects; sessions and usage for reports), so they commit and roll back with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from costhq.adapters.persistence.converter import normalise_time
from costhq.adapters.persistence.rows import zone
from costhq.domain.imports import ImportCursor
from costhq.domain.money import ZERO, quantize
from costhq.domain.reports import ReportFilter, ReportKind, ReportRow
from costhq.domain.sessions import Dimension, Session
from costhq.domain.today import TodayProject
from costhq.domain.usage import UsageRecord


def attach_integrations(uow: Any, state: Any) -> None:
    """Give an InMemoryUnitOfWork its `imports`, `reports` and `today` repositories."""
    uow.imports = InMemoryImportRepository(state)
    uow.reports = InMemoryReportRepository(state)
    uow.today = InMemoryTodayRepository(state)


def _sessions(state: Any) -> list[Session]:
    return list(state.sessions.values())


class InMemoryImportRepository:
    """ImportRepository over a working copy."""

    def __init__(self, state: Any) -> None:
        self._s = state
        self._cursors: dict[str, ImportCursor] = state.tables.setdefault("import_cursors", {})

    def cursor(self, path: str) -> ImportCursor | None:
        return self._cursors.get(path)

    def save_cursor(self, cursor: ImportCursor) -> None:
        self._cursors[cursor.path] = cursor

    def covering_session(self, scope: str, at: datetime) -> Session | None:
        at = normalise_time(at)
        hits = [s for s in _sessions(self._s) if s.working_directory == scope and s.start_time <= at
                and (s.is_active or (s.end_time is not None and s.end_time >= at)) and s.name != "Imported"]
        return max(hits, key=lambda s: (s.start_time, s.id), default=None)

    def named_session(self, name: str, scope: str) -> Session | None:
        hits = [s for s in _sessions(self._s) if s.name == name and s.working_directory == scope]
        return max(hits, key=lambda s: (s.start_time, s.id), default=None)


def _who(s: Session, where: ReportFilter) -> dict[Dimension, str]:
    who = s.who(where.owner)
    return {Dimension.USER: who.user, Dimension.MACHINE: who.machine, Dimension.PROJECT: s.working_directory}


def _key(kind: ReportKind, u: UsageRecord, s: Session, tz: ZoneInfo, where: ReportFilter) -> str:
    if kind is ReportKind.MODELS:
        return u.effective_model
    if kind is ReportKind.PROJECTS:
        return s.working_directory
    if kind is ReportKind.USERS:
        return _who(s, where)[Dimension.USER]
    if kind is ReportKind.MACHINES:
        return _who(s, where)[Dimension.MACHINE]
    if kind is ReportKind.BLOCKS:
        return u.timestamp.strftime("%Y-%m-%dT%H")
    local = u.timestamp.replace(second=0, microsecond=0).astimezone(tz)
    if kind is ReportKind.DAILY:
        return local.date().isoformat()
    if kind is ReportKind.WEEKLY:
        return (local.date() - timedelta(days=local.weekday())).isoformat()
    return f"{local.year:04d}-{local.month:02d}"


def _keep(u: UsageRecord, s: Session, where: ReportFilter) -> bool:
    return ((where.since is None or u.timestamp >= normalise_time(where.since))
            and (where.until is None or u.timestamp < normalise_time(where.until))
            and (where.project is None or s.working_directory == where.project)
            and (where.model is None or where.model.lower() in u.effective_model.lower())
            and (where.user is None or _who(s, where)[Dimension.USER] == where.user)
            and (where.machine is None or _who(s, where)[Dimension.MACHINE] == where.machine))


class InMemoryReportRepository:
    """ReportRepository over a working copy (grouping in Python stands in for SQL)."""

    def __init__(self, state: Any) -> None:
        self._s = state

    def rows(self, kind: ReportKind, where: ReportFilter, by: Dimension | None = None) -> list[ReportRow]:
        tz = zone(where.timezone)
        groups: dict[tuple[str, str], list[UsageRecord]] = {}
        for u in self._s.usage:
            s = self._s.sessions[u.session_id]
            if _keep(u, s, where):
                group = "" if by is None or kind is ReportKind.BLOCKS else _who(s, where)[by]
                groups.setdefault((_key(kind, u, s, tz, where), group), []).append(u)
        return [_row(k, groups[k], by) for k in sorted(groups)]

    def hours(self, where: ReportFilter) -> list[ReportRow]:
        return self.rows(ReportKind.BLOCKS, where)

    def last_session(self, scope: str) -> Session | None:
        hits = [s for s in _sessions(self._s) if s.working_directory == scope]
        return max(hits, key=lambda s: (s.start_time, s.id), default=None)


def _row(key: tuple[str, str], us: list[UsageRecord], by: Dimension | None) -> ReportRow:
    return ReportRow(
        key=key[0], group=None if by is None else key[1], calls=len(us), input=sum(u.tokens.input for u in us),
        cache_read=sum(u.tokens.cache_read for u in us), cache_write=sum(u.tokens.cache_write for u in us),
        output=sum(u.tokens.output for u in us), reasoning=sum(u.tokens.reasoning for u in us),
        total_tokens=sum(u.total_tokens for u in us),
        cost=quantize(sum((u.cost for u in us if u.cost is not None), ZERO) + Decimal(0)),
        unpriced_calls=sum(u.cost is None for u in us),
        first=min(u.timestamp for u in us), last=max(u.timestamp for u in us))


class InMemoryTodayRepository:
    """TodayRepository over a working copy."""

    def __init__(self, state: Any) -> None:
        self._s = state
        self._rows: dict[str, TodayProject] = state.tables.setdefault("today_projects", {})

    def add(self, project: TodayProject) -> TodayProject:
        if project.path not in self._rows:
            self._rows[project.path] = TodayProject(id=self._s.next_id("today"), path=project.path,
                                                    name=project.name, added_at=normalise_time(project.added_at))
        return self._rows[project.path]

    def remove(self, path: str) -> bool:
        return self._rows.pop(path, None) is not None

    def all(self) -> list[TodayProject]:
        return sorted(self._rows.values(), key=lambda p: p.id or 0)
