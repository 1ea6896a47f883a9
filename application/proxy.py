"""Proxy use cases: which session a proxied call belongs to, recording it, and the guard hook.

Attribution rule (issue 3, `session_scope.proxy_session`): the request's `x-costhq-session` header
> the proxy's `--session` > the most recently active session > the "Background API Session"
(created on demand), so no spend is ever dropped. A named session that does not exist falls
through to the next rule. The background session gets its own pseudo-scope, so it never blocks
`cs start` in a real directory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import attrs

from costhq.application.ports.storage import UnitOfWork
from costhq.application.session_scope import PROXY_BACKGROUND_SCOPE, proxy_session
from costhq.application.usage import (
    EnsureBackgroundSession,
    LoggedUsage,
    QueuedUsage,
    RecordUsage,
    UsageInput,
)
from costhq.domain.estimates import RequestShape
from costhq.domain.sessions import Session
from costhq.domain.usage import TokenCounts, UsageRecord

BACKGROUND_SCOPE = PROXY_BACKGROUND_SCOPE


class AllowAllGuard:
    """RequestGuard that allows everything (used when no spend firewall is wired)."""

    def before(
        self, *, session_id: int, provider: str, model: str, shape: RequestShape, fingerprint: str, client: str,
    ) -> object | None:
        return None

    def metered(self, token: object | None, tokens: TokenCounts, *, at: datetime, complete: bool) -> None:
        return None

    def settle(self, token: object | None, record: UsageRecord | None) -> None:
        return None


@attrs.frozen
class CurrentProxySession:
    """The session a call would be recorded on now, without creating one (None: background)."""

    uow: Callable[[], UnitOfWork]

    def __call__(self, *, header_session: int | None = None, pinned_session: int | None = None) -> Session | None:
        with self.uow() as uow:
            return proxy_session(uow, header_session, pinned_session)


@attrs.define
class ProxySessionLookup:
    """The id of the session a proxied call goes to now (CurrentProxySession), or None when that is
    the background session and it must be created first (ResolveProxySession does it).

    Answered from memory until `changes()` (a token that changes whenever another connection may
    have committed: SQLite's `PRAGMA data_version`) says storage changed, so the answer is the one
    a fresh read would give: the token is read before the session, and a commit in between only
    costs one more read. `close` gives back what `changes` and `current` keep open.
    """

    current: CurrentProxySession
    changes: Callable[[], object]
    close: Callable[[], None] = lambda: None
    _token: object = attrs.field(default=None, init=False)
    _found: dict[tuple[int | None, int | None], int | None] = attrs.field(factory=dict, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def __call__(self, header_session: int | None, pinned_session: int | None) -> int | None:
        token, key = self.changes(), (header_session, pinned_session)
        with self._lock:
            if token == self._token and key in self._found:
                return self._found[key]
        found = self.current(header_session=header_session, pinned_session=pinned_session)
        sid = None if found is None else found.id
        with self._lock:
            if token != self._token:
                self._token, self._found = token, {}
            self._found[key] = sid
        return sid

    def refresh(self) -> None:
        """Answer again every question asked since the last change (the proxy's writer calls it
        after its commits, so requests do not pay for the re-read)."""
        with self._lock:
            keys = list(self._found) or [(None, None)]
        for header, pinned in keys:
            self(header, pinned)


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
    """Record one proxied call through the recording pipeline (unknown models stored as unpriced,
    never dropped), attributed by the proxy's rule in the same unit of work.

    A replay (the spool recovered after a crash) or a call another path stored first is not stored
    again: the result is then the record that holds it (`identity` REPLAY / SEEN).

    Raises:
        CostHQError: the call could not be stored (it stays in the spool and is retried).
    """

    record: RecordUsage

    def __call__(
        self, *, call: UsageInput, header_session: int | None = None, pinned_session: int | None = None,
        session_id: int | None = None, fingerprint: str | None = None,
    ) -> LoggedUsage | None:
        item = QueuedUsage(call=call, session_id=session_id, proxied=True, header_session=header_session,
                           pinned_session=pinned_session, fingerprint=fingerprint)
        [outcome] = self.record(items=[item], allow_unpriced=True)
        if outcome.error is not None:
            raise outcome.error
        return outcome.logged
