"""A fake OpenAI + Anthropic upstream speaking their wire formats (JSON and SSE), served on a thread.

Behaviour by requested model: `fail-500` answers 500; `slow-*` streams one event every 0.2 s for
1.4 s (longer than a 0.5 s idle timeout); `cut-*` sends the first event, then drops the connection;
`stall-*` waits 3 s before answering (non-stream) or after the first event (stream); `hold-*`
streams its last event only once `release` is set (for shutdown tests).
Every response has a fresh id and, as the real APIs send, a fresh `request-id` (Anthropic) or
`x-request-id` (OpenAI) header; `sameid-*` (non-stream) answers `req_same` and the body id
`msg_same` / `chatcmpl-123` every time, as OpenAI-compatible servers and gateways do.
`extra_headers` are added to every answer (a test's stand-in for another proxy's headers).
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
_ids = itertools.count(1)


def sse(events: list[tuple[str | None, Any]]) -> list[bytes]:
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        out.append((f"event: {name}\n" if name else "").encode() + f"data: {payload}\n\n".encode())
    return out


def chat_chunks(model: str, include_usage: bool) -> list[bytes]:
    cid = f"chatcmpl-{next(_ids)}"
    base = {"id": cid, "object": "chat.completion.chunk", "created": 1, "model": model, "system_fingerprint": "fp"}
    extra = {"usage": None} if include_usage else {}
    deltas = [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}]
    events: list[tuple[str | None, Any]] = [
        (None, {**base, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": None}], **extra})
        for d in deltas]
    events.append((None, {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
                          **extra}))
    if include_usage:
        events.append((None, {**base, "choices": [], "usage": OPENAI_USAGE}))
    events.append((None, "[DONE]"))
    return sse(events)


def anthropic_events(model: str) -> list[bytes]:
    mid = f"msg_{next(_ids)}"
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
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
                           "usage": {"output_tokens": ANTHROPIC_USAGE["output_tokens"]}}),
        ("message_stop", {"type": "message_stop"}),
    ])


def responses_events(model: str) -> list[bytes]:
    rid = f"resp_{next(_ids)}"
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
        self.extra_headers: dict[str, str] = {}
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        self.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        model = str(body.get("model", ""))
        path = request.url.path
        if model == "fail-500":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500,
                                headers={"x-request-id": f"req_{next(_ids)}", "request-id": f"req_{next(_ids)}"})
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
        same = model.startswith("sameid-")
        headers = {("request-id" if path.startswith("/v1/messages") else "x-request-id"):
                   "req_same" if same else f"req_{next(_ids)}", **self.extra_headers}
        if model.startswith("stall-") and not body.get("stream"):
            await asyncio.sleep(3)
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = (anthropic_events(served) if path == "/v1/messages" else responses_events(served)
                      if path == "/v1/responses" else chat_chunks(served, include))
            return StreamingResponse(self._drip(chunks, model), media_type="text/event-stream", headers=headers)
        doc = self._json(path, served)
        if same:
            doc["id"] = "msg_same" if path == "/v1/messages" else "chatcmpl-123"
        return JSONResponse(doc, headers=headers)

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

    def _json(self, path: str, served: str) -> dict[str, Any]:
        n = next(_ids)
        if path == "/v1/messages":
            return {"id": f"msg_{n}", "type": "message", "role": "assistant", "model": served,
                    "content": [{"type": "text", "text": "Hello"}], "stop_reason": "end_turn",
                    "stop_sequence": None, "usage": ANTHROPIC_USAGE}
        if path == "/v1/responses":
            return {"id": f"resp_{n}", "object": "response", "created_at": 1, "model": served, "status": "completed",
                    "output": [{"type": "message", "id": "m1", "status": "completed", "role": "assistant",
                                "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}],
                    "usage": RESPONSES_USAGE}
        return {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1, "model": served,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"},
                             "finish_reason": "stop", "logprobs": None}], "usage": OPENAI_USAGE}


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
