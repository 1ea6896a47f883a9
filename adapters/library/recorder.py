"""Shared machinery of the tracked SDK clients: where a call is recorded, and metered streams.

Session choice (spec): an `AgentSession` or a session id given as `session=`; otherwise
`COSTHQ_SESSION_ID` (set by `cs run` for its child); otherwise the active session of the
current directory's scope at the time of the call; otherwise the automatic "Background API
Session". A call that came through our proxy takes the proxy's key (`x-costhq-call`), so it is
stored once (docs/identity.md). Calls are stored by the background writer (`library_writer`);
recording errors of our own never break the caller's API call, they are reported on stderr.

Pre-flight (issue 14): while a blocking budget rule exists, every call first reserves its
expected cost with the firewall (`FirewallGuard.reserve`, the process's reservation ledger),
so calls still in flight count against the budget, from any thread or task; the reservation is
released once the writer has stored the call (or at once when the API call fails). The async
clients reserve in a worker thread, so a lease renewal never blocks the event loop.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs

from costhq.adapters.library.budget import BudgetExceededError, RefusalMemo
from costhq.adapters.library.sdk_metering import (
    StreamMeter,
    call_identity,
    forget_responses,
    response_call,
)
from costhq.adapters.library.writer import WRITER
from costhq.application.usage import BatchOutcome, QueuedUsage, UsageInput
from costhq.domain.errors import BudgetExceeded
from costhq.domain.estimates import shape_of
from costhq.domain.money import ZERO


class Recorder:
    """Records calls for one tracked client (thread-safe; the container is built on first use).

    Nothing here touches SQLite on the caller's thread: calls go to the background writer.
    """

    def __init__(self, session: Any = None, container: Any = None) -> None:
        from costhq.adapters.library.agents import AgentSession

        if session is None and os.environ.get("COSTHQ_SESSION_ID", "").isdigit():
            session = int(os.environ["COSTHQ_SESSION_ID"])  # a child of `cs run`: that run's session
        self.agent = session if isinstance(session, AgentSession) else None
        self.session_id = None if self.agent is not None or session is None else int(session)
        self._container = container
        self._lock = threading.Lock()
        self._refusals = RefusalMemo()
        # The meter of the stream a helper manager just opened (per thread and per task).
        self.last_meter: contextvars.ContextVar[StreamMeter | None] = contextvars.ContextVar(
            "costhq_last_meter", default=None)

    def container(self) -> Any:
        if self.agent is not None:
            return self.agent._c
        with self._lock:
            if self._container is None:
                from costhq.adapters.library.graph import default_graph

                self._container = default_graph()
            return self._container

    def preflight(self, provider: str, kwargs: dict[str, Any]) -> Any:
        """Before sending: raise BudgetExceededError when the AgentSession's budget is spent, a
        blocking firewall rule refused the last call recorded here and still does, or the call's
        expected cost does not fit (calls in flight included); else return its reservation ticket
        (None when no blocking rule exists), which `record` / `cancel` hand back."""
        forget_responses()  # the response headers noted next are this call's
        if self.agent is not None:
            self.agent.check_budget()
        elif self._refusals.refusal is not None:
            self._refusals.check(self.container())
        c = self.container()
        # Asked before the guard is built: without a blocking rule no call pays for the price book here.
        if not (c.firewall_policy().block_unpriced or c.firewall_probe().blocking_rules()):
            return None
        return self._reserve(c.request_guard(), provider, kwargs)

    async def apreflight(self, provider: str, kwargs: dict[str, Any]) -> Any:
        """`preflight` for the async clients: a lease renewal (a transaction) runs in a worker thread."""
        import anyio

        forget_responses()  # here, in the caller's context: the worker thread's copy would not clear it
        return await anyio.to_thread.run_sync(self.preflight, provider, kwargs)

    def _reserve(self, guard: Any, provider: str, kwargs: dict[str, Any]) -> Any:
        c = self.container()
        sid = self.agent.id if self.agent is not None else self.session_id
        if sid is None:
            sid = c.call_session()(cwd=os.getcwd())
        with self._lock:
            if not getattr(self, "_closing", False):
                self._closing = True
                atexit.register(guard.close)  # give the leases back at exit
        if self.agent is not None:
            self.agent.guards.add(guard)  # its end() gives the session's leases back
        try:
            return guard.reserve(session_id=sid, provider=provider, model=str(kwargs.get("model") or "unknown"),
                                 shape=shape_of(kwargs), client=f"library:{provider}")
        except BudgetExceeded as refusal:
            d = refusal.details
            raise BudgetExceededError(Decimal(d.get("spent", "0")), Decimal(d.get("limit", "0")), ZERO,
                                      f"{refusal.message}: the request was not sent",
                                      **{k: v for k, v in d.items() if k not in ("spent", "limit")}) from None

    def cancel(self, ticket: Any) -> None:
        """The API call failed before any usage: release its reservation now."""
        if ticket is not None:
            self.container().request_guard().settle(ticket, None)

    @contextlib.contextmanager
    def cancelling(self, ticket: Any) -> Iterator[None]:
        """Around the SDK call: if it raises, nothing will be recorded, so release the reservation."""
        try:
            yield
        except BaseException:
            self.cancel(ticket)
            raise

    def _settle(self, ticket: Any, outcome: BatchOutcome) -> None:  # on the writer thread, after the commit
        if ticket is not None:
            self.container().request_guard().settle(ticket, outcome.logged.record if outcome.logged else None)

    def record(self, call: UsageInput | None, ticket: Any = None) -> None:
        """Queue `call` (timestamped now) for the background writer; `ticket` is released once it is stored."""
        if call is None:
            self.cancel(ticket)
            return
        call = attrs.evolve(call, timestamp=call.timestamp or datetime.now(UTC))
        if self.agent is not None:
            self.agent.record(call, after=lambda outcome: self._settle(ticket, outcome))
            return
        # No session named: the active session of the cwd's scope, else the background session.
        item = QueuedUsage(call=call, cwd=os.getcwd(), session_id=self.session_id,
                           background=self.session_id is None)

        def done(outcome: BatchOutcome) -> None:
            self._done(outcome)
            self._settle(ticket, outcome)

        WRITER.submit(self._log_batch, item, done)

    def _log_batch(self) -> Any:  # on the writer thread: the container is built there, not on the caller's
        return self.container().record_usage()

    def _done(self, outcome: BatchOutcome) -> None:
        # A call already recorded (the proxy stored it first) is skipped; errors are reported by the writer.
        verdict = outcome.logged.verdict if outcome.logged is not None else None
        if verdict is not None and verdict.refusal is not None:
            self._refusals.refusal = verdict.refusal  # stored, then refused: the next pre-flight stops

    def meter(self, provider: str, model: str, ticket: Any = None) -> StreamMeter:
        meter = StreamMeter(provider, model, lambda call: self.record(call, ticket))
        self.last_meter.set(meter)
        return meter

    def respond(self, provider: str, model: str, result: Any, started: float, *, stream: bool = False,
                ticket: Any = None) -> Any:
        self.record(response_call(provider, model, result, started, stream=stream), ticket)
        return result


class MeteredStream:
    """Wraps an SDK `Stream`: yields its events unchanged, records usage once at the end or close."""

    def __init__(self, inner: Any, meter: StreamMeter) -> None:
        self._inner, self._meter = inner, meter
        meter.identity = call_identity(inner)
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
        meter.identity = call_identity(inner)
        self._it: AsyncIterator[Any] | None = None

    @property
    def response(self) -> Any:
        return self._inner.response

    async def __aiter__(self) -> AsyncIterator[Any]:
        finished = False
        try:
            async for event in self._inner:
                self._meter.see(event)
                yield event
            finished = True
        finally:
            self._meter.finish(partial=not finished)

    async def __anext__(self) -> Any:
        if self._it is None:
            self._it = self.__aiter__()
        return await self._it.__anext__()

    async def close(self) -> None:
        await self._inner.close()
        self._meter.finish(partial=True)

    async def __aenter__(self) -> AsyncMeteredStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ManagerGuard:
    """Wraps an SDK stream-helper manager (`.stream(...)`): on exit, a stream left early is
    recorded as partial (the helper closes the HTTP response itself, bypassing our iterator).

    The helper calls our tracked `create` while it is entered, which opens a meter: the guard
    takes *that* meter, so nested or interleaved helpers each finish their own. `on_exit`
    replaces this for helpers that do not go through `create` (Anthropic's).
    """

    def __init__(self, inner: Any, recorder: Recorder, on_exit: Callable[[Any], None] | None = None) -> None:
        self._inner, self._recorder, self._on_exit = inner, recorder, on_exit
        self._stream: Any = None
        self._meter: StreamMeter | None = None

    def __enter__(self) -> Any:
        self._recorder.last_meter.set(None)
        self._stream = self._inner.__enter__()
        self._meter = self._recorder.last_meter.get()
        return self._stream

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self._inner.__exit__(*exc)
        finally:
            self._done()

    async def __aenter__(self) -> Any:
        self._recorder.last_meter.set(None)
        self._stream = await self._inner.__aenter__()
        self._meter = self._recorder.last_meter.get()
        return self._stream

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self._inner.__aexit__(*exc)
        finally:
            self._done()

    def _done(self) -> None:
        if self._on_exit is not None:
            self._on_exit(self._stream)
        elif self._meter is not None:
            self._meter.finish(partial=True)  # no-op when the stream already finished

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def now() -> float:
    return time.monotonic()
