"""The forwarding handler (pure ASGI): route, cap, guard, send upstream, stream back, meter, record.

Per request: (1) resolve the fixed upstream and strip `x-costhq-*` and hop-by-hop headers (RFC 9110
7.6.1: the fixed list and every header the `Connection` header names, in both directions);
(2) read the body, refusing more than the cap with 413; (3) a request that is not a model call
(routing.request_kind) is forwarded and counted, never guarded nor recorded; (4) with a real
guard, its `before` may refuse with 402: on the event loop when it needs no write nor wait
(`before_now`, issue 15), else in a worker thread; (5) `client.send(stream=True)`
and forward the bytes as they arrive while a meter reads usage on the side; (6) queue the usage
record (the spool line is written first) — the database write happens on the writer thread.

Each model call gets its own key `proxy:<uuid4 hex>` (the record's `call_key`, never the upstream's
id: servers repeat ids), sent back as the `x-costhq-call` response header so a tracked client behind
the proxy can link its call to this record. The upstream's `request-id` / `x-request-id` header and
the body's id are kept to recognise the same call seen by another path.
A WebSocket upgrade gets 426: the proxy meters HTTP only, and clients that offer WebSockets
(Codex's Responses transport) fall back to HTTP at once on that status.
Credentials pass through untouched and are never logged or recorded; bodies are never stored.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import anyio

from costhq.adapters.proxy.calls import (
    INJECT_PATHS,
    MODEL_FIELD,
    STREAM_TRUE,
    inject_include_usage,
    request_doc,
    with_ids,
    with_usage,
)
from costhq.adapters.proxy.errors import code_for, error_response
from costhq.adapters.proxy.estimate import RequestEstimate, request_estimate
from costhq.adapters.proxy.headers import CALL_HEADER, request_headers, response_headers
from costhq.adapters.proxy.metering import JsonMeter, SseMeter
from costhq.adapters.proxy.routing import KINDS, MODEL, PathRejected, Route, Target, request_kind, resolve
from costhq.adapters.proxy.spool import PendingUsage, UsageWriter
from costhq.adapters.proxy.upstream import UpstreamClient, UpstreamFailed, UpstreamResponse
from costhq.application.proxy import AllowAllGuard
from costhq.application.usage import UsageInput
from costhq.domain.errors import CostHQError
from costhq.domain.usage import Origin


class RequestCounts:
    """Requests seen per kind (routing.KINDS), shown by /health; only touched on the event loop."""

    def __init__(self) -> None:
        self._n = dict.fromkeys(KINDS, 0)

    def add(self, kind: str) -> None:
        self._n[kind] += 1

    def snapshot(self) -> dict[str, int]:
        return dict(self._n)


class _TooLarge(Exception):
    pass


class Forwarder:
    """ASGI app for every path that is not `/health`."""

    def __init__(self, *, deps: Any, client: UpstreamClient, routes: dict[str, Route], writer: UsageWriter,
                 counts: RequestCounts | None = None) -> None:
        self.deps, self.client, self.routes, self.writer = deps, client, routes, writer
        self.counts = counts or RequestCounts()
        self.guarded = not isinstance(deps.guard, AllowAllGuard)
        hold = getattr(deps, "hold_reads", None)
        self.held = hold.held if hold is not None else contextlib.nullcontext

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        try:
            target = await self._target(raw_path.split(b"?", 1)[0], scope.get("query_string", b""))
        except PathRejected:
            return await self._error(send, None, "invalid_path")
        if target is None:
            return await self._error(send, None, "not_found")
        provider = target.route.provider
        headers, session_header, length, upgrade = request_headers(scope["headers"])
        kind = request_kind(scope["method"], target.path, upgrade=upgrade)
        self.counts.add(kind)
        if kind == "websocket":
            return await self._error(send, provider, "websocket_unsupported")
        if length is not None and length > self.deps.body_cap:
            return await self._error(send, provider, "payload_too_large")
        try:
            body = await self._read_body(receive)
        except _TooLarge:
            return await self._error(send, provider, "payload_too_large")
        if kind != MODEL:  # probes, model lists, count_tokens, files...: forwarded, never recorded nor guarded
            return await self._pass(scope, send, target, headers, body)
        drop_injected, doc = False, None
        if self._wants_usage_chunk(target) and STREAM_TRUE.search(body):
            doc = request_doc(body)  # parsed once: for the injection, then the guard's estimate
            body, drop_injected = inject_include_usage(body, doc)
            if drop_injected:
                headers = [(k, v) for k, v in headers if k != b"accept-encoding"] + [(b"accept-encoding", b"identity")]
        token, session_id = None, None
        try:
            with self.held():  # one storage change token for the loop's checks below (issue 15)
                now = self._guard_now(provider, body, doc, scope["headers"], session_header) if self.guarded else None
            if now is not None and now[0] is not None:
                token, session_id = now[1] or await anyio.to_thread.run_sync(self._before, provider, now[0],
                                                                             session_header)
        except CostHQError as exc:
            return await self._error(send, provider, code_for(exc), exc.message, exc.details)
        await self._exchange(scope, receive, send, target, headers, body, drop_injected,
                             (session_header, session_id, token))

    async def _target(self, raw_path: bytes, query: bytes) -> Target | None:
        """The upstream of a request, None when no route matches (issue 8's local routes override it).

        Raises:
            PathRejected: the path could escape its route.
        """
        return resolve(self.routes, raw_path, query)

    def _wants_usage_chunk(self, target: Target) -> bool:
        """OpenAI-style chat/completions streams need `include_usage` injected to report usage."""
        return target.route.provider == "openai" and target.path.endswith(INJECT_PATHS)

    def _meter(self, target: Target, *, sse: bool, drop_injected: bool, encoding: str) -> Any:
        """The usage meter of one response (issue 8's local routes add Ollama's NDJSON)."""
        provider = target.route.provider
        return SseMeter(provider, drop_injected=drop_injected, encoding=encoding) if sse \
            else JsonMeter(provider, encoding=encoding)

    async def _read_body(self, receive: Any) -> bytes:
        parts, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise _TooLarge  # nothing to answer; the caller's error send is dropped by the server
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.deps.body_cap:
                raise _TooLarge
            parts.append(chunk)
            more = msg.get("more_body", False)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _guard_now(self, provider: str, body: bytes, doc: dict[str, Any] | None, headers: Any,
                   session_header: int | None) -> tuple[
            RequestEstimate | None, tuple[object | None, int] | None]:
        """On the loop: (estimate, admission) — (None, None) when unarmed (nothing can refuse: no
        thread hop), (est, None) when the thread must decide (`_before`)."""
        if not self.deps.armed():
            return None, None
        agent = next((v for k, v in headers if k == b"user-agent"), None)  # the estimate's client
        est = request_estimate(body, agent, doc)  # issue 14: what the request holds and references
        return est, self._before_now(provider, est, session_header)

    def _before(self, provider: str, est: RequestEstimate, session_header: int | None) -> tuple[object | None, int]:
        sid = self.deps.resolve_session(session_header, self.deps.pinned_session)
        return self.deps.guard.before(session_id=sid, provider=provider, model=est.model, shape=est.shape,
                                      fingerprint=est.fingerprint, client=est.client), sid

    def _before_now(self, provider: str, est: RequestEstimate,
                    session_header: int | None) -> tuple[object | None, int] | None:
        """`_before` on the event loop when the guard admits in memory (issue 15); None: take the thread."""
        now = getattr(self.deps.guard, "before_now", None)
        if now is None or self.deps.find_session is None:
            return None
        sid = self.deps.find_session(session_header, self.deps.pinned_session)
        if sid is None:  # the background session must be created first
            return None
        token = now(session_id=sid, provider=provider, model=est.model, shape=est.shape, client=est.client)
        return None if token is None else (token, sid)

    async def _exchange(self, scope: Any, receive: Any, send: Any, target: Any, headers: list[Any], body: bytes,
                        drop_injected: bool, attribution: tuple[Any, Any, Any]) -> None:
        self.writer.expect()
        ticket: list[bool] = []  # appended to once the record is submitted
        try:
            await self._exchange_expected(scope, receive, send, target, headers, body, drop_injected,
                                          (*attribution, ticket), f"proxy:{uuid.uuid4().hex}")
        finally:
            if not ticket:
                self.writer.forget()

    async def _exchange_expected(self, scope: Any, receive: Any, send: Any, target: Any, headers: list[Any],
                                 body: bytes, drop_injected: bool, attribution: tuple[Any, ...], key: str) -> None:
        provider, started = target.route.provider, time.perf_counter()
        try:
            resp = await self.client.send(scope["method"], target.url, headers, body)
        except UpstreamFailed as exc:
            self._record(target.route, body, None, None, started, attribution, key, failed=True)
            return await self._error(send, provider, "upstream_timeout" if exc.timeout else "upstream_error",
                                     extra=[(CALL_HEADER, key.encode())])
        encoding = resp.header(b"content-encoding").lower()
        is_sse = resp.header(b"content-type").startswith("text/event-stream")
        meter = self._meter(target, sse=is_sse, drop_injected=drop_injected, encoding=encoding)
        out_headers = [*response_headers(resp.headers, keep_length=not drop_injected), (CALL_HEADER, key.encode())]
        complete, ticket = False, attribution[-1]

        def record() -> None:
            self._record(target.route, body, resp, meter.finish(status=resp.status, complete=complete),
                         started, attribution, key, stream=is_sse or getattr(meter, "stream", False))

        try:
            await send({"type": "http.response.start", "status": resp.status, "headers": out_headers})
            complete, tail = await (self._pump_sse(resp, meter, send, receive) if is_sse
                                    else self._pump(resp, meter, send))
            if complete:
                # Spool the usage before the client sees the end: a crash after this loses nothing.
                await resp.aclose()
                record()
                await send({"type": "http.response.body", "body": tail, "more_body": False})
        finally:
            with anyio.CancelScope(shield=True):
                await resp.aclose()
                if not ticket:
                    record()

    async def _pass(self, scope: Any, send: Any, target: Target, headers: list[Any], body: bytes) -> None:
        """Forward a request that is not a model call: bytes through, nothing metered or recorded."""
        try:
            resp = await self.client.send(scope["method"], target.url, headers, body)
        except UpstreamFailed as exc:
            return await self._error(send, target.route.provider, "upstream_timeout" if exc.timeout
                                     else "upstream_error")
        try:
            await send({"type": "http.response.start", "status": resp.status,
                        "headers": response_headers(resp.headers, keep_length=True)})
            async for chunk in resp.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except UpstreamFailed:
            pass  # left unterminated: the client sees the cut, as without us
        finally:
            with anyio.CancelScope(shield=True):
                await resp.aclose()

    async def _pump(self, resp: UpstreamResponse, meter: JsonMeter, send: Any) -> tuple[bool, bytes]:
        """Forward the body as it arrives; (complete, bytes still to send with the final message)."""
        try:
            async for chunk in resp.chunks():
                meter.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except UpstreamFailed:
            return False, b""  # leave the response unterminated: the client sees the cut, as without us
        return True, b""

    async def _pump_sse(self, resp: UpstreamResponse, meter: SseMeter, send: Any, receive: Any) -> tuple[bool, bytes]:
        complete, tail = False, b""
        async with anyio.create_task_group() as tg:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()  # the client went away: stop reading upstream

            tg.start_soon(watch_disconnect)
            try:
                async for chunk in resp.chunks():
                    out = meter.feed(chunk)
                    if out:
                        await send({"type": "http.response.body", "body": out, "more_body": True})
                complete, tail = True, meter.pending()
            except UpstreamFailed:
                # Upstream cut, or silent past the read timeout: what was seen is partial, and the
                # response is left unterminated so the client sees the cut too.
                held = meter.pending()
                if held:
                    await send({"type": "http.response.body", "body": held, "more_body": True})
            tg.cancel_scope.cancel()
        return complete, tail

    def _record(self, route: Route, body: bytes, resp: UpstreamResponse | None, metered: Any, started: float,
                attribution: tuple[Any, ...], key: str, *, stream: bool = False, failed: bool = False) -> None:
        header_session, session_id, token, ticket = attribution
        served = metered.model if metered is not None else None
        m = MODEL_FIELD.search(body)
        requested = route.model or (m.group(1).decode("utf-8", "replace") if m else (served or "unknown"))
        call = UsageInput(
            provider=route.provider, model=requested, served_model=served, origin=Origin.PROXY, call_key=key,
            duration_ms=int((time.perf_counter() - started) * 1000), stream=stream,
            partial=bool(metered and metered.partial), error=failed or bool(metered and metered.error),
            timestamp=datetime.now(UTC))
        call = with_ids(call, route, None if resp is None else resp.text_headers(), metered)
        call = with_usage(call, metered.tokens if metered else None, body)
        after = None
        if token is not None and not call.usage_missing:
            # Hold what the call cost from now on, not its estimate: the record is stored later,
            # and the agent's next turn may come first (issue 14).
            self.deps.guard.metered(token, call.tokens, at=call.timestamp, complete=not (call.partial or call.error))
        if token is not None:
            def after(cost: Any, _token: Any = token) -> None:
                self.deps.guard.settle(_token, getattr(cost, "record", None))
        # The guard was skipped (firewall unarmed) or did not observe: the writer feeds the runaway detector.
        observe = self.guarded and (session_id is None or not getattr(token, "observed", True))
        self.writer.submit(PendingUsage(call=call, header_session=header_session,
                                        pinned_session=self.deps.pinned_session, session_id=session_id, after=after,
                                        body=body if observe else None),
                           expected=True)
        ticket.append(True)

    async def _error(self, send: Any, provider: str | None, code: str, message: str | None = None,
                     details: dict[str, Any] | None = None, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
        status, headers, body = error_response(provider, code, message, details)
        await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
        await send({"type": "http.response.body", "body": body})


