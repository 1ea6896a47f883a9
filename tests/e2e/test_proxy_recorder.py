"""The proxy as served (ADR 0009): the usage recorder process and the peer check, with real SQLite,
uvicorn, the real openai SDK and a local fake upstream.

gpt-4o chat from the fake upstream: 1000 uncached + 200 cached + 300 out = $0.00575 per call.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import httpx2
import openai
import pytest

from costhq.adapters.proxy.server import ProxyThread, bind, proxy_config
from costhq.bootstrap.main import build_container
from tests.e2e.helpers_live import wait_for
from tests.e2e.helpers_proxy import FakeUpstream, ServedApp

MSG = [{"role": "user", "content": "hi"}]


class World:
    def __init__(self, tmp: Path, upstream: str, recorder: str) -> None:
        env = {"HOME": str(tmp), "COSTHQ_HOME": str(tmp / "data"), "COSTHQ_OPENAI_UPSTREAM": upstream,
               "COSTHQ_PROXY_RECORDER": recorder}
        self.c, self.cwd = build_container(env), str(tmp)
        self.session = self.c.start_session()(name="recorder", cwd=self.cwd).session.id
        sock = bind(0)
        self.app = self.c.front_ends().proxy_app(port=sock.getsockname()[1], pinned_session=None,
                                                 config=proxy_config(self.c.settings(), env))
        self.proxy = ProxyThread(self.app, sock)
        self.client = openai.OpenAI(base_url=f"http://127.0.0.1:{self.proxy.port}/openai/v1", api_key="sk-x",
                                    max_retries=0)

    def calls(self, n: int, *, stream: bool = False) -> None:
        for _ in range(n):
            if stream:
                list(self.client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True))
            else:
                self.client.chat.completions.create(model="gpt-4o", messages=MSG)

    def stored(self) -> Any:
        assert self.app.state.writer.wait_idle(60)
        return self.c.get_session()(cwd=self.cwd, session_id=self.session, detail=True)


@pytest.fixture
def upstream() -> Iterator[str]:
    with ServedApp(FakeUpstream().app) as served:
        yield served.url


def test_a_child_process_records_the_usage_and_a_killed_child_loses_and_doubles_nothing(
        tmp_path: Path, upstream: str) -> None:
    w = World(tmp_path, upstream, "process")
    w.proxy.start()
    try:
        recorder = w.app.state.recorder
        first = recorder.pid
        assert first is not None and first != os.getpid()
        w.calls(3)
        w.calls(1, stream=True)
        assert len(w.stored().usage) == 4
        os.kill(first, signal.SIGKILL)  # between batches: the next batch starts a new child
        w.calls(2)
        assert len(w.stored().usage) == 6
        second = recorder.pid
        # In the middle of a batch: the child waits for SQLite's lock when it is killed; the writer
        # retries the batch on a third child once the lock is free.
        blocker = apsw.Connection(str(tmp_path / "data" / "sessions.db"))
        blocker.execute("BEGIN IMMEDIATE")
        try:
            w.calls(2)
            wait_for(lambda: recorder.in_flight, what="a batch sent to the child")
            os.kill(second, signal.SIGKILL)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        detail = w.stored()
        third = recorder.pid
    finally:
        w.proxy.stop()
    assert recorder.pid is None  # closed with the proxy
    assert len({first, second, third}) == 3 and all(_gone(p) for p in (first, second, third))
    rows = detail.usage
    assert len(rows) == 8
    assert [r.stream for r in rows].count(True) == 1
    assert str(detail.session.ai_cost) == "0.0460000000"  # 8 x $0.00575, each call once


def test_the_thread_recorder_stores_the_same_calls_without_a_child(tmp_path: Path, upstream: str) -> None:
    w = World(tmp_path, upstream, "thread")
    w.proxy.start()
    try:
        assert w.app.state.recorder is None
        w.calls(2)
        w.calls(1, stream=True)
        detail = w.stored()
    finally:
        w.proxy.stop()
    assert len(detail.usage) == 3 and str(detail.session.ai_cost) == "0.0172500000"


def test_the_peer_address_decides_loopback_never_an_x_forwarded_for_header(tmp_path: Path, upstream: str) -> None:
    w = World(tmp_path, upstream, "thread")
    w.proxy.start()
    try:
        spoof = {"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
        base = f"http://127.0.0.1:{w.proxy.port}"
        health = httpx2.get(f"{base}/health", headers=spoof)
        chat = httpx2.post(f"{base}/openai/v1/chat/completions", headers=spoof,
                           json={"model": "gpt-4o", "messages": MSG})
        detail = w.stored()
    finally:
        w.proxy.stop()
    assert (health.status_code, health.json()["status"], chat.status_code) == (200, "ok", 200)
    assert len(detail.usage) == 1 and str(detail.session.ai_cost) == "0.0057500000"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
