"""Session use cases that write: start, end (with git backfill), notes, recover (reads: session_queries)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs

from costhq.application.audit import record
from costhq.application.ports.clock import Clock
from costhq.application.ports.git import GitMetadata
from costhq.application.ports.storage import UnitOfWork

# The read use cases (cs status, show, list, stats) live in session_queries; re-exported here.
from costhq.application.session_queries import GetSession as GetSession
from costhq.application.session_queries import GetStats as GetStats
from costhq.application.session_queries import LatestSession as LatestSession
from costhq.application.session_queries import ListSessions as ListSessions
from costhq.application.session_queries import SessionDetail as SessionDetail
from costhq.application.session_scope import resolve_session as resolve_session  # re-exported
from costhq.domain.errors import InvalidArgument, SessionActive
from costhq.domain.git import Scope
from costhq.domain.sessions import Annotation, Commit, FileChange, NewSession, Session


@attrs.frozen(kw_only=True)
class StartResult:
    """Outcome of `StartSession`."""

    session: Session
    resumed: bool = False
    closed_stale: tuple[int, ...] = ()


@attrs.frozen
class StartSession:
    """Open a session scoped to the git root of `cwd` (cwd itself outside git).

    `resume` returns the scope's active session instead of failing; `close_stale`
    ends the scope's active sessions first (never other scopes: parallel repos are fine).
    """

    uow: Callable[[], UnitOfWork]
    clock: Clock
    git: GitMetadata

    def __call__(self, *, name: str, cwd: str, resume: bool = False, close_stale: bool = False) -> StartResult:
        if not name.strip():
            raise InvalidArgument("Session name must not be empty")
        scope = self.git.scope(cwd)
        head = self.git.head(scope.git_root) if scope.git_root else None
        now = self.clock.now()
        with self.uow() as uow:
            active = uow.sessions.active_in_scope(scope.path)
            if active and resume:
                uow.sessions.touch(active[0].id, now)
                record(uow, "session.resume", actor="cli", at=now, session_id=active[0].id)
                return StartResult(session=active[0], resumed=True)
            if active and not close_stale:
                raise SessionActive(
                    f"Session {active[0].id} ({active[0].name!r}) is already active in {scope.path}; "
                    "use --resume or --close-stale",
                    session_id=active[0].id,
                )
            closed = tuple(uow.sessions.end(s.id, end_time=now, notes=s.notes).id for s in active)
            for sid in closed:
                record(uow, "session.end", actor="cli", at=now, session_id=sid, reason="close_stale")
            session = uow.sessions.add(
                NewSession(
                    name=name.strip(),
                    start_time=now,
                    working_directory=scope.path,
                    git_root=scope.git_root,
                    start_git_head=head.sha if head else None,
                    branch=head.branch if head else None,
                )
            )
            record(uow, "session.start", actor="cli", at=now, session_id=session.id, name=session.name,
                   scope=session.working_directory, git_head=session.start_git_head)
        return StartResult(session=session, closed_stale=closed)


@attrs.frozen
class EndSession:
    """End a session, backfilling files and commits since its start HEAD (working tree included)."""

    uow: Callable[[], UnitOfWork]
    clock: Clock
    git: GitMetadata

    def __call__(self, *, cwd: str, session_id: int | None = None, notes: str | None = None) -> Session:
        scope = self.git.scope(cwd)
        with self.uow() as uow:
            session = resolve_session(uow, scope, session_id)
        if not session.is_active:
            raise InvalidArgument(f"Session {session.id} has already ended", session_id=session.id)
        now = self.clock.now()
        changes = None
        if session.git_root:
            changes = self.git.changes_since(session.git_root, session.start_git_head, since=session.start_time)
        with self.uow() as uow:
            if changes is not None:
                for path in changes.paths:
                    uow.activity.add_file_change(
                        FileChange(session_id=session.id, file_path=path.path,
                                   change_type=path.change_type, timestamp=now)
                    )
                for c in changes.commits:
                    uow.activity.add_commit(
                        Commit(session_id=session.id, hash=c.hash, message=c.message,
                               timestamp=c.timestamp, author=c.author)
                    )
            ended = uow.sessions.end(session.id, end_time=now, notes=notes or session.notes)
            record(uow, "session.end", actor="cli", at=now, session_id=ended.id, ai_cost=ended.ai_cost,
                   files_changed=ended.files_changed, commits=ended.commits)
            return ended


@attrs.frozen
class AddNote:
    """Add a timestamped annotation to a session."""

    uow: Callable[[], UnitOfWork]
    clock: Clock
    git: GitMetadata

    def __call__(self, *, message: str, cwd: str, session_id: int | None = None) -> Annotation:
        if not message.strip():
            raise InvalidArgument("Note message must not be empty")
        scope = self.git.scope(cwd) if session_id is None else Scope(cwd, None)
        now = self.clock.now()
        with self.uow() as uow:
            s = resolve_session(uow, scope, session_id)
            note = uow.activity.add_annotation(Annotation(session_id=s.id, message=message.strip(), timestamp=now))
            uow.sessions.touch(s.id, now)
            record(uow, "note", actor="cli", at=now, session_id=s.id, note_id=note.id, message=note.message)
            return note


@attrs.frozen
class RecoverStale:
    """End every active session older than `max_age_hours` (explicit, user-invoked); 0 ends every
    active session, whatever its start time (the old tool's `recover --max-age 0`)."""

    uow: Callable[[], UnitOfWork]
    clock: Clock

    def __call__(self, *, max_age_hours: float = 24) -> list[Session]:
        if not max_age_hours >= 0:
            raise InvalidArgument("--max-age must be a number of hours >= 0")
        now = self.clock.now()
        with self.uow() as uow:
            stale = [s for s in uow.sessions.all_active()
                     if max_age_hours == 0 or s.is_stale(now, timedelta(hours=max_age_hours))]
            ended = [uow.sessions.end(s.id, end_time=now, notes=s.notes or "Auto-recovered (stale)") for s in stale]
            for s in ended:
                record(uow, "session.end", actor="cli", at=now, session_id=s.id, reason="recover")
            return ended
