"""Ports: Sessions, usage records and activity, and the unit of work that holds them in one transaction."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from costhq.application.ports.firewall import AuditLog
    from costhq.domain.sessions import Annotation, Commit, FileChange, NewSession, Session, Stats
    from costhq.domain.usage import UsageRecord


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
