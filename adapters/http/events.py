"""Server-sent events: one poller per server watches a cheap data fingerprint (~1 s) and fans
changes out to every connected client (never one database poll per client)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from anyio.to_thread import run_sync
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

KEEPALIVE_SECONDS = 15.0


class ChangeFeed:
    """Polls `watch()` while clients are connected; `snapshot()` builds the event payload on change."""

    def __init__(self, watch: Callable[[], Any], snapshot: Callable[[], dict[str, Any]], interval: float = 1.0) -> None:
        self._watch, self._snapshot, self.interval = watch, snapshot, interval
        self._cond: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None
        self._clients = 0
        self.version = 0
        self.payload: dict[str, Any] = {}
        self.polls = 0

    async def _run(self) -> None:
        assert self._cond is not None
        last = None
        while self._clients > 0:
            mark = await run_sync(self._watch)
            self.polls += 1
            if mark != last:
                last = mark
                self.payload = await run_sync(self._snapshot)
                async with self._cond:
                    self.version += 1
                    self._cond.notify_all()
            await anyio.sleep(self.interval)
        self._task = None

    async def subscribe(self) -> AsyncIterator[str]:
        """`data:` lines for each change (the first one at once), comments as keep-alives."""
        if self._cond is None:
            self._cond = asyncio.Condition()
        self._clients += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        seen = 0
        try:
            while True:
                async with self._cond:
                    try:
                        changed = self._cond.wait_for(lambda seen=seen: self.version != seen)  # type: ignore[misc]
                        await asyncio.wait_for(changed, KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    seen = self.version
                    payload = self.payload
                yield f"event: change\nid: {seen}\ndata: {json.dumps(payload)}\n\n"
        finally:
            self._clients -= 1

    async def close(self) -> None:
        self._clients = 0
        if self._task is not None:
            self._task.cancel()


async def events(request: Request) -> StreamingResponse:
    feed: ChangeFeed = request.app.state.feed
    return StreamingResponse(
        feed.subscribe(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


ROUTES = [Route("/events", events, methods=["GET"], name="events")]
