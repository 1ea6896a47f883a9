"""Which session a command acts on: the named one, else the active session of the caller's scope.

Its own module so `cs log-ai` (application/usage.py) does not import every session use case
(ADR 0003); `costhq.application.sessions` re-exports it.
"""

from __future__ import annotations

from costhq.application.ports.storage import UnitOfWork
from costhq.domain.errors import NoActiveSession, SessionNotFound
from costhq.domain.git import Scope
from costhq.domain.sessions import Session


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
