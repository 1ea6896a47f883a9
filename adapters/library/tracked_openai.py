"""`TrackedOpenAI` / `AsyncTrackedOpenAI`: the official clients, with every call's usage recorded.

Wrapped at the resource level (subclassed resources behind the client's own properties), never
by monkeypatching: `chat.completions.create`/`.parse`, `responses.create`/`.parse`,
`embeddings.create`, including `stream=True` iterators, the `.stream(...)` helpers (which call
`create` themselves) and non-streamed `with_raw_response` / `with_streaming_response` calls.
Streamed chat completions get `stream_options={"include_usage": True}` unless the caller set
stream_options: OpenAI then sends usage in a last chunk with `choices: []`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import openai
from openai.resources.chat import AsyncChat, Chat
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.embeddings import AsyncEmbeddings, Embeddings
from openai.resources.responses import AsyncResponses, Responses

from costhq.adapters.library.recorder import AsyncMeteredStream, ManagerGuard, MeteredStream, Recorder, now
from costhq.adapters.library.sdk_metering import watch_responses

P = "openai"


def _prepare(kwargs: dict[str, Any], chat: bool) -> dict[str, Any]:
    if chat and kwargs.get("stream") is True and not kwargs.get("stream_options"):
        kwargs = {**kwargs, "stream_options": {"include_usage": True}}
    return kwargs


def _model(kwargs: dict[str, Any]) -> str:
    return str(kwargs.get("model") or "unknown")


def _sync_create(cls: type, chat: bool) -> type:
    class _Tracked(cls):  # type: ignore[misc, valid-type]
        _costhq: Recorder

        def create(self, *args: Any, **kwargs: Any) -> Any:
            ticket = self._costhq.preflight(P, kwargs)
            kwargs, started = _prepare(kwargs, chat), now()
            with self._costhq.cancelling(ticket):
                result = super().create(*args, **kwargs)
            streamed = kwargs.get("stream") is True
            if streamed and isinstance(result, openai.Stream):
                return MeteredStream(result, self._costhq.meter(P, _model(kwargs), ticket))
            return self._costhq.respond(P, _model(kwargs), result, started, stream=streamed, ticket=ticket)

        if hasattr(cls, "parse"):  # structured outputs post by themselves, not through `create`
            def parse(self, *args: Any, **kwargs: Any) -> Any:
                ticket = self._costhq.preflight(P, kwargs)
                started = now()
                with self._costhq.cancelling(ticket):
                    result = super().parse(*args, **kwargs)
                return self._costhq.respond(P, _model(kwargs), result, started, ticket=ticket)

        if hasattr(cls, "stream"):  # the helper calls our `create(stream=True)` when entered
            def stream(self, *args: Any, **kwargs: Any) -> Any:
                return ManagerGuard(super().stream(*args, **kwargs), self._costhq)

    _Tracked.__name__ = f"Tracked{cls.__name__}"
    return _Tracked


def _async_create(cls: type, chat: bool) -> type:
    class _Tracked(cls):  # type: ignore[misc, valid-type]
        _costhq: Recorder

        async def create(self, *args: Any, **kwargs: Any) -> Any:
            ticket = await self._costhq.apreflight(P, kwargs)
            kwargs, started = _prepare(kwargs, chat), now()
            with self._costhq.cancelling(ticket):
                result = await super().create(*args, **kwargs)
            streamed = kwargs.get("stream") is True
            if streamed and isinstance(result, openai.AsyncStream):
                return AsyncMeteredStream(result, self._costhq.meter(P, _model(kwargs), ticket))
            return self._costhq.respond(P, _model(kwargs), result, started, stream=streamed, ticket=ticket)

        if hasattr(cls, "parse"):
            async def parse(self, *args: Any, **kwargs: Any) -> Any:
                ticket = await self._costhq.apreflight(P, kwargs)
                started = now()
                with self._costhq.cancelling(ticket):
                    result = await super().parse(*args, **kwargs)
                return self._costhq.respond(P, _model(kwargs), result, started, ticket=ticket)

        if hasattr(cls, "stream"):
            def stream(self, *args: Any, **kwargs: Any) -> Any:
                return ManagerGuard(super().stream(*args, **kwargs), self._costhq)

    _Tracked.__name__ = f"AsyncTracked{cls.__name__}"
    return _Tracked


_Completions, _AsyncCompletions = _sync_create(Completions, True), _async_create(AsyncCompletions, True)
_Responses, _AsyncResponses = _sync_create(Responses, False), _async_create(AsyncResponses, False)
_Embeddings, _AsyncEmbeddings = _sync_create(Embeddings, False), _async_create(AsyncEmbeddings, False)


def _bind(resource: Any, recorder: Recorder) -> Any:
    resource._costhq = recorder
    return resource


class _TrackedChat(Chat):
    @cached_property
    def completions(self) -> Any:
        return _bind(_Completions(self._client), self._client._costhq)


class _AsyncTrackedChat(AsyncChat):
    @cached_property
    def completions(self) -> Any:
        return _bind(_AsyncCompletions(self._client), self._client._costhq)


class TrackedOpenAI(openai.OpenAI):
    """`openai.OpenAI` that records usage. `session=`: an AgentSession or a session id (optional)."""

    def __init__(self, *args: Any, session: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._costhq = Recorder(session)
        watch_responses(self)

    @cached_property
    def chat(self) -> Any:
        return _TrackedChat(self)

    @cached_property
    def responses(self) -> Any:
        return _bind(_Responses(self), self._costhq)

    @cached_property
    def embeddings(self) -> Any:
        return _bind(_Embeddings(self), self._costhq)


class AsyncTrackedOpenAI(openai.AsyncOpenAI):
    """`openai.AsyncOpenAI` that records usage (writes run in a worker thread)."""

    def __init__(self, *args: Any, session: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._costhq = Recorder(session)
        watch_responses(self)

    @cached_property
    def chat(self) -> Any:
        return _AsyncTrackedChat(self)

    @cached_property
    def responses(self) -> Any:
        return _bind(_AsyncResponses(self), self._costhq)

    @cached_property
    def embeddings(self) -> Any:
        return _bind(_AsyncEmbeddings(self), self._costhq)
