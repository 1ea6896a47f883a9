"""A fake Ollama server: native `/api/chat` and `/api/generate` (JSON, NDJSON streams) and its
OpenAI-compatible `/v1/chat/completions` (JSON, SSE). Lines are spaced by `GAP` seconds so the
proxy's measured wall time has a known floor. Like the real Ollama, OpenAI-style ids repeat.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SERVED = "llama3:8b"
PROMPT_EVAL, EVAL = 26, 298
GAP = 0.05
FINAL = {"done": True, "done_reason": "stop", "total_duration": 4_935_886_791, "load_duration": 534_986_708,
         "prompt_eval_count": PROMPT_EVAL, "prompt_eval_duration": 107_345_000, "eval_count": EVAL,
         "eval_duration": 4_289_432_000}
OPENAI_USAGE = {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}


class FakeOllama:
    """Records each request (path, headers, body) and answers like Ollama 0.5+."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        path = request.url.path
        self.requests.append({"path": path, "query": request.url.query, "headers": dict(request.headers),
                              "body": body})
        if path in ("/api/chat", "/api/generate"):
            key = "message" if path == "/api/chat" else "response"
            parts = [{"role": "assistant", "content": t} if key == "message" else t for t in ("Hel", "lo", "!")]
            lines = [{"model": SERVED, "created_at": "2026-11-23T12:00:00Z", key: p, "done": False} for p in parts]
            final = {"model": SERVED, "created_at": "2026-11-23T12:00:01Z",
                     key: {"role": "assistant", "content": ""} if key == "message" else "", **FINAL}
            if body.get("stream", True) is False:
                await asyncio.sleep(GAP)
                whole = {**final, key: {"role": "assistant", "content": "Hello!"} if key == "message" else "Hello!"}
                return JSONResponse(whole)
            return StreamingResponse(_ndjson([*lines, final]), media_type="application/x-ndjson")
        if path == "/v1/chat/completions":
            return self._openai(body)
        return JSONResponse({"error": "not found"}, status_code=404)

    def _openai(self, body: dict[str, Any]) -> Response:
        base = {"id": "chatcmpl-7", "created": 1, "model": SERVED, "system_fingerprint": "fp_ollama"}
        if not body.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
                "usage": OPENAI_USAGE})
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": t},
                                         "finish_reason": None}]} for t in ("Hel", "lo!")]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if include:
            events.append({**chunk, "choices": [], "usage": OPENAI_USAGE})
        return StreamingResponse(_sse(events), media_type="text/event-stream")


async def _ndjson(lines: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for line in lines:
        await asyncio.sleep(GAP)
        yield json.dumps(line).encode() + b"\n"


async def _sse(events: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for e in events:
        await asyncio.sleep(GAP)
        yield f"data: {json.dumps(e, separators=(',', ':'))}\n\n".encode()
    yield b"data: [DONE]\n\n"
