"""In-memory dashboard read side (ports: DashboardQueries, DataReset): the verified fake of
sqlite/queries.py over an InMemoryStore. tests/contract checks both give the same answers."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.memory.store import InMemoryStore, _State
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
    SessionSort,
    Totals,
    Window,
    cost_per_hour,
)
from costhq.domain.audit import AuditEvent
from costhq.domain.money import ZERO, to_units
from costhq.domain.sessions import Dimension, Session, Who
from costhq.domain.team import GroupTotals, TeamFilter
from costhq.domain.usage import UsageRecord


def _sort_key(sort: SessionSort, now: datetime) -> Callable[[Session], Any]:
    keys: dict[SessionSort, Callable[[Session], Any]] = {
        SessionSort.START: lambda s: s.start_time,
        SessionSort.NAME: lambda s: s.name.lower(),
        SessionSort.DURATION: lambda s: s.duration(now),
        SessionSort.COST: lambda s: s.ai_cost,
        SessionSort.COST_PER_HOUR: lambda s: to_units(s.ai_cost) * 3600 // max(s.duration(now), 60),
        SessionSort.TOKENS: lambda s: s.ai_tokens,
        SessionSort.FILES: lambda s: s.files_changed,
        SessionSort.COMMITS: lambda s: s.commits,
    }
    return keys[sort]


def _prompt(u: UsageRecord) -> int:
    return u.tokens.total_input


def _in(ts: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or ts >= start) and (end is None or ts < end)


def _who_keys(s: Session, owner: Who | None) -> dict[Dimension, str]:
    who = s.who(owner)
    return {Dimension.USER: who.user, Dimension.MACHINE: who.machine, Dimension.PROJECT: s.working_directory}


def _totals(rows: list[Session], now: datetime) -> Totals:
    return Totals(
        sessions=len(rows),
        active=sum(s.is_active for s in rows),
        seconds=sum(s.duration(now) for s in rows),
        files=sum(s.files_changed for s in rows),
        commits=sum(s.commits for s in rows),
        cost=sum((s.ai_cost for s in rows), ZERO),
        tokens=sum(s.ai_tokens for s in rows),
        calls=sum(s.ai_calls for s in rows),
        unpriced_calls=sum(s.unpriced_calls for s in rows),
    )


class InMemoryDashboardQueries:
    """DashboardQueries over the committed state of an InMemoryStore."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    def _state(self) -> _State:
        with self._store.lock:
            return self._store.state.copy()

    def totals(self, *, now: datetime, start: datetime | None = None, end: datetime | None = None) -> Totals:
        return self.spend(TeamFilter(start=start, end=end), now=now)[0].totals

    def spend(self, where: TeamFilter, *, now: datetime, by: Dimension | None = None) -> list[GroupTotals]:
        wanted = {Dimension.USER: where.user, Dimension.MACHINE: where.machine, Dimension.PROJECT: where.project}
        picked: dict[str, list[Session]] = defaultdict(list)
        for s in self._state().sessions.values():
            keys = _who_keys(s, where.owner)
            if _in(s.start_time, where.start, where.end) and all(v is None or keys[d] == v for d, v in wanted.items()):
                picked["" if by is None else keys[by]].append(s)
        if by is None:
            return [GroupTotals(key="", totals=_totals(picked[""], now))]
        out = [GroupTotals(key=k, totals=_totals(ss, now)) for k, ss in picked.items()]
        out.sort(key=lambda g: (-g.totals.cost, -g.totals.sessions, g.key))
        return out


    def daily(self, windows: list[Window]) -> list[DailyPoint]:
        st = self._state()
        out = []
        for w in windows:
            calls = [u for u in st.usage if _in(u.timestamp, w.start, w.end)]
            out.append(
                DailyPoint(
                    day=w.start.date(),
                    cost=sum((u.cost or ZERO for u in calls), ZERO),
                    prompt_tokens=sum(_prompt(u) for u in calls),
                    completion_tokens=sum(u.tokens.output for u in calls),
                    calls=len(calls),
                    sessions=sum(_in(s.start_time, w.start, w.end) for s in st.sessions.values()),
                )
            )
        return out

    def top_sessions(self, limit: int) -> list[Session]:
        return sorted(self._state().sessions.values(), key=lambda s: (s.ai_cost, s.id), reverse=True)[:limit]

    def recent_sessions(self, limit: int) -> list[Session]:
        return sorted(self._state().sessions.values(), key=lambda s: (s.start_time, s.id), reverse=True)[:limit]

    def export_rows(self, *, now: datetime, limit: int | None = None) -> list[SessionRow]:
        def ms(t: datetime | None) -> str | None:
            return None if t is None else time_text(t)[:23] + "Z"

        return [(s.id, s.name, s.status.value, ms(s.start_time) or "", ms(s.end_time), s.duration(now),
                 s.working_directory, s.git_root, s.branch, s.files_changed, s.commits, s.ai_tokens,
                 to_units(s.ai_cost), s.ai_calls, s.unpriced_calls, to_units(cost_per_hour(s.ai_cost, s.duration(now))),
                 s.notes) for s in self.recent_sessions(limit or 2**62)]

    def sessions(self, query: SessionQuery, *, now: datetime) -> SessionPage:
        needle = (query.search or "").lower()
        rows = [
            s
            for s in self._state().sessions.values()
            if (not needle or any(needle in (f or "").lower() for f in (s.name, s.working_directory, s.notes)))
            and (query.status is None or s.status.value == query.status)
        ]
        key = _sort_key(query.sort, now)
        rows.sort(key=lambda s: (key(s), s.id), reverse=query.descending)
        return SessionPage(items=rows[query.offset : query.offset + query.per_page], total=len(rows))

    def models(self, *, start: datetime | None = None, end: datetime | None = None) -> list[ModelUsage]:
        groups: dict[tuple[str, str], list[UsageRecord]] = defaultdict(list)
        for u in self._state().usage:
            if _in(u.timestamp, start, end):
                groups[(u.provider, u.effective_model)].append(u)
        out = [
            ModelUsage(
                provider=p,
                model=m,
                calls=len(us),
                cost=sum((u.cost or ZERO for u in us), ZERO),
                prompt_tokens=sum(_prompt(u) for u in us),
                completion_tokens=sum(u.tokens.output for u in us),
                cache_read_tokens=sum(u.tokens.cache_read for u in us),
                cache_write_tokens=sum(u.tokens.cache_write for u in us),
                total_tokens=sum(u.total_tokens for u in us),
                unpriced_calls=sum(u.cost is None for u in us),
            )
            for (p, m), us in groups.items()
        ]
        out.sort(key=lambda m: (-m.cost, -m.calls, m.provider, m.model))
        return out

    def hotspots(self, limit: int) -> list[FileHotspot]:
        files = self._state().files
        changes = Counter(f.file_path for f in files)
        sessions = Counter(p for p, _ in {(f.file_path, f.session_id) for f in files})
        out = [FileHotspot(path=p, changes=n, sessions=sessions[p]) for p, n in changes.items()]
        out.sort(key=lambda h: (-h.sessions, -h.changes, h.path))
        return out[:limit]

    def session_starts_by_hour(self) -> list[tuple[datetime, int]]:
        hours = Counter(
            s.start_time.replace(minute=0, second=0, microsecond=0) for s in self._state().sessions.values()
        )
        return sorted(hours.items())

    def projects(self, *, now: datetime) -> list[ProjectUsage]:
        groups: dict[str, list[Session]] = defaultdict(list)
        for s in self._state().sessions.values():
            groups[s.working_directory].append(s)
        out = [
            ProjectUsage(
                path=p,
                sessions=len(ss),
                cost=sum((s.ai_cost for s in ss), ZERO),
                seconds=sum(s.duration(now) for s in ss),
                files=sum(s.files_changed for s in ss),
                commits=sum(s.commits for s in ss),
                tokens=sum(s.ai_tokens for s in ss),
            )
            for p, ss in groups.items()
        ]
        out.sort(key=lambda p: (-p.cost, -p.sessions, p.path))
        return out

    def mark(self) -> ChangeMark:
        st = self._state()
        last = max((s.last_activity for s in st.sessions.values() if s.last_activity), default=None)
        return ChangeMark(
            sessions=len(st.sessions),
            max_session_id=max(st.sessions, default=0),
            last_activity=last.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if last else "",
            usage_rows=max((u.id or 0 for u in st.usage), default=0),
        )


_RESET_IDS = ("sessions", "usage", "files", "commits", "notes")


class InMemoryDataReset:
    """DataReset over an InMemoryStore (ids restart at 1, like SQLite rowids once a table is empty)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    def clear_all(self, event: AuditEvent | None = None) -> ResetCounts:
        with self._store.lock:
            st = self._store.state
            counts = ResetCounts(
                sessions=len(st.sessions),
                ai_usage=len(st.usage),
                file_changes=len(st.files),
                commits=len(st.commits),
                annotations=len(st.notes),
            )
            # The audit chain, firewall settings and feature tables are not session data: kept.
            kept_ids = {k: v for k, v in st.last_ids.items() if k not in _RESET_IDS}
            fw = attrs.evolve(st.firewall, reservations={}, events=[], trips={})  # session-bound, as in SQL
            if event is not None:
                from costhq.adapters.persistence.memory.firewall import InMemoryAuditLog
                from costhq.adapters.persistence.reset_audit import reset_event

                InMemoryAuditLog(fw).append(reset_event(event, counts))
            self._store.state = _State(last_ids=kept_ids, tables=st.tables, firewall=fw)
        return counts
