"""A gated fake upstream for the budget-bound tests (issue 14): it answers OpenAI chat completions
and Anthropic messages (JSON or SSE) with usage the test sets, and holds every call until the
test releases the gate, so a burst of concurrent calls is decided (admitted or refused) before
any of them completes: the number admitted, and so the overshoot, are exact.

A client that is refused reports it on `POST /refused` (a child process of `cs run` does), so
the gate can open by itself once `expect` calls are decided.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_ids = itertools.count(1)


class GatedUpstream:
    """The fake; `openai_usage` / `anthropic_usage` are what each call is billed."""

    def __init__(self) -> None:
        self.openai_usage: dict[str, Any] = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                                             "prompt_tokens_details": {"cached_tokens": 200}}
        self.anthropic_usage: dict[str, Any] = {"input_tokens": 10, "cache_read_input_tokens": 28_000,
                                                "cache_creation_input_tokens": 1_500, "output_tokens": 400}
        self.arrived = self.refused = 0
        self.expect: int | None = None  # open the gate by itself once this many calls are decided
        self.gated = True
        self._cond = threading.Condition()
        self._open = threading.Event()
        self.app = Starlette(routes=[Route("/refused", self._refused, methods=["POST"]),
                                     Route("/{path:path}", self._call, methods=["POST"])])

    def reset(self, *, expect: int | None = None) -> None:
        with self._cond:
            self.arrived = self.refused = 0
            self.expect = expect
            self._open.clear()

    def decided(self, n: int, timeout: float = 60) -> bool:
        """Wait until `n` calls arrived here or were refused by the caller."""
        with self._cond:
            return self._cond.wait_for(lambda: self.arrived + self.refused >= n, timeout)

    def release(self) -> None:
        self._open.set()

    def note_refused(self) -> None:
        self._count("refused")

    def _count(self, what: str) -> None:
        with self._cond:
            setattr(self, what, getattr(self, what) + 1)
            if self.expect is not None and self.arrived + self.refused >= self.expect:
                self._open.set()
            self._cond.notify_all()

    async def _refused(self, request: Request) -> Response:
        self._count("refused")
        return Response(status_code=204)

    async def _call(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        self._count("arrived")
        if self.gated:
            await asyncio.to_thread(self._open.wait, 60)
        if request.url.path.endswith("/messages"):
            return self._anthropic(body)
        return JSONResponse({"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion", "created": 1,
                             "model": "gpt-4o-2024-08-06", "usage": self.openai_usage, "choices": [
                                 {"index": 0, "finish_reason": "stop", "logprobs": None,
                                  "message": {"role": "assistant", "content": "Hello"}}]})

    def _anthropic(self, body: dict[str, Any]) -> Response:
        msg = {"id": f"msg_{next(_ids)}", "type": "message", "role": "assistant", "model": str(body.get("model")),
               "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn", "stop_sequence": None,
               "usage": self.anthropic_usage}
        if not body.get("stream"):
            return JSONResponse(msg)
        start = {**msg, "content": [], "stop_reason": None, "usage": {**self.anthropic_usage, "output_tokens": 1}}
        events = [("message_start", {"type": "message_start", "message": start}),
                  ("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}),
                  ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": "Done."}}),
                  ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                  ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                        "stop_sequence": None},
                                     "usage": {"output_tokens": self.anthropic_usage["output_tokens"]}}),
                  ("message_stop", {"type": "message_stop"})]
        text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
        return Response(text, media_type="text/event-stream")
