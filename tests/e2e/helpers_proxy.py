"""A fake OpenAI + Anthropic upstream speaking their wire formats (JSON and SSE), served on a thread.

Behaviour by requested model: `fail-500` answers 500; `slow-*` streams one event every 0.2 s for
1.4 s (longer than a 0.5 s idle timeout); `cut-*` sends the first event, then drops the connection;
`stall-*` waits 3 s before answering (non-stream) or after the first event (stream); `hold-*`
streams its last event only once `release` is set (for shutdown tests); `sameid-*` answers with
the fixed id `chatcmpl-123` / `msg_123` / `resp_123` (as OpenAI-compatible local servers and
gateways do); `nousage-*` answers without any usage, `zero-*` with all-zero usage; `spaced-*`
streams chat chunks as Python's `json.dumps` writes them (`"choices": []`) with an `obfuscation`
field last, as some gateways and the real API do; `long-*` answers Anthropic with LONG_USAGE (past 200k
input tokens), `reason-*` answers OpenAI chat with REASONING_USAGE.
Every response carries the upstream's request id header as the real APIs do: `request-id` from
Anthropic, `x-request-id` from OpenAI (`req_<n>`, fresh each time); `HEAD` is answered as a probe.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

GPT = "gpt-4o-2024-08-06"
CLAUDE = "claude-sonnet-4-20250514"
OPENAI_USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                "prompt_tokens_details": {"cached_tokens": 200}, "completion_tokens_details": {"reasoning_tokens": 0}}
RESPONSES_USAGE = {"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 400}, "output_tokens": 500,
                   "output_tokens_details": {"reasoning_tokens": 100}, "total_tokens": 1500}
ANTHROPIC_USAGE = {"input_tokens": 100, "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 1500,
                   "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 500},
                   "output_tokens": 250}
LONG_USAGE = {"input_tokens": 150000, "cache_read_input_tokens": 40000, "cache_creation_input_tokens": 15000,
              "cache_creation": {"ephemeral_5m_input_tokens": 10000, "ephemeral_1h_input_tokens": 5000},
              "output_tokens": 2000}
REASONING_USAGE = {**OPENAI_USAGE, "completion_tokens_details": {"reasoning_tokens": 120}}
_ids = itertools.count(1)


def sse(events: list[tuple[str | None, Any]], *, spaced: bool = False) -> list[bytes]:
    out = []
    for name, data in events:
        if spaced and isinstance(data, dict):
            data = {**data, "obfuscation": "x7Q"}
        payload = data if isinstance(data, str) else json.dumps(data, separators=(", ", ": ") if spaced else (",", ":"))
        out.append((f"event: {name}\n" if name else "").encode() + f"data: {payload}\n\n".encode())
    return out


def _id(prefix: str, requested: str) -> str:
    return f"{prefix}123" if requested.startswith("sameid-") else f"{prefix}{next(_ids)}"


def _usage(usage: dict[str, Any], requested: str) -> dict[str, Any] | None:
    if requested.startswith("long-") and usage is ANTHROPIC_USAGE:
        return LONG_USAGE
    if requested.startswith("reason-") and usage is OPENAI_USAGE:
        return REASONING_USAGE
    if requested.startswith("nousage-"):
        return None
    if requested.startswith("zero-"):
        return {k: 0 for k, v in usage.items() if isinstance(v, int)}
    return usage


def chat_chunks(model: str, include_usage: bool, requested: str = "") -> list[bytes]:
    cid = _id("chatcmpl-", requested)
    base = {"id": cid, "object": "chat.completion.chunk", "created": 1, "model": model, "system_fingerprint": "fp"}
    extra = {"usage": None} if include_usage else {}
    deltas = [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}]
    events: list[tuple[str | None, Any]] = [
        (None, {**base, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": None}], **extra})
        for d in deltas]
    events.append((None, {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
                          **extra}))
    if include_usage and _usage(OPENAI_USAGE, requested) is not None:
        events.append((None, {**base, "choices": [], "usage": _usage(OPENAI_USAGE, requested)}))
    events.append((None, "[DONE]"))
    return sse(events, spaced=requested.startswith("spaced-"))


def anthropic_events(model: str, requested: str = "") -> list[bytes]:
    mid = _id("msg_", requested)
    usage = _usage(ANTHROPIC_USAGE, requested) if requested.startswith("long-") else ANTHROPIC_USAGE
    start_usage = {**usage, "output_tokens": 1}
    return sse([
        ("message_start", {"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hello"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": usage["output_tokens"]}}),
        ("message_stop", {"type": "message_stop"}),
    ])


def responses_events(model: str, requested: str = "") -> list[bytes]:
    rid = _id("resp_", requested)
    base = {"id": rid, "object": "response", "created_at": 1, "model": model, "output": [], "status": "in_progress"}
    done = {**base, "status": "completed", "usage": RESPONSES_USAGE, "output": [
        {"type": "message", "id": "m1", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}]}
    return sse([
        ("response.created", {"type": "response.created", "sequence_number": 0, "response": base}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 1,
                                        "item_id": "m1", "output_index": 0, "content_index": 0, "delta": "Hello"}),
        ("response.completed", {"type": "response.completed", "sequence_number": 2, "response": done}),
    ])


class FakeUpstream:
    """Records what it received (path, headers) and answers in the providers' formats."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.extra_headers: dict[str, str] = {}  # added to every answer (another proxy's headers, in tests)
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST", "HEAD"])])

    async def handle(self, request: Request) -> Response:
        response = await self._answer(request)
        name = "request-id" if request.url.path.startswith("/v1/messages") else "x-request-id"
        response.headers[name] = f"req_{next(_ids)}"
        response.headers.update(self.extra_headers)
        return response

    async def _answer(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        self.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        model = str(body.get("model", ""))
        path = request.url.path
        if model == "fail-500":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500,
                                headers={"x-request-id": f"req_{next(_ids)}", "request-id": f"req_{next(_ids)}"})
        if request.method == "HEAD":
            return Response(status_code=200)
        if path == "/v1/models":
            return JSONResponse({"object": "list", "data": [{"id": GPT, "object": "model", "created": 1,
                                                            "owned_by": "openai"}]})
        if path == "/v1/messages/count_tokens":
            return JSONResponse({"input_tokens": 12})
        if path == "/v1/embeddings":
            return JSONResponse({"object": "list", "model": "text-embedding-3-small", "data": [
                {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": 50, "total_tokens": 50}})
        served = CLAUDE if path == "/v1/messages" else GPT
        if model.startswith("stall-") and not body.get("stream"):
            await asyncio.sleep(3)
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = (anthropic_events(served, model) if path == "/v1/messages" else responses_events(served, model)
                      if path == "/v1/responses" else chat_chunks(served, include, model))
            return StreamingResponse(self._drip(chunks, model), media_type="text/event-stream")
        return JSONResponse(self._json(path, served, model))

    async def _drip(self, chunks: list[bytes], model: str) -> AsyncIterator[bytes]:
        if model.startswith("cut-"):
            yield chunks[0]
            await asyncio.sleep(0.05)
            raise ConnectionResetError("upstream dropped the stream")
        for i, chunk in enumerate(chunks):
            if model.startswith("slow-"):
                await asyncio.sleep(0.2)
            if model.startswith("stall-") and i == 1:
                await asyncio.sleep(3)
            if model.startswith("hold-") and i == len(chunks) - 1:
                await asyncio.to_thread(self.release.wait, 30)
            yield chunk

    def _json(self, path: str, served: str, requested: str) -> dict[str, Any]:
        if path == "/v1/messages":
            doc = {"id": _id("msg_", requested), "type": "message", "role": "assistant", "model": served,
                   "content": [{"type": "text", "text": "Hello"}], "stop_reason": "end_turn",
                   "stop_sequence": None, "usage": _usage(ANTHROPIC_USAGE, requested)}
        elif path == "/v1/responses":
            doc = {"id": _id("resp_", requested), "object": "response", "created_at": 1, "model": served,
                   "status": "completed",
                   "output": [{"type": "message", "id": "m1", "status": "completed", "role": "assistant",
                               "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}],
                   "usage": _usage(RESPONSES_USAGE, requested)}
        else:
            doc = {"id": _id("chatcmpl-", requested), "object": "chat.completion", "created": 1, "model": served,
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"},
                                "finish_reason": "stop", "logprobs": None}], "usage": _usage(OPENAI_USAGE, requested)}
        if doc["usage"] is None:
            del doc["usage"]
        return doc


class ServedApp:
    """Any ASGI app on uvicorn in a thread, on 127.0.0.1 and a free port; waits on `started`."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedApp:
        self.thread.start()
        ready = threading.Event()
        while not self.server.started and self.thread.is_alive():
            ready.wait(0.005)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
