"""Ports: what the use cases need from the outside world, as Protocols.

Adapters do not inherit from these; mypy checks conformance where an adapter is
bound to a port-typed field (bootstrap, contract fixtures). Ports speak domain types.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

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
    def for_session(self, session_id: int) -> list[UsageRecord]: ...
    def has_request_id(self, request_id: str) -> bool: ...


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
