"""Issue 17 (proxy side) and issue 14 item 4 end to end: the real proxy on a port, the real SDKs,
the request shapes Claude Code and Codex send (recorded from Claude Code 2.1.197 and Codex 0.171.0
against a local fake upstream), and the fake upstream sending request-id headers as the real APIs do.

Costs (see test_proxy_sdks): gpt-4o chat $0.00575, Responses $0.007; a prompt of 400 characters is
estimated at 100 input tokens, $0.00025 at gpt-4o's $2.50 per 1M.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest

from costhq.domain.usage import Origin
from tests.e2e.helpers_proxy import FakeUpstream, ServedApp
from tests.e2e.test_proxy_sdks import KEY, MSG, World, an, oa

LONG = [{"role": "user", "content": "x" * 400}]
CALL = re.compile(r"^proxy:[0-9a-f]{32}$")
# What Claude Code 2.1.197 sent at start-up besides its messages call (`HEAD` of the base URL).
CLAUDE_HEADERS = {"anthropic-version": "2023-06-01", "x-app": "cli", "user-agent": "claude-cli/2.1.197 (external, cli)"}
# What Codex 0.171.0 sent first for every turn: a Responses WebSocket handshake on the base URL.
CODEX_WS = {"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13",
            "sec-websocket-key": "S9QU6fMOieMCZ41CZGq38g==", "originator": "codex_exec",
            "openai-beta": "responses_websockets=2026-02-06", "authorization": f"Bearer {KEY}"}


def served(tmp_path: Path, config: str = "") -> Iterator[World]:
    fake = FakeUpstream()
    with ServedApp(fake.app) as upstream:
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "config.toml").write_text(config)
        w = World(tmp_path, fake, upstream.url)
        w.proxy.start()
        try:
            yield w
        finally:
            w.proxy.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from served(tmp_path)


@pytest.fixture
def blocking(tmp_path: Path) -> Iterator[World]:
    """A proxy whose firewall refuses unpriced models (`[firewall] unpriced = "block"`)."""
    yield from served(tmp_path, '[firewall]\nunpriced = "block"\n')


def test_each_call_gets_its_own_key_header_and_calls_sharing_an_upstream_id_are_two_records(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    client = oa(world)
    with caplog.at_level(logging.DEBUG):
        first = client.chat.completions.with_raw_response.create(model="sameid-gpt", messages=MSG)
        second = client.chat.completions.with_raw_response.create(model="sameid-gpt", messages=MSG)
        rows = world.usage()
    assert first.parse().id == second.parse().id == "chatcmpl-123"
    keys = [first.headers["x-costhq-call"], second.headers["x-costhq-call"]]
    assert all(CALL.match(k) for k in keys) and keys[0] != keys[1]
    assert [(r.cost, r.origin) for r in rows] == [(Decimal("0.00575"), Origin.PROXY)] * 2
    assert world.total() == Decimal("0.0115")
    assert "UNIQUE" not in caplog.text and "onstraint" not in caplog.text


def test_claude_code_start_up_shapes_pass_the_unpriced_block_and_a_spent_budget_and_are_never_recorded(
        blocking: World) -> None:
    world = blocking
    world.c.set_budget()(scope="session", limit=Decimal("0.000001"), session_id=world.session)
    with httpx2.Client(base_url=world.url) as http:
        head = http.head("/anthropic/v1", headers={"user-agent": "Bun/1.4.0"})
        models = http.get("/anthropic/v1/v1/models", params={"limit": "1000"},
                          headers={**CLAUDE_HEADERS, "x-api-key": KEY})
    counted = an(world).messages.count_tokens(model="mystery-model-1", messages=MSG)  # unpriced: still forwarded
    with pytest.raises(anthropic.APIStatusError) as refused:
        an(world).messages.create(model="claude-sonnet-4", max_tokens=64000, messages=MSG, stream=True)
    assert (head.status_code, models.status_code, counted.input_tokens) == (200, 200, 12)
    assert refused.value.status_code == 402 and refused.value.response.headers["x-costhq-error"] == "budget_exceeded"
    assert [(r["path"]) for r in world.fake.requests] == ["/v1", "/v1/models", "/v1/messages/count_tokens"]
    assert world.usage() == []
    assert world.health()["requests"] == {"model": 1, "probe": 1, "models": 1, "countTokens": 1, "files": 0,
                                          "websocket": 0, "other": 0}


def test_codex_websocket_handshake_gets_426_and_its_http_fallback_is_recorded(world: World) -> None:
    with httpx2.Client(base_url=world.url) as http:
        ws = http.get("/openai/v1/responses", headers=CODEX_WS)
    assert (ws.status_code, ws.headers["x-costhq-error"]) == (426, "websocket_unsupported")
    events = [e.type for e in oa(world).responses.create(model="gpt-4o", input="hi", stream=True)]
    assert events[-1] == "response.completed"
    assert [(r.cost, r.stream) for r in world.usage()] == [(Decimal("0.007"), True)]
    assert [r["path"] for r in world.fake.requests] == ["/v1/responses"]
    assert world.health()["requests"]["websocket"] == 1


def test_a_call_answered_without_usage_or_with_zero_tokens_is_kept_as_a_zero_token_record(world: World) -> None:
    for model in ("nousage-gpt", "zero-gpt"):
        done = oa(world).chat.completions.create(model=model, messages=MSG)
        assert done.choices[0].message.content == "Hello"
    rows = world.usage()
    assert [(r.model, r.tokens.total, r.cost, r.partial, r.error) for r in rows] == [
        ("nousage-gpt", 0, Decimal(0), False, False), ("zero-gpt", 0, Decimal(0), False, False)]
    assert list(world.data.glob("proxy-spool-*")) == [] or all(p.stat().st_size == 0
                                                              for p in world.data.glob("proxy-spool-*"))
    assert not (world.data / "spool").exists()


def test_a_cut_openai_stream_keeps_its_estimated_input_and_is_priced(world: World) -> None:
    with pytest.raises(openai.APIConnectionError):
        list(oa(world).chat.completions.create(model="cut-gpt", messages=LONG, stream=True))
    [row] = world.usage()
    assert (row.tokens.input, row.tokens.output, row.cost, row.partial, row.served_model) == (
        100, 0, Decimal("0.00025"), True, "gpt-4o-2024-08-06")


@pytest.mark.parametrize("model", ["gpt-4o", "spaced-gpt"])
def test_a_client_that_did_not_ask_for_usage_never_gets_the_usage_chunk(world: World, model: str) -> None:
    contents = [chunk.choices[0].delta.content  # the SDK user's usual indexing, on every chunk
                for chunk in oa(world).chat.completions.create(model=model, messages=MSG, stream=True)]
    assert contents == ["", "Hel", "lo", None]
    asked = list(oa(world).chat.completions.create(model=model, messages=MSG, stream=True,
                                                   stream_options={"include_usage": True}))
    assert asked[-1].choices == [] and asked[-1].usage is not None and asked[-1].usage.prompt_tokens == 1200
    assert [r.cost for r in world.usage()] == [Decimal("0.00575")] * 2


def test_x_forwarded_for_from_a_loopback_peer_is_accepted_the_peer_address_decides(world: World) -> None:
    request = urllib.request.Request(f"{world.url}/health", headers={"X-Forwarded-For": "203.0.113.9"})
    with urllib.request.urlopen(request, timeout=5) as r:
        assert (r.status, json.loads(r.read())["status"]) == (200, "ok")
    client = openai.OpenAI(base_url=f"{world.url}/openai/v1", api_key=KEY, max_retries=0,
                           default_headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.1"})
    client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert [r.cost for r in world.usage()] == [Decimal("0.00575")]
