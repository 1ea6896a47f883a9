"""`costhq.wrappers`: functional wrappers for a client you already configured.

    response = tracked_gpt(openai_client, model="gpt-4o", messages=[...])
    message = tracked_claude(anthropic_client, model="claude-sonnet-4-5", max_tokens=512, messages=[...])

Each call goes through the same tracked resources as `TrackedOpenAI` / `TrackedAnthropic`
(budget pre-flight, streaming, session choice); `session=` is optional. The client itself is
left untouched: the recorder is kept beside it, in a weak map, so its container is built once.
"""

from __future__ import annotations

import weakref
from typing import Any

from costhq.adapters.library.recorder import Recorder
from costhq.adapters.library.sdk_metering import watch_responses

_RECORDERS: weakref.WeakKeyDictionary[Any, dict[Any, Recorder]] = weakref.WeakKeyDictionary()


def _recorder(client: Any, session: Any) -> Recorder:
    watch_responses(client)
    per_client = _RECORDERS.setdefault(client, {})
    key = id(session) if session is not None and not isinstance(session, int) else session
    if key not in per_client:
        per_client[key] = Recorder(session)
    return per_client[key]


def _resource(cls: type, client: Any, session: Any) -> Any:
    resource = cls(client)
    resource._costhq = _recorder(client, session)
    return resource


def _is_async(client: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(getattr(client, "post", None))


def tracked_gpt(client: Any, *, session: Any = None, **kwargs: Any) -> Any:
    """`client.chat.completions.create(**kwargs)` with its usage recorded.

    Given an `openai.AsyncOpenAI`, returns the awaitable of `tracked_gpt_async` (`await tracked_gpt(...)`).
    A client that is already tracked records the call itself (never twice).
    """
    from costhq.adapters.library.tracked_openai import AsyncTrackedOpenAI, TrackedOpenAI, _Completions

    if isinstance(client, TrackedOpenAI | AsyncTrackedOpenAI) and session is None:
        return client.chat.completions.create(**kwargs)
    if _is_async(client):
        return tracked_gpt_async(client, session=session, **kwargs)
    return _resource(_Completions, client, session).create(**kwargs)


async def tracked_gpt_async(client: Any, *, session: Any = None, **kwargs: Any) -> Any:
    """Async twin of `tracked_gpt` for an `openai.AsyncOpenAI` client."""
    from costhq.adapters.library.tracked_openai import AsyncTrackedOpenAI, _AsyncCompletions

    if isinstance(client, AsyncTrackedOpenAI) and session is None:
        return await client.chat.completions.create(**kwargs)
    return await _resource(_AsyncCompletions, client, session).create(**kwargs)


def tracked_claude(client: Any, *, session: Any = None, **kwargs: Any) -> Any:
    """`client.messages.create(**kwargs)` with its usage recorded (an awaitable for `AsyncAnthropic`)."""
    from costhq.adapters.library.tracked_anthropic import AsyncTrackedAnthropic, TrackedAnthropic, _TrackedMessages

    if isinstance(client, TrackedAnthropic | AsyncTrackedAnthropic) and session is None:
        return client.messages.create(**kwargs)
    if _is_async(client):
        return tracked_claude_async(client, session=session, **kwargs)
    return _resource(_TrackedMessages, client, session).create(**kwargs)


async def tracked_claude_async(client: Any, *, session: Any = None, **kwargs: Any) -> Any:
    """Async twin of `tracked_claude` for an `anthropic.AsyncAnthropic` client."""
    from costhq.adapters.library.tracked_anthropic import AsyncTrackedAnthropic, _AsyncTrackedMessages

    if isinstance(client, AsyncTrackedAnthropic) and session is None:
        return await client.messages.create(**kwargs)
    return await _resource(_AsyncTrackedMessages, client, session).create(**kwargs)
