"""`TrackedAnthropic` / `AsyncTrackedAnthropic`: the official clients, with every call's usage recorded.

`messages.create` (plain, `stream=True`, non-streamed raw responses), `messages.parse` and the
`messages.stream(...)` helper are wrapped at the resource level. The helper posts by itself
(not through `create`), so its usage is read from the helper's own accumulated message
snapshot when its context exits; a snapshot without a stop reason means the stream was left
early (recorded as partial).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import anthropic
from anthropic.resources.messages import AsyncMessages, Messages

from costhq.adapters.library.recorder import AsyncMeteredStream, ManagerGuard, MeteredStream, Recorder, now
from costhq.adapters.library.sdk_metering import anthropic_tokens, call_identity, watch_responses
from costhq.application.usage import UsageInput
from costhq.domain.usage import Origin

P = "anthropic"


def _model(kwargs: dict[str, Any]) -> str:
    return str(kwargs.get("model") or "unknown")


def _snapshot_call(model: str, stream: Any, started: float) -> UsageInput | None:
    if stream is None:
        return None
    try:
        snap = stream.current_message_snapshot
    except (AssertionError, AttributeError, RuntimeError):  # no message_start was received
        snap = None
    tokens = anthropic_tokens(getattr(snap, "usage", None))
    partial = snap is None or getattr(snap, "stop_reason", None) is None
    if tokens is None:
        from costhq.domain.usage import TokenCounts

        tokens = TokenCounts()
    key, rid = call_identity(stream)
    msg_id = getattr(snap, "id", None)
    return UsageInput(provider=P, model=model, served_model=getattr(snap, "model", None), tokens=tokens,
                      origin=Origin.LIBRARY, call_key=key, upstream_request_id=rid,
                      response_id=msg_id if isinstance(msg_id, str) else None, stream=True, partial=partial,
                      error=tokens.is_empty, duration_ms=int((now() - started) * 1000))


class _TrackedMessages(Messages):
    _costhq: Recorder

    def create(self, *args: Any, **kwargs: Any) -> Any:
        ticket = self._costhq.preflight(P, kwargs)
        started = now()
        with self._costhq.cancelling(ticket):
            result = super().create(*args, **kwargs)
        streamed = kwargs.get("stream") is True
        if streamed and isinstance(result, anthropic.Stream):
            return MeteredStream(result, self._costhq.meter(P, _model(kwargs), ticket))
        return self._costhq.respond(P, _model(kwargs), result, started, stream=streamed, ticket=ticket)

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        ticket = self._costhq.preflight(P, kwargs)
        started = now()
        with self._costhq.cancelling(ticket):
            result = super().parse(*args, **kwargs)
        return self._costhq.respond(P, _model(kwargs), result, started, ticket=ticket)

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        ticket = self._costhq.preflight(P, kwargs)
        started, rec = now(), self._costhq
        return ManagerGuard(super().stream(*args, **kwargs), rec,
                            lambda s: rec.record(_snapshot_call(_model(kwargs), s, started), ticket))


class _AsyncTrackedMessages(AsyncMessages):
    _costhq: Recorder

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        ticket = await self._costhq.apreflight(P, kwargs)
        started = now()
        with self._costhq.cancelling(ticket):
            result = await super().create(*args, **kwargs)
        streamed = kwargs.get("stream") is True
        if streamed and isinstance(result, anthropic.AsyncStream):
            return AsyncMeteredStream(result, self._costhq.meter(P, _model(kwargs), ticket))
        return self._costhq.respond(P, _model(kwargs), result, started, stream=streamed, ticket=ticket)

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        ticket = await self._costhq.apreflight(P, kwargs)
        started = now()
        with self._costhq.cancelling(ticket):
            result = await super().parse(*args, **kwargs)
        return self._costhq.respond(P, _model(kwargs), result, started, ticket=ticket)

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        # The async helper is entered later; its pre-flight (a lease renewal at most) runs here, sync.
        ticket = self._costhq.preflight(P, kwargs)
        started, rec = now(), self._costhq
        return ManagerGuard(super().stream(*args, **kwargs), rec,
                            lambda s: rec.record(_snapshot_call(_model(kwargs), s, started), ticket))


class TrackedAnthropic(anthropic.Anthropic):
    """`anthropic.Anthropic` that records usage. `session=`: an AgentSession or a session id (optional)."""

    def __init__(self, *args: Any, session: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._costhq = Recorder(session)
        watch_responses(self)

    @cached_property
    def messages(self) -> Any:
        resource = _TrackedMessages(self)
        resource._costhq = self._costhq
        return resource


class AsyncTrackedAnthropic(anthropic.AsyncAnthropic):
    """`anthropic.AsyncAnthropic` that records usage (writes run in a worker thread)."""

    def __init__(self, *args: Any, session: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._costhq = Recorder(session)
        watch_responses(self)

    @cached_property
    def messages(self) -> Any:
        resource = _AsyncTrackedMessages(self)
        resource._costhq = self._costhq
        return resource
