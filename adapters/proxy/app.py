"""The proxy's ASGI app: `/health`, the forwarding routes, the loopback guard and the lifespan.

Loopback only: the server binds 127.0.0.1 and, in depth, any non-loopback peer gets 403 before
routing. The peer address decides, never a header: uvicorn's `X-Forwarded-For` rewriting is off
(server.py), so a loopback client sending that header is still a loopback client. Forwarded
requests go from `ProxyApp` straight to the Forwarder (no routing or middleware layers per
request, ADR 0009); `/health`, `/local/...` and the lifespan go through Starlette.
The lifespan starts the usage writer (replaying a crashed run's spool first) and, on shutdown
(after uvicorn has finished the in-flight streams), drains it and closes the client.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anyio
import attrs
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from costhq.adapters.proxy.converter import make_converter
from costhq.adapters.proxy.errors import error_response
from costhq.adapters.proxy.forward import Forwarder, RequestCounts
from costhq.adapters.proxy.routing import make_routes
from costhq.adapters.proxy.spool import PendingUsage, UsageWriter
from costhq.domain.errors import CostHQError
from costhq.domain.money import as_json_number
from costhq.domain.sessions import Session

log = logging.getLogger("costhq.proxy")
BODY_CAP = 10 * 1024 * 1024


@attrs.frozen(kw_only=True)
class ProxyDeps:
    """What the proxy needs from the composition root (use cases as plain callables).

    Attributes:
        record: records one PendingUsage (sync; runs on the writer thread), returns the cost.
        current_session: `(pinned_id) -> Session | None` for /health (sync).
        resolve_session: `(header_id, pinned_id) -> session id` (sync; used only with a guard).
        find_session: `(header_id, pinned_id) -> session id | None`, asked on the event loop, so it
            must be cheap and never block: None when the session must be created (then
            `resolve_session` runs in a thread). None (the field): every guarded request takes the thread.
        guard: a RequestGuard; an `AllowAllGuard` skips the per-request thread hop entirely.
        upstreams: provider -> base URL (local configuration only).
        spool_dir: where the write-ahead spool lives (the data dir).
        port: advertised in /health.
        pinned_session: `--session`, if any.
        find_local: `(name) -> LocalModel | None` behind `/local/<name>/...` (None: no local route).
        armed: `() -> bool`, asked on the event loop for every request, so it must be cheap and never
            block: False means no firewall rule can refuse or reserve, and the guard is skipped.
        batch: context manager the usage writer records each group of calls in (one transaction).
        recorder: `(build, storage, settings)`, module-level callables: with a real `batch` a child
            process records, its `(record, batch, ...)` being `storage(build(settings))` (ADR 0009).
        version: the CostHQ version.
        hold_reads: a `DataVersion`-like object whose `held()` block reads the storage's change
            token once for the event loop's guard checks of one request (None: each reads its own).
        prepare: `() -> None`, run once before the proxy accepts: loads what the first call would
            (the price catalogue, the request path's caches), so no call pays for it.
        warm: `() -> None`, run on the writer thread after each commit of usage: re-reads the request
            path's caches (arming, session look-up, firewall probe) that the commit made stale, so the
            next request answers from memory (issue 15). Must be thread-safe. None: nothing to warm.
    """

    record: Callable[[PendingUsage], Any]
    current_session: Callable[[int | None], Session | None]
    resolve_session: Callable[[int | None, int | None], int]
    guard: Any
    upstreams: Mapping[str, str]
    spool_dir: Path
    port: int
    version: str
    pinned_session: int | None = None
    body_cap: int = BODY_CAP
    find_local: Callable[[str], Any] | None = None  # issue 8: local model by name (sync, storage)
    find_session: Callable[[int | None, int | None], int | None] | None = None
    armed: Callable[[], bool] = lambda: True
    batch: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
    recorder: tuple[Callable[[Any], Any], Callable[[Any], Any], Any] | None = None
    hold_reads: Any = None
    warm: Callable[[], None] | None = None
    prepare: Callable[[], None] = lambda: None


def _is_loopback(client: Any) -> bool:
    return bool(client) and _loopback_host(str(client[0]))


@functools.lru_cache(maxsize=256)
def _loopback_host(host: str) -> bool:
    # Cached: a proxy sees a handful of peer addresses, and parsing one is ~1 % of a request's CPU.
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class LoopbackOnly:
    """Pure ASGI middleware: 403 (generic body) for any peer that is not a loopback address."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and not _is_loopback(scope.get("client")):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            status, headers, body = error_response(None, "forbidden")
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class ProxyApp:
    """The ASGI entry point: loopback check, then the Forwarder directly, or Starlette for the rest.

    `router` and `state` are the Starlette app's (lifespan, `state.writer`).
    """

    def __init__(self, app: Starlette, forwarder: Forwarder) -> None:
        self.app, self.forwarder = app, forwarder
        self.router, self.state = app.router, app.state
        self.prepare = forwarder.deps.prepare

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if not _is_loopback(scope.get("client")):
                status, headers, body = error_response(None, "forbidden")
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            path = scope["path"]
            if path != "/health" and not path.startswith("/local/"):
                return await self.forwarder(scope, receive, send)
        await self.app(scope, receive, send)


def make_proxy_app(deps: ProxyDeps, client: Any) -> ProxyApp:
    """The proxy app around one pooled upstream `client` (the app closes it at shutdown)."""
    batch: Any = deps.batch
    if deps.recorder is not None and batch is not contextlib.nullcontext:
        from costhq.adapters.proxy.recorder import RecorderProcess

        # The guard's settle never writes storage, so it runs inside each batch, before the commit (issue 14).
        batch = RecorderProcess(deps.recorder[:2], deps.recorder[2], hooks_before_commit=True)
    writer = UsageWriter(deps.record, deps.spool_dir, make_converter(), batch=batch, after_commit=deps.warm)
    counts = RequestCounts()
    forwarder = Forwarder(deps=deps, client=client, routes=make_routes(deps.upstreams), writer=writer, counts=counts)
    started = time.monotonic()

    async def health(request: Request) -> JSONResponse:
        s = await anyio.to_thread.run_sync(deps.current_session, deps.pinned_session)
        return JSONResponse({
            "status": "ok", "version": deps.version, "uptime": round(time.monotonic() - started, 3),
            "port": deps.port, "session": None if s is None else {
                "id": s.id, "name": s.name, "aiCost": as_json_number(s.ai_cost), "aiTokens": s.ai_tokens},
            "pinnedSession": deps.pinned_session,
            "upstreams": dict(deps.upstreams), "requests": counts.snapshot(),
        })

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        recorder = app.state.recorder
        if recorder is not None:
            try:
                await anyio.to_thread.run_sync(recorder.start)
            except CostHQError as exc:  # the writer starts another at its first batch; the spool keeps all
                log.warning("%s", exc.message)
        writer.start()
        await anyio.to_thread.run_sync(deps.prepare)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(writer.stop)
            if recorder is not None:
                await anyio.to_thread.run_sync(recorder.close)
            await client.aclose()
            # the probe's read connection; the guard's leases (issue 14); the session look-up's connection;
            # the batch's kept connection (an in-process writer's)
            for part in (deps.armed, deps.guard, deps.find_session, deps.batch):
                close = getattr(part, "close", None)
                if close is not None:
                    await anyio.to_thread.run_sync(close)

    routes: list[Any] = [Route("/health", health, methods=["GET"])]
    if deps.find_local is not None:  # issue 8: `/local/<name>/...` -> the model's configured base URL
        from costhq.adapters.proxy.local import LocalForwarder

        routes.append(Mount("/local", app=LocalForwarder(find=deps.find_local, deps=deps, client=client,
                                                         writer=writer, counts=counts)))
    app = Starlette(
        routes=[*routes, Mount("/", app=forwarder)],
        middleware=[Middleware(LoopbackOnly)],
        lifespan=lifespan,
    )
    app.state.writer = writer
    app.state.recorder = batch if batch is not deps.batch else None  # the RecorderProcess, if any
    return ProxyApp(app, forwarder)
