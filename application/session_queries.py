"""Session read use cases: status, show, list, stats (no writes).

Apart from `application/sessions.py` (start, end, notes, recover) so `cs status` imports the
reads only (ADR 0003); that module re-exports these names.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.git import GitMetadata
from costhq.application.ports.storage import UnitOfWork
from costhq.application.session_scope import resolve_session
from costhq.domain.errors import InvalidArgument, SessionNotFound
from costhq.domain.git import Scope
from costhq.domain.sessions import Annotation, Commit, FileChange, Session, Stats
from costhq.domain.usage import UsageRecord


@attrs.frozen(kw_only=True)
class SessionDetail:
    """A session with everything recorded in it."""

    session: Session
    files: list[FileChange]
    commits: list[Commit]
    usage: list[UsageRecord]
    annotations: list[Annotation]


@attrs.frozen
class GetSession:
    """Read one session (by id, else the scope's active one), optionally with its records."""

    uow: Callable[[], UnitOfWork]
    git: GitMetadata

    def __call__(self, *, cwd: str, session_id: int | None = None, detail: bool = False) -> SessionDetail:
        scope = self.git.scope(cwd) if session_id is None else Scope(cwd, None)
        with self.uow() as uow:
            s = resolve_session(uow, scope, session_id)
            if not detail:
                return SessionDetail(session=s, files=[], commits=[], usage=[], annotations=[])
            return SessionDetail(
                session=s,
                files=uow.activity.files(s.id),
                commits=uow.activity.commits(s.id),
                usage=uow.usage.for_session(s.id),
                annotations=uow.activity.annotations(s.id),
            )


@attrs.frozen
class LatestSession:
    """The scope's active session, else the most recent session anywhere (`cs show` with no id)."""

    uow: Callable[[], UnitOfWork]
    git: GitMetadata

    def __call__(self, *, cwd: str) -> int:
        scope = self.git.scope(cwd)
        with self.uow() as uow:
            active = uow.sessions.active_in_scope(scope.path)
            if active:
                return active[0].id
            recent = uow.sessions.recent(1)
        if not recent:
            raise SessionNotFound("No sessions recorded yet")
        return recent[0].id


@attrs.frozen
class ListSessions:
    """Most recent sessions first."""

    uow: Callable[[], UnitOfWork]

    def __call__(self, *, limit: int = 10) -> list[Session]:
        if limit < 1:
            raise InvalidArgument("limit must be a positive integer")
        with self.uow() as uow:
            return uow.sessions.recent(limit)


@attrs.frozen
class GetStats:
    """Totals across all sessions (aggregated in storage)."""

    uow: Callable[[], UnitOfWork]
    clock: Clock

    def __call__(self) -> Stats:
        with self.uow() as uow:
            return uow.sessions.stats(self.clock.now())
