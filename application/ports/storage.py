"""Ports: Sessions, usage records and activity, and the unit of work that holds them in one transaction."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from costhq.application.ports.firewall import AuditLog
    from costhq.domain.identity import Sighting, StoredIdentities
    from costhq.domain.sessions import Annotation, Commit, FileChange, NewSession, Session, Stats
    from costhq.domain.usage import Origin, UsageRecord


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
    """AI usage records; adding one updates the session totals in the same transaction.

    A record's `call_key` is unique: adding a stored key raises Conflict (the identity rule,
    domain/identity.py, skips replays before they get here). Upstream ids are never unique.
    """

    def add(self, record: UsageRecord) -> UsageRecord: ...
    def add_many(self, records: list[UsageRecord]) -> int:
        """Bulk add (imports): one statement batch, each session's totals bumped once; returns
        how many were added. Call keys must be new."""
        ...
    def get(self, usage_id: int) -> UsageRecord | None: ...
    def for_session(self, session_id: int) -> list[UsageRecord]: ...
    def identities(self, probes: list[Sighting]) -> StoredIdentities:
        """What the identity rule needs to decide `probes`, in one look-up: the stored records
        that share a probe's upstream request id or response id, or that pair with it by
        fingerprint (an id-less import and a record of another origin with the same provider
        and token classes within FINGERPRINT_WINDOW), each with the origins it has absorbed;
        and which probe keys are stored, as a record's own or an absorbed observation's."""
        ...
    def add_alias(self, call_key: str, usage_id: int, origin: Origin) -> None:
        """Record `usage_id` absorbed the observation keyed `call_key` that `origin` made of it."""
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
