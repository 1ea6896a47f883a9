"""Which session a call or command acts on: the named one, else the active session of the caller's
scope; for a proxied call, the proxy's attribution rule.

Its own module so `cs log-ai` (application/usage.py) does not import every session use case
(ADR 0003); `costhq.application.sessions` re-exports it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from costhq.application.audit import record as audit_record
from costhq.application.ports.storage import UnitOfWork
from costhq.domain.errors import NoActiveSession, SessionNotFound
from costhq.domain.git import Scope
from costhq.domain.sessions import NewSession, Session

if TYPE_CHECKING:
    from costhq.application.usage import QueuedUsage

BACKGROUND_SESSION_NAME = "Background API Session"


def resolve_session(uow: UnitOfWork, scope: Scope, session_id: int | None) -> Session:
    """The named session, else the most recently active session of the scope.

    Raises:
        SessionNotFound: the id does not exist.
        NoActiveSession: no id given and nothing is active in this scope.
    """
    if session_id is not None:
        session = uow.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"Session {session_id} not found", session_id=session_id)
        return session
    active = uow.sessions.active_in_scope(scope.path)
    if not active:
        raise NoActiveSession("No active session")
    return active[0]


PROXY_BACKGROUND_SCOPE = "(background)"


def proxy_session(uow: UnitOfWork, header_session: int | None, pinned_session: int | None) -> Session | None:
    """Where a proxied call goes (issue 3): the request's `x-costhq-session` header > the proxy's
    `--session` > the most recently active session anywhere; None: the background session (in its
    own pseudo-scope `PROXY_BACKGROUND_SCOPE`, so it never blocks `cs start` in a real directory).
    A named session that does not exist falls through to the next rule."""
    for sid in (header_session, pinned_session):
        found = uow.sessions.get(sid) if sid is not None else None
        if found is not None:
            return found
    active = uow.sessions.all_active()
    return active[0] if active else None


def background_session(uow: UnitOfWork, *, scope: str, now: datetime) -> Session:
    """The active background session, created (and audited) in `uow` when there is none."""
    existing = uow.sessions.find_by_name(BACKGROUND_SESSION_NAME, status="active")
    if existing is not None:
        return existing
    session = uow.sessions.add(NewSession(name=BACKGROUND_SESSION_NAME, start_time=now, working_directory=scope))
    audit_record(uow, "session.start", actor="system", at=now, session_id=session.id, name=session.name,
                 scope=scope)
    return session


class CallTargets:
    """The session of each call of a batch (the recording pipeline), resolved once per session id /
    scope / proxy rule: `scopes` holds the git scope of each `cwd` that needs one."""

    def __init__(self, uow: UnitOfWork, scopes: dict[str, Scope], now: datetime) -> None:
        self._uow, self._scopes, self._now = uow, scopes, now
        self._found: dict[tuple[object, ...], Session] = {}

    def session(self, item: QueuedUsage) -> Session:
        scope = None if item.session_id is not None or item.proxied else self._scopes[item.cwd]
        key = (item.session_id, None if scope is None else scope.path, item.background, item.proxied,
               item.header_session, item.pinned_session)
        found = self._found.get(key)
        if found is None:
            found = self._resolve(item, scope)
            self._found[key] = found
        return found

    def _resolve(self, item: QueuedUsage, scope: Scope | None) -> Session:
        if item.proxied and item.session_id is None:
            found = proxy_session(self._uow, item.header_session, item.pinned_session)
            return found or background_session(self._uow, scope=PROXY_BACKGROUND_SCOPE, now=self._now)
        try:
            return resolve_session(self._uow, scope or Scope(item.cwd, None), item.session_id)
        except NoActiveSession:
            if not item.background or scope is None:
                raise
            return background_session(self._uow, scope=scope.path, now=self._now)
