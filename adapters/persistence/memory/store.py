"""In-memory unit of work (port: UnitOfWork): the verified fake of ApswUnitOfWork.

`InMemoryStore` holds committed state. A unit of work takes the store's lock on enter (like
SQLite's IMMEDIATE write lock), works on a copy, and publishes it only on a clean exit, so an
exception rolls everything back. Records go through the same normalisation as storage
(UTC times at microsecond precision, costs quantized to 1e-10 USD). tests/contract checks
that it behaves like the APSW adapter.
"""

from __future__ import annotations

import threading
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import attrs

from costhq.adapters.persistence.converter import normalise_time, normalise_usage
from costhq.adapters.persistence.memory.firewall import (
    FirewallState,
    InMemoryAuditLog,
    InMemoryBudgetRepository,
    InMemoryRunawayRepository,
)
from costhq.application.errors import Conflict, StorageBusy
from costhq.domain.errors import SessionNotFound
from costhq.domain.identity import FINGERPRINT_WINDOW, Known, Sighting, StoredIdentities, sighting_of
from costhq.domain.money import ZERO, quantize
from costhq.domain.sessions import Annotation, Commit, FileChange, NewSession, Session, SessionStatus, Stats
from costhq.domain.usage import Origin, UsageRecord


@attrs.define
class _State:
    sessions: dict[int, Session] = attrs.Factory(dict)
    usage: list[UsageRecord] = attrs.Factory(list)
    files: list[FileChange] = attrs.Factory(list)
    commits: list[Commit] = attrs.Factory(list)
    notes: list[Annotation] = attrs.Factory(list)
    last_ids: dict[str, int] = attrs.Factory(dict)  # per table, like SQLite rowids (max + 1)
    tables: dict[str, dict[Any, Any]] = attrs.Factory(dict)  # feature tables (issue 7: cursors, today)
    firewall: FirewallState = attrs.Factory(FirewallState)  # issue 4: audit, budgets, runaway
    aliases: dict[str, tuple[int, Origin]] = attrs.Factory(dict)  # issue 17: absorbed observations

    def copy(self) -> _State:
        # Entities are frozen, so copying the containers is a full snapshot.
        return _State(dict(self.sessions), list(self.usage), list(self.files), list(self.commits),
                      list(self.notes), dict(self.last_ids), {k: dict(v) for k, v in self.tables.items()},
                      self.firewall.copy(), dict(self.aliases))

    def next_id(self, table: str) -> int:
        self.last_ids[table] = self.last_ids.get(table, 0) + 1
        return self.last_ids[table]

    def session(self, session_id: int) -> Session:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise SessionNotFound(f"Session {session_id} not found", session_id=session_id) from None

    def bump(self, session_id: int, at: datetime, **changes: object) -> None:
        s = self.session(session_id)
        last = max(s.last_activity, at) if s.last_activity else at
        self.sessions[session_id] = attrs.evolve(s, last_activity=last, **changes)  # type: ignore[arg-type]


