"""A fake OpenAI + Anthropic upstream for the tracked clients: the providers' real wire shapes (JSON and SSE)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx2

CHAT_USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
              "prompt_tokens_details": {"cached_tokens": 200}, "completion_tokens_details": {"reasoning_tokens": 0}}
CHAT_COST = Decimal("0.00575")  # 1000 x $2.5 + 200 cached x $1.25 + 300 x $10, per 1M (gpt-4o)
CLAUDE_USAGE = {"input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 2000,
                "cache_creation_input_tokens": 400,
                "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 0}}
CLAUDE_COST = Decimal("0.0126")  # 1000 x $3 + 500 x $15 + 2000 x $0.3 + 400 x $3.75, per 1M (claude-sonnet-4)
_IDS = itertools.count(1)  # unique request ids: a repeated id is a duplicate and skipped
RESPONSES_COST = Decimal("0.0035")  # 1000 x $2.5 + 100 x $10
EMBED_COST = Decimal("0.000001")  # 50 x $0.02


def _sse(events: list[tuple[str | None, dict[str, Any] | str]]) -> bytes:
    out = []
    for name, data in events:
        body = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {body}\n\n")
    return "".join(out).encode()


def _chat(stream: bool) -> httpx2.Response:
    base = {"id": "chatcmpl-1", "created": 1_700_000_000, "model": "gpt-4o-2024-08-06"}
    if not stream:
        return httpx2.Response(200, json={**base, "object": "chat.completion", "usage": CHAT_USAGE, "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hello!"}}]},
            headers={"x-request-id": f"req_chat_{next(_IDS)}"})
    chunk = {**base, "object": "chat.completion.chunk"}
    events: list[tuple[str | None, dict[str, Any] | str]] = [
        (None, {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
        (None, {**chunk, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}),
        (None, {**chunk, "choices": [], "usage": CHAT_USAGE}), (None, "[DONE]")]
    return httpx2.Response(200, content=_sse(events), headers={"content-type": "text/event-stream"})


def _message(stream: bool) -> httpx2.Response:
    msg = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
           "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": None,
           "usage": CLAUDE_USAGE}
    if not stream:
        return httpx2.Response(200, json=msg, headers={"request-id": f"req_msg_{next(_IDS)}"})
    start = {**msg, "content": [], "stop_reason": None, "usage": {**CLAUDE_USAGE, "output_tokens": 1}}
    events: list[tuple[str | None, dict[str, Any] | str]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 500}}),
        ("message_stop", {"type": "message_stop"})]
    return httpx2.Response(200, content=_sse(events), headers={"content-type": "text/event-stream"})


def _responses(stream: bool) -> httpx2.Response:
    resp = {"id": "resp_1", "object": "response", "created_at": 1_700_000_000, "model": "gpt-4o-2024-08-06",
            "status": "completed", "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": {"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 100,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1100}}
    if not stream:
        return httpx2.Response(200, json=resp, headers={"x-request-id": f"req_resp_{next(_IDS)}"})
    events: list[tuple[str | None, dict[str, Any] | str]] = [
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": {**resp, "status": "in_progress", "usage": None}}),
        ("response.completed", {"type": "response.completed", "sequence_number": 1, "response": resp})]
    return httpx2.Response(200, content=_sse(events), headers={"content-type": "text/event-stream"})


def handler(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content or b"{}")
    stream, path = bool(body.get("stream")), request.url.path
    if path.endswith("/chat/completions"):
        return _chat(stream)
    if path.endswith("/messages"):
        return _message(stream)
    if path.endswith("/responses"):
        return _responses(stream)
    if path.endswith("/embeddings"):
        return httpx2.Response(200, json={"object": "list", "model": "text-embedding-3-small",
                                          "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
                                          "usage": {"prompt_tokens": 50, "total_tokens": 50}})
    return httpx2.Response(404, json={"error": {"message": "not found"}})


class Recorded:
    """Requests the fake saw (to prove a pre-flight refusal sent nothing)."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return handler(request)


def sync_client(seen: Recorded) -> httpx2.Client:
    return httpx2.Client(transport=httpx2.MockTransport(seen))


def async_client(seen: Recorded) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.MockTransport(seen))


def lines(it: Iterator[Any]) -> list[Any]:
    return list(it)
