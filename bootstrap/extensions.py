"""Shared machinery of the tracked SDK clients: where a call is recorded, and metered streams.

Session choice (spec): an `AgentSession` or a session id given as `session=`; otherwise the
active session of the current directory's scope at the time of the call; otherwise the
automatic "Background API Session". A duplicate request id (the same call also captured by
the proxy) is skipped, never counted twice. Recording errors of our own never break the
caller's API call; they are reported on stderr.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from costhq.application.errors import Conflict
from costhq.application.usage import UsageInput
from costhq.bootstrap.sdk_metering import StreamMeter, request_id_of, response_call
from costhq.domain.errors import BudgetExceeded, CostHQError, NoActiveSession


class Recorder:
    """Records calls for one tracked client (thread-safe; the container is built on first use)."""

    def __init__(self, session: Any = None, container: Any = None) -> None:
        from costhq.bootstrap.agents import AgentSession

        self.agent = session if isinstance(session, AgentSession) else None
        self.session_id = None if self.agent is not None or session is None else int(session)
        self._container = container
        self._lock = threading.Lock()
        # The meter of the stream a helper manager just opened (per thread and per task).
        self.last_meter: contextvars.ContextVar[StreamMeter | None] = contextvars.ContextVar(
            "costhq_last_meter", default=None)

    def container(self) -> Any:
        if self.agent is not None:
            return self.agent._c
        with self._lock:
            if self._container is None:
                from costhq.bootstrap.main import build_container

                self._container = build_container()
            return self._container

    def preflight(self) -> None:
        """Raise BudgetExceededError before sending when the AgentSession's budget is spent."""
        if self.agent is not None:
            self.agent.check_budget()

    def record(self, call: UsageInput | None) -> None:
        if call is None:
            return
        try:
            self._store(call)
        except Conflict:
            pass  # same request id already recorded (e.g. also captured by the proxy)
        except BudgetExceeded:
            pass  # stored, then refused by a firewall rule: the next pre-flight (or the proxy) stops
        except CostHQError as exc:
            sys.stderr.write(f"warning: costhq could not record a {call.provider} call: {exc.message}\n")

    def _store(self, call: UsageInput) -> None:
        if self.agent is not None:
            self.agent.record(call)
            return
        c, cwd = self.container(), os.getcwd()
        log = c.log_usage()
        if self.session_id is not None:
            log(call=call, cwd=cwd, session_id=self.session_id, allow_unpriced=True)
            return
        try:
            log(call=call, cwd=cwd, allow_unpriced=True)
        except NoActiveSession:
            background = c.background_session()(scope=c.git().scope(cwd).path)
            log(call=call, cwd=cwd, session_id=background.id, allow_unpriced=True)

    def meter(self, provider: str, model: str) -> StreamMeter:
        meter = StreamMeter(provider, model, self.record)
        self.last_meter.set(meter)
        return meter

    def finish_last(self, _stream: Any) -> None:
        meter = self.last_meter.get()
        if meter is not None:
            meter.finish(partial=True)  # no-op when the stream already finished

    def respond(self, provider: str, model: str, result: Any, started: float) -> Any:
        self.record(response_call(provider, model, result, started))
        return result


class MeteredStream:
    """Wraps an SDK `Stream`: yields its events unchanged, records usage once at the end or close."""

    def __init__(self, inner: Any, meter: StreamMeter) -> None:
        self._inner, self._meter = inner, meter
        meter.request_id = request_id_of(inner)
        self._it: Iterator[Any] | None = None

    @property
    def response(self) -> Any:
        return self._inner.response

    def __iter__(self) -> Iterator[Any]:
        finished = False
        try:
            for event in self._inner:
                self._meter.see(event)
                yield event
            finished = True
        finally:
            self._meter.finish(partial=not finished)

    def __next__(self) -> Any:
        if self._it is None:
            self._it = iter(self)
        return next(self._it)

    def close(self) -> None:
        self._inner.close()
        self._meter.finish(partial=True)

    def __enter__(self) -> MeteredStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class AsyncMeteredStream:
    """Async twin of MeteredStream; the write runs in a worker thread (SQLite is sync)."""

    def __init__(self, inner: Any, meter: StreamMeter) -> None:
        self._inner, self._meter = inner, meter
        meter.request_id = request_id_of(inner)
        self._it: AsyncIterator[Any] | None = None

    @property
    def response(self) -> Any:
        return self._inner.response

    async def _finish(self, partial: bool) -> None:
        call = self._meter.take(partial=partial)
        if call is not None:
            import anyio.to_thread

            await anyio.to_thread.run_sync(self._meter._record, call)

    async def __aiter__(self) -> AsyncIterator[Any]:
        finished = False
        try:
            async for event in self._inner:
                self._meter.see(event)
                yield event
            finished = True
        finally:
            await self._finish(not finished)

    async def __anext__(self) -> Any:
        if self._it is None:
            self._it = self.__aiter__()
        return await self._it.__anext__()

    async def close(self) -> None:
        await self._inner.close()
        await self._finish(True)

    async def __aenter__(self) -> AsyncMeteredStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ManagerGuard:
    """Wraps an SDK stream-helper manager (`.stream(...)`): on exit, a stream closed early is
    recorded as partial (the helper closes the HTTP response itself, bypassing our iterator)."""

    def __init__(self, inner: Any, on_exit: Callable[[Any], None]) -> None:
        self._inner, self._on_exit = inner, on_exit
        self._stream: Any = None

    def __enter__(self) -> Any:
        self._stream = self._inner.__enter__()
        return self._stream

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self._inner.__exit__(*exc)
        finally:
            self._on_exit(self._stream)

    async def __aenter__(self) -> Any:
        self._stream = await self._inner.__aenter__()
        return self._stream

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self._inner.__aexit__(*exc)
        finally:
            import anyio.to_thread

            await anyio.to_thread.run_sync(self._on_exit, self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def now() -> float:
    return time.monotonic()
