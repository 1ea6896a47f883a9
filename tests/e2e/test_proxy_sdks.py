"""The real proxy on a port, the real `openai` and `anthropic` SDKs, a local fake upstream.

Expected costs are hand-computed from the built-in catalogue:
- gpt-4o: $2.50 in, $1.25 cached, $10 out per 1M. Chat: 1000 uncached + 200 cached + 300 out
  = (2500 + 250 + 3000) / 1e6 = $0.00575. Responses: 600 + 400 cached + 500 out = $0.0070.
- claude-sonnet-4: $3 in, $0.30 cache read, $3.75 5m write, $6 1h write, $15 out:
  100*3 + 2000*0.3 + 1000*3.75 + 500*6 + 250*15 = 11400 -> $0.0114.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import anyio
import httpx2
import openai
import pytest

from costhq.adapters.proxy.server import ProxyThread, bind, proxy_config
from costhq.bootstrap.main import build_container
from tests.e2e.helpers_proxy import FakeUpstream, ServedApp

KEY = "sk-test-NEVER-STORE-4242"
MSG = [{"role": "user", "content": "hi"}]
# A cut stream, as the Anthropic SDK surfaces it: newer releases wrap the transport error.
CUT = (httpx2.RemoteProtocolError, anthropic.APIConnectionError)


class World:
    def __init__(self, tmp: Path, fake: FakeUpstream, upstream: str, read_timeout: float = 10.0) -> None:
        self.fake, self.data = fake, tmp / "data"
        env = {"HOME": str(tmp), "COSTHQ_HOME": str(self.data), "COSTHQ_OPENAI_UPSTREAM": upstream,
               "COSTHQ_ANTHROPIC_UPSTREAM": upstream, "COSTHQ_PROXY_READ_TIMEOUT": str(read_timeout)}
        self.c = build_container(env)
        self.cwd = str(tmp)
        self.session = self.c.start_session()(name="sdk run", cwd=self.cwd).session.id
        sock = bind(0)
        self.app = self.c.front_ends().proxy_app(port=sock.getsockname()[1], pinned_session=None,
                                                 config=proxy_config(self.c.settings(), env))
        self.proxy = ProxyThread(self.app, sock)
        self.url = f"http://127.0.0.1:{self.proxy.port}"

    def usage(self) -> list[Any]:
        assert self.app.state.writer.wait_idle(10)
        return self.c.get_session()(cwd=self.cwd, session_id=self.session, detail=True).usage

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
            return dict(json.loads(r.read()))

    def total(self) -> Decimal:
        assert self.app.state.writer.wait_idle(10)
        return self.c.get_session()(cwd=self.cwd, session_id=self.session).session.ai_cost


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    # The proxy's idle timeout is 10 s (a loaded machine never trips it) unless a test that is
    # about the timeout sets its own with `@pytest.mark.read_timeout(seconds)`.
    marker = request.node.get_closest_marker("read_timeout")
    fake = FakeUpstream()
    with ServedApp(fake.app) as upstream:
        w = World(tmp_path, fake, upstream.url, *(marker.args if marker else ()))
        w.proxy.start()
        try:
            yield w
        finally:
            w.proxy.stop()


def oa(w: World) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{w.url}/openai/v1", api_key=KEY, max_retries=0)


def an(w: World) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{w.url}/anthropic/v1", api_key=KEY, max_retries=0)


def test_openai_chat_sync_non_stream_and_stream_record_exact_tokens_and_cost(world: World) -> None:
    client = oa(world)
    done = client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert done.choices[0].message.content == "Hello"
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True))
    # include_usage was injected upstream, and its extra chunk dropped: the client sees 4 chunks, no usage field.
    assert [c.choices[0].delta.content for c in chunks] == ["", "Hel", "lo", None]
    assert all(c.usage is None and "usage" not in c.model_extra for c in chunks)
    assert world.fake.requests[1]["body"]["stream_options"] == {"include_usage": True}
    rows = world.usage()
    assert [(u.model, u.served_model, u.tokens.input, u.tokens.cache_read, u.tokens.output, u.cost, u.stream,
             u.partial) for u in rows] == [
        ("gpt-4o", "gpt-4o-2024-08-06", 1000, 200, 300, Decimal("0.00575"), False, False),
        ("gpt-4o", "gpt-4o-2024-08-06", 1000, 200, 300, Decimal("0.00575"), True, False)]
    assert rows[0].request_id is None and rows[0].origin.value == "proxy"  # never the upstream's id as the key
    assert rows[0].response_id.startswith("chatcmpl-") and rows[0].call_key.startswith("proxy:")
    assert rows[0].upstream_request_id.startswith("req_")
    assert world.total() == Decimal("0.0115")


def test_client_that_asked_for_usage_still_gets_its_usage_chunk(world: World) -> None:
    chunks = list(oa(world).chat.completions.create(model="gpt-4o", messages=MSG, stream=True,
                                                    stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 1200
    assert [u.cost for u in world.usage()] == [Decimal("0.00575")]


def test_openai_responses_embeddings_and_models_async(world: World) -> None:
    async def main() -> None:
        client = openai.AsyncOpenAI(base_url=f"{world.url}/openai/v1", api_key=KEY, max_retries=0)
        r = await client.responses.create(model="gpt-4o", input="hi")
        assert r.output_text == "Hello"
        stream = await client.responses.create(model="gpt-4o", input="hi", stream=True)
        kinds = [e.type async for e in stream]
        assert kinds == ["response.created", "response.output_text.delta", "response.completed"]
        emb = await client.embeddings.create(model="text-embedding-3-small", input="hi")
        assert emb.usage.prompt_tokens == 50
        models = await client.models.list()
        assert [m.id async for m in models] == ["gpt-4o-2024-08-06"]
        await client.close()

    anyio.run(main)
    rows = world.usage()
    assert [(u.tokens.input, u.tokens.cache_read, u.tokens.output, u.tokens.reasoning, u.stream) for u in rows] == [
        (600, 400, 500, 100, False), (600, 400, 500, 100, True), (50, 0, 0, 0, False)]
    assert [u.cost for u in rows[:2]] == [Decimal("0.007"), Decimal("0.007")]
    assert rows[2].cost == Decimal("0.000001")  # text-embedding-3-small: $0.02 / 1M
    # GET /v1/models is not a model call: forwarded and counted as a request, never recorded
    assert world.health()["requests"] == {"model": 3, "probe": 0, "models": 1, "countTokens": 0, "files": 0,
                                          "websocket": 0, "other": 0}


def test_anthropic_sync_and_async_stream_and_non_stream_via_doubled_v1_path(world: World) -> None:
    client = an(world)
    msg = client.messages.create(model="claude-sonnet-4", max_tokens=100, messages=MSG)
    assert msg.content[0].text == "Hello"
    with client.messages.stream(model="claude-sonnet-4", max_tokens=100, messages=MSG) as stream:
        assert stream.get_final_text() == "Hello"

    async def main() -> None:
        ac = anthropic.AsyncAnthropic(base_url=f"{world.url}/anthropic", api_key=KEY, max_retries=0)
        await ac.messages.create(model="claude-sonnet-4", max_tokens=100, messages=MSG)
        events = [e.type async for e in await ac.messages.create(
            model="claude-sonnet-4", max_tokens=100, messages=MSG, stream=True)]
        assert events[0] == "message_start" and events[-1] == "message_stop"
        await ac.close()

    anyio.run(main)
    assert {r["path"] for r in world.fake.requests} == {"/v1/messages"}  # /anthropic/v1/v1/messages too
    rows = world.usage()
    assert [(u.served_model, u.tokens.input, u.tokens.cache_read, u.tokens.cache_write_5m, u.tokens.cache_write_1h,
             u.tokens.output, u.cost) for u in rows] == [
        ("claude-sonnet-4-20250514", 100, 2000, 1000, 500, 250, Decimal("0.0114"))] * 4
    assert [u.stream for u in rows] == [False, True, False, True]
    assert world.total() == Decimal("0.0456")


def test_credentials_forwarded_untouched_costhq_headers_stripped_and_never_stored(world: World) -> None:
    client = openai.OpenAI(base_url=f"{world.url}/openai/v1", api_key=KEY, max_retries=0,
                           default_headers={"x-costhq-session": str(world.session), "x-costhq-agent": "bot"})
    client.chat.completions.create(model="gpt-4o", messages=MSG)
    an(world).messages.create(model="claude-sonnet-4", max_tokens=5, messages=MSG)
    seen = world.fake.requests
    # anthropic 2.x sends its key as a bearer token too
    assert [r["headers"]["authorization"] for r in seen] == [f"Bearer {KEY}"] * 2
    assert not any(k.startswith("x-costhq-") for r in seen for k in r["headers"])
    world.usage()
    world.proxy.stop()
    for path in world.data.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_upstream_500_is_counted_without_cost_and_the_sdk_sees_the_error(world: World) -> None:
    with pytest.raises(openai.InternalServerError):
        oa(world).chat.completions.create(model="fail-500", messages=MSG)
    [row] = world.usage()
    assert (row.error, row.tokens.total, row.cost, row.model) == (True, 0, None, "fail-500")


def test_cut_stream_records_what_was_seen_as_partial(world: World) -> None:
    # The proxy leaves the response unterminated, so the SDK sees the cut as it would without us.
    with pytest.raises(CUT):
        for _ in an(world).messages.create(model="cut-claude", max_tokens=5, messages=MSG, stream=True):
            pass
    [row] = world.usage()
    assert (row.partial, row.served_model, row.tokens.input, row.tokens.cache_read) == (
        True, "claude-sonnet-4-20250514", 100, 2000)


@pytest.mark.read_timeout(0.5)
def test_slow_but_steady_stream_outlives_the_idle_timeout(world: World) -> None:
    # read timeout 0.5 s; the stream lasts 1.4 s with a chunk every 0.2 s.
    events = [e.type for e in an(world).messages.create(model="slow-claude", max_tokens=5, messages=MSG,
                                                         stream=True)]
    assert events[-1] == "message_stop"
    [row] = world.usage()
    assert (row.partial, row.cost) == (False, Decimal("0.0114"))


@pytest.mark.read_timeout(0.5)
def test_silent_upstream_past_the_timeout_is_a_504_and_a_stalled_stream_is_recorded_partial(world: World) -> None:
    # read timeout 0.5 s: `stall-*` waits 3 s for its first byte (non-stream) or after its first event.
    with pytest.raises(openai.APIStatusError) as exc:
        oa(world).chat.completions.create(model="stall-gpt", messages=MSG)
    assert exc.value.status_code == 504 and exc.value.response.headers["x-costhq-error"] == "upstream_timeout"
    assert exc.value.body == {"message": "Upstream request timed out", "type": "api_error", "param": None,  # type: ignore[comparison-overlap]
                              "code": "upstream_timeout"}
    with pytest.raises(CUT):
        list(an(world).messages.create(model="stall-claude", max_tokens=5, messages=MSG, stream=True))
    timed_out, stalled = world.usage()
    assert (timed_out.error, timed_out.cost, timed_out.model) == (True, None, "stall-gpt")
    assert (stalled.partial, stalled.error, stalled.tokens.input, stalled.tokens.cache_read) == (True, False,
                                                                                                100, 2000)


def test_legacy_completions_and_anthropic_count_tokens_are_forwarded_and_counted(world: World) -> None:
    done = oa(world).completions.create(model="gpt-4o", prompt="hi")
    assert done.usage is not None and done.usage.prompt_tokens == 1200
    assert an(world).messages.count_tokens(model="claude-sonnet-4", messages=MSG).input_tokens == 12
    assert [r["path"] for r in world.fake.requests] == ["/v1/completions", "/v1/messages/count_tokens"]
    [completion] = world.usage()  # count_tokens is forwarded and counted as a request, never an AI call
    assert (completion.tokens.input, completion.tokens.cache_read, completion.cost) == (1000, 200, Decimal("0.00575"))
    assert world.health()["requests"]["countTokens"] == 1
