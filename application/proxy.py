"""Proxy use cases: which session a proxied call belongs to, recording it, and the guard hook.

Attribution rule (issue 3): the request's `x-costhq-session` header > the proxy's `--session`
> the most recently active session > the "Background API Session" (created on demand), so no
spend is ever dropped. A named session that does not exist falls through to the next rule.
The background session gets its own pseudo-scope, so it never blocks `cs start` in a real directory.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from costhq.application.errors import Conflict
from costhq.application.ports.clock import Clock
from costhq.application.ports.firewall import FirewallUnitOfWork
from costhq.application.ports.storage import UnitOfWork
from costhq.application.runaway import observe
from costhq.application.usage import EnsureBackgroundSession, LoggedUsage, LogUsage, UsageInput
from costhq.domain.estimates import RequestShape
from costhq.domain.runaway import ActivityEvent, EventKind
from costhq.domain.sessions import Session
from costhq.domain.usage import UsageRecord

BACKGROUND_SCOPE = "(background)"


class AllowAllGuard:
    """RequestGuard that allows everything (used when no spend firewall is wired)."""

    def before(
        self, *, session_id: int, provider: str, model: str, shape: RequestShape, fingerprint: str, client: str,
    ) -> object | None:
        return None

    def settle(self, token: object | None, record: UsageRecord | None) -> None:
        return None


def _existing(uow: UnitOfWork, session_id: int | None) -> Session | None:
    return uow.sessions.get(session_id) if session_id is not None else None


@attrs.frozen
class CurrentProxySession:
    """The session a call would be recorded on now, without creating one (None: background)."""

    uow: Callable[[], UnitOfWork]

    def __call__(self, *, header_session: int | None = None, pinned_session: int | None = None) -> Session | None:
        with self.uow() as uow:
            for sid in (header_session, pinned_session):
                found = _existing(uow, sid)
                if found is not None:
                    return found
            active = uow.sessions.all_active()
        return active[0] if active else None


@attrs.frozen
class ResolveProxySession:
    """The session id to record a proxied call on; creates the background session if needed."""

    current: CurrentProxySession
    background: EnsureBackgroundSession

    def __call__(self, *, header_session: int | None = None, pinned_session: int | None = None) -> int:
        found = self.current(header_session=header_session, pinned_session=pinned_session)
        if found is not None:
            return found.id
        return self.background(scope=BACKGROUND_SCOPE).id


@attrs.frozen
class RecordProxyUsage:
    """Record one proxied call (unknown models stored as unpriced, never dropped).

    Returns None when the call's request id is already recorded: replaying the proxy's spool
    after a crash is therefore idempotent.
    """

    log_usage: LogUsage
    resolve: ResolveProxySession

    def __call__(
        self, *, call: UsageInput, header_session: int | None = None, pinned_session: int | None = None,
        session_id: int | None = None,
    ) -> LoggedUsage | None:
        sid = session_id or self.resolve(header_session=header_session, pinned_session=pinned_session)
        try:
            return self.log_usage(call=call, cwd=".", session_id=sid, allow_unpriced=True)
        except Conflict:
            return None


@attrs.frozen
class ObserveProxyCall:
    """Feed a forwarded request's fingerprint to the runaway detector, after the fact.

    The proxy asks the firewall guard before forwarding only while the firewall is armed (a
    budget rule, runaway blocking, or an open block); otherwise the request goes straight
    through and this records the same observation off the request path, so warnings still fire.
    """

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock

    def __call__(self, *, session_id: int, fingerprint: str, at: datetime) -> None:
        with self.uow() as uow:
            observe(uow, ActivityEvent(session_id=session_id, kind=EventKind.CALL, at=at, key=fingerprint),
                    now=self.clock.now(), actor="proxy")