class InMemoryStore:
    """Committed state shared by every InMemoryUnitOfWork made on it (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.state = _State()
        self.owner: int | None = None
        self.audit_key: bytes | None = None  # issue 4: HMAC key of the audit chain


class InMemoryUnitOfWork:
    """UnitOfWork over an InMemoryStore: commit on clean exit, rollback on exception."""

    def __init__(self, store: InMemoryStore, *, user: str | None = None, machine: str | None = None) -> None:
        self._store = store
        self._user, self._machine = user, machine  # issue 16: stamped on the sessions it creates

    def __enter__(self) -> Self:
        store = self._store
        store.lock.acquire()
        if store.owner is not None:
            store.lock.release()
            # A second connection in the same thread would wait on SQLite's write lock, then fail.
            raise StorageBusy("The database is busy: nested unit of work in one thread")
        store.owner = threading.get_ident()
        self._state = store.state.copy()
        self.sessions = InMemorySessionRepository(self._state, user=self._user, machine=self._machine)
        self.usage = InMemoryUsageRepository(self._state)
        self.activity = InMemoryActivityRepository(self._state)
        # issue 7: agent integrations
        from costhq.adapters.persistence.memory.integrations import attach_integrations

        attach_integrations(self, self._state)
        from costhq.adapters.persistence.memory.local import InMemoryLocalRepository  # issue 8: local models

        self.local = InMemoryLocalRepository(self._state)
        # issue 4: firewall repositories share the working copy, so they commit/roll back with it
        self.audit = InMemoryAuditLog(self._state.firewall, store.audit_key, self._state)
        self.budgets = InMemoryBudgetRepository(self._state.firewall, self._state)
        self.runaway = InMemoryRunawayRepository(self._state.firewall)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        store = self._store
        try:
            if exc_type is None:
                store.state = self._state
        finally:
            store.owner = None
            store.lock.release()


_R = TypeVar("_R", UsageRecord, FileChange, Commit, Annotation)


def _chronological(rows: list[_R], session_id: int) -> list[_R]:
    return sorted((r for r in rows if r.session_id == session_id), key=lambda r: (r.timestamp, r.id or 0))


def _by_activity(sessions: list[Session]) -> list[Session]:
    return sorted(sessions, key=lambda s: (s.last_activity or s.start_time, s.id), reverse=True)


class InMemorySessionRepository:
    """SessionRepository over a unit of work's working copy."""

    def __init__(self, state: _State, *, user: str | None = None, machine: str | None = None) -> None:
        self._s = state
        self._user, self._machine = user, machine

    def add(self, new: NewSession) -> Session:
        start = normalise_time(new.start_time)
        session = Session(
            id=self._s.next_id("sessions"), name=new.name, status=SessionStatus.ACTIVE, start_time=start,
            working_directory=new.working_directory, git_root=new.git_root,
            start_git_head=new.start_git_head, branch=new.branch, ai_cost=quantize(ZERO), last_activity=start,
            user=self._user, machine=self._machine,
        )
        self._s.sessions[session.id] = session
        return session

    def get(self, session_id: int) -> Session | None:
        return self._s.sessions.get(session_id)

    def active_in_scope(self, scope: str) -> list[Session]:
        return _by_activity([s for s in self.all_active() if s.working_directory == scope])

    def all_active(self) -> list[Session]:
        return _by_activity([s for s in self._s.sessions.values() if s.is_active])

    def find_by_name(self, name: str, *, status: str | None = None) -> Session | None:
        found = [s for s in self._s.sessions.values()
                 if s.name == name and (status is None or s.status.value == status)]
        return max(found, key=lambda s: (s.start_time, s.id), default=None)

    def end(self, session_id: int, *, end_time: datetime, notes: str | None) -> Session:
        s = attrs.evolve(self._s.session(session_id), status=SessionStatus.COMPLETED,
                         end_time=normalise_time(end_time), notes=notes)
        self._s.sessions[session_id] = s
        return s

    def reopen(self, session_id: int, *, at: datetime) -> Session:
        self._s.bump(session_id, normalise_time(at), status=SessionStatus.ACTIVE, end_time=None)
        return self._s.sessions[session_id]

    def touch(self, session_id: int, at: datetime) -> None:
        self._s.bump(session_id, normalise_time(at))

    def recent(self, limit: int) -> list[Session]:
        return sorted(self._s.sessions.values(), key=lambda s: (s.start_time, s.id), reverse=True)[:limit]

    def stats(self, now: datetime) -> Stats:
        now = normalise_time(now)
        rows = list(self._s.sessions.values())
        return Stats(
            total_sessions=len(rows),
            active_sessions=sum(s.is_active for s in rows),
            total_seconds=sum(s.duration(now) for s in rows),
            files_changed=sum(s.files_changed for s in rows),
            commits=sum(s.commits for s in rows),
            ai_cost=quantize(sum((s.ai_cost for s in rows), ZERO)),
            ai_tokens=sum(s.ai_tokens for s in rows),
            ai_calls=sum(s.ai_calls for s in rows),
            unpriced_calls=sum(s.unpriced_calls for s in rows),
        )


class InMemoryUsageRepository:
    """UsageRepository over a unit of work's working copy; call keys are unique."""

    def __init__(self, state: _State) -> None:
        self._s = state

    def add(self, record: UsageRecord) -> UsageRecord:
        s = self._s.session(record.session_id)
        if record.call_key is not None and any(u.call_key == record.call_key for u in self._s.usage):
            raise Conflict(f"Conflicting write: call key {record.call_key!r} is already recorded")
        stored = normalise_usage(attrs.evolve(record, id=self._s.next_id("usage")))
        self._s.usage.append(stored)
        self._s.bump(
            s.id, stored.timestamp,
            ai_cost=s.ai_cost + (stored.cost or ZERO), ai_tokens=s.ai_tokens + stored.total_tokens,
            ai_calls=s.ai_calls + 1, unpriced_calls=s.unpriced_calls + (stored.cost is None),
        )
        return stored

    def get(self, usage_id: int) -> UsageRecord | None:
        return next((u for u in self._s.usage if u.id == usage_id), None)

    def for_session(self, session_id: int) -> list[UsageRecord]:
        return _chronological(self._s.usage, session_id)

    def add_many(self, records: list[UsageRecord]) -> int:
        for record in records:
            self.add(record)
        return len(records)

    def identities(self, probes: list[Sighting]) -> StoredIdentities:
        keys = {p.call_key for p in probes if p.call_key}
        found = {u.call_key: u.id for u in self._s.usage if u.call_key in keys and u.id is not None}
        found |= {k: uid for k, (uid, _origin) in self._s.aliases.items() if k in keys}
        known = [Known(usage_id=u.id, sighting=sighting_of(u), claimed=frozenset(
                     o for uid, o in self._s.aliases.values() if uid == u.id))
                 for u in self._s.usage if any(_candidate(p, u) for p in probes)]
        return StoredIdentities(known=known, keys=found)

    def add_alias(self, call_key: str, usage_id: int, origin: Origin) -> None:
        if call_key in self._s.aliases:
            raise Conflict(f"Conflicting write: call key {call_key!r} is already an alias")
        if self.get(usage_id) is None:
            raise Conflict(f"Conflicting write: no usage record {usage_id}")  # SQLite: FOREIGN KEY constraint
        self._s.aliases[call_key] = (usage_id, origin)


def _candidate(p: Sighting, u: UsageRecord) -> bool:
    """What the SQL candidate query selects for probe `p` (a superset of `same_call`)."""
    if p.upstream_request_id is not None and u.upstream_request_id == p.upstream_request_id:
        return True
    if p.response_id is not None and u.response_id == p.response_id:
        return True
    if p.tokens.is_empty or p.timestamp is None or u.provider != p.provider or u.tokens != p.tokens:
        return False
    if abs(u.timestamp - normalise_time(p.timestamp)) > FINGERPRINT_WINDOW:
        return False
    if p.idless_import:
        return sighting_of(u).capture
    return p.capture and sighting_of(u).idless_import


class InMemoryActivityRepository:
    """ActivityRepository over a unit of work's working copy; duplicates are skipped."""

    def __init__(self, state: _State) -> None:
        self._s = state

    def add_file_change(self, change: FileChange) -> FileChange | None:
        s = self._s.session(change.session_id)
        key = (change.file_path, change.change_type)
        mine = [f for f in self._s.files if f.session_id == s.id]
        if any((f.file_path, f.change_type) == key for f in mine):
            return None
        stored = attrs.evolve(change, id=self._s.next_id("files"),
                              timestamp=normalise_time(change.timestamp))
        self._s.files.append(stored)
        paths = {f.file_path for f in mine} | {stored.file_path}
        self._s.bump(s.id, stored.timestamp, files_changed=len(paths))
        return stored

    def add_commit(self, commit: Commit) -> Commit | None:
        s = self._s.session(commit.session_id)
        if any(c.session_id == s.id and c.hash == commit.hash for c in self._s.commits):
            return None
        stored = attrs.evolve(commit, id=self._s.next_id("commits"),
                              timestamp=normalise_time(commit.timestamp))
        self._s.commits.append(stored)
        self._s.bump(s.id, stored.timestamp, commits=s.commits + 1)
        return stored

    def add_annotation(self, note: Annotation) -> Annotation:
        self._s.session(note.session_id)
        stored = attrs.evolve(note, id=self._s.next_id("notes"), timestamp=normalise_time(note.timestamp))
        self._s.notes.append(stored)
        return stored

    def files(self, session_id: int) -> list[FileChange]:
        return _chronological(self._s.files, session_id)

    def commits(self, session_id: int) -> list[Commit]:
        return _chronological(self._s.commits, session_id)

    def annotations(self, session_id: int) -> list[Annotation]:
        return _chronological(self._s.notes, session_id)
