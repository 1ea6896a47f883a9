"""Issue 17 and issue 14 item 4 on the proxy app: call identity, requests that are not model calls,
calls without usage, cut streams, the quarantine, hop-by-hop headers. Upstream = MockTransport,
storage = verified fakes; the identity and usage flags are read from what the proxy hands to the
recording use case (storing them is the persistence side's part of issue 17).

Prices: claude-sonnet-4 (core_world) $3 in / $15 out per 1M; gpt-4o set here at $2.50 in / $10 out.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from costhq.adapters.proxy.calls import estimate_input_tokens
from tests.e2e.helpers_proxy import ANTHROPIC_USAGE, CLAUDE
from tests.unit.core_world import REPO, make_world
from tests.unit.test_proxy_app import MSG, Guard, Run, build, usage

pytestmark = pytest.mark.anyio
KEY = re.compile(r"^proxy:[0-9a-f]{32}$")
CHAT = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 400}]})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def reply(status: int = 200, doc: Any = None, *, headers: dict[str, str] | None = None,
          stream: bytes | None = None) -> httpx.Response:
    body = stream if stream is not None else json.dumps(doc).encode()
    kind = "text/event-stream" if stream is not None else "application/json"
    return httpx.Response(status, stream=httpx.ByteStream(body), headers={"content-type": kind, **(headers or {})})


def chat(cid: str, usage_doc: Any = None) -> dict[str, Any]:
    doc = {"id": cid, "object": "chat.completion", "model": "gpt-4o-2024-08-06",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]}
    return doc if usage_doc is None else {**doc, "usage": usage_doc}


def priced_world() -> Any:
    world = make_world()
    world.set_price()(model="gpt-4o", provider="openai", input_per_1m=Decimal("2.5"), output_per_1m=Decimal(10))
    return world


async def test_two_calls_whose_responses_share_an_id_are_two_records_each_with_its_own_key(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply(doc=chat("chatcmpl-123", {"prompt_tokens": 1000, "completion_tokens": 100}),
                     headers={"x-request-id": "req_same", "request-id": "req_other"})

    world, items = priced_world(), []
    app = build(world, tmp_path, handler, spy=items)
    async with Run(app) as http:
        first = await http.post("/openai/v1/chat/completions", content=CHAT)
        second = await http.post("/openai/v1/chat/completions", content=CHAT)
        assert app.state.writer.wait_idle(5)
    assert [r.cost for r in usage(world)] == [Decimal("0.0035")] * 2
    calls = [i.call for i in items]
    assert [c.call_key for c in calls] == [first.headers["x-costhq-call"], second.headers["x-costhq-call"]]
    assert all(KEY.match(c.call_key) for c in calls) and calls[0].call_key != calls[1].call_key
    assert [(c.response_id, c.upstream_request_id, c.request_id) for c in calls] == [
        ("chatcmpl-123", "req_same", None)] * 2


async def test_anthropic_keeps_its_request_id_header_and_the_message_id(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply(doc={"id": "msg_01A", "type": "message", "model": CLAUDE, "content": [],
                          "usage": ANTHROPIC_USAGE}, headers={"request-id": "req_011CA", "x-request-id": "other"})

    world, items = make_world(), []
    app = build(world, tmp_path, handler, spy=items)
    async with Run(app) as http:
        r = await http.post("/anthropic/v1/messages", content=MSG)
        assert app.state.writer.wait_idle(5)
    [item] = items
    assert (item.call.response_id, item.call.upstream_request_id, item.call.call_key) == (
        "msg_01A", "req_011CA", r.headers["x-costhq-call"])
    assert [row.cost for row in usage(world)] == [Decimal("0.0114")]


async def test_claude_code_start_up_probes_are_forwarded_counted_and_never_guarded_nor_recorded(
        tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "HEAD":
            return httpx.Response(200, stream=httpx.ByteStream(b""))
        if request.url.path.endswith("/models"):
            return reply(doc={"data": [{"id": CLAUDE, "type": "model"}], "has_more": False})
        return reply(doc={"input_tokens": 12})

    world, guard = make_world(), Guard(refuse=True)  # a guard that refuses every model call (budget spent)
    app = build(world, tmp_path, handler, guard=guard)
    async with Run(app) as http:
        head = await http.head("/anthropic/v1")
        models = await http.get("/anthropic/v1/v1/models?limit=1000")
        counted = await http.post("/anthropic/v1/v1/messages/count_tokens?beta=true", content=MSG)
        refused = await http.post("/anthropic/v1/v1/messages?beta=true", content=MSG)
        assert app.state.writer.wait_idle(5)
        health = (await http.get("/health")).json()
    assert [head.status_code, models.status_code, counted.status_code, refused.status_code] == [200, 200, 200, 402]
    assert [(r.method, r.url.path, r.url.query) for r in seen] == [
        ("HEAD", "/v1", b""), ("GET", "/v1/models", b"limit=1000"), ("POST", "/v1/messages/count_tokens", b"beta=true")]
    assert counted.json() == {"input_tokens": 12} and "x-costhq-call" not in counted.headers
    assert (len(guard.calls), usage(world)) == (1, [])  # only the model call reached the guard
    assert health["requests"] == {"model": 1, "probe": 1, "models": 1, "countTokens": 1, "files": 0,
                                  "websocket": 0, "other": 0}


@pytest.mark.parametrize("usage_doc", [None, {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}])
async def test_a_call_answered_without_usage_is_a_zero_token_record_flagged_usage_missing(
        tmp_path: Path, usage_doc: Any) -> None:
    world, items = priced_world(), []
    app = build(world, tmp_path, lambda request: reply(doc=chat("chatcmpl-9", usage_doc)), spy=items)
    async with Run(app) as http:
        r = await http.post("/openai/v1/chat/completions", content=CHAT)
        assert r.status_code == 200 and app.state.writer.wait_idle(5)
    [row] = usage(world)
    assert (row.tokens.total, row.cost, row.partial, row.error) == (0, Decimal(0), False, False)
    [item] = items
    assert (item.call.usage_missing, item.call.input_estimated) == (True, False)
    assert list(tmp_path.glob("proxy-spool-*")) == [] and not (tmp_path / "spool").exists()


def test_the_input_estimate_counts_text_only_never_ids_urls_or_binary_payloads() -> None:
    body = json.dumps({"model": "gpt-4o", "instructions": "abcd" * 10, "previous_response_id": "resp_" + "z" * 80,
                       "input": [{"role": "user", "content": [
                           {"type": "input_text", "text": "efgh" * 5},
                           {"type": "input_image", "image_url": "data:image/png;base64," + "A" * 9000}]}],
                       "tools": [{"type": "function", "name": "ls", "description": "list"}]}).encode()
    assert estimate_input_tokens(body) == 17  # (40 + 20 + 2 + 4) characters -> ceil(66 / 4)
    assert (estimate_input_tokens(b"not json"), estimate_input_tokens(b"")) == (0, 0)


async def test_a_spool_entry_that_cannot_be_replayed_is_quarantined_once_with_one_stderr_line(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    world = make_world()
    sid = world.start()(name="task", cwd=REPO).session.id
    good = {"call": {"provider": "anthropic", "model": "claude-sonnet-4", "tokens": {"input": 1000},
                     "origin": "proxy", "call_key": "proxy:" + "a" * 32, "timestamp": "2026-02-09T14:31:00+00:00"},
            "pinned": sid}
    bad = {"call": {"provider": "anthropic", "model": "claude-sonnet-4", "origin": "proxy",
                    "call_key": "proxy:" + "b" * 32, "timestamp": "2026-02-09T14:32:00+00:00"}, "pinned": sid}
    dead_pid = 2**22 + 12346  # above pid_max's default: never a running process
    (tmp_path / f"proxy-spool-{dead_pid}-0.jsonl").write_text(f"{json.dumps(good)}\n{json.dumps(bad)}\n")
    for _start in range(2):
        app = build(world, tmp_path, lambda request: reply(doc={}))
        async with Run(app):
            assert app.state.writer.wait_idle(5)
    [row] = usage(world)
    assert (row.tokens.input, row.cost) == (1000, Decimal("0.003"))
    [kept] = (tmp_path / "spool" / "quarantine").glob("proxy-*.jsonl")
    [line] = kept.read_text().splitlines()
    assert json.loads(line) == {**bad, "quarantine": {"code": "missing_tokens"}}
    err = capfd.readouterr().err.splitlines()
    assert err == [f"costhq proxy: 1 usage record could not be recorded (missing_tokens); moved to {kept}, "
                   "not retried"]
    assert list(tmp_path.glob("proxy-spool-*")) == []


async def test_hop_by_hop_headers_and_those_named_in_connection_are_stripped_both_ways(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply(doc={"id": "msg_1", "model": CLAUDE, "usage": ANTHROPIC_USAGE},
                     headers={"connection": "x-upstream-hop", "x-upstream-hop": "1", "keep-alive": "timeout=5",
                              "proxy-connection": "keep-alive", "x-kept": "yes"})

    world = make_world()
    async with Run(build(world, tmp_path, handler)) as http:
        r = await http.post("/anthropic/v1/messages", content=MSG, headers={
            "connection": "keep-alive, X-Client-Hop", "x-client-hop": "secret", "keep-alive": "timeout=5",
            "te": "trailers", "proxy-connection": "keep-alive", "trailer": "x-t", "x-api-key": "sk-kept"})
        probe = await http.get("/anthropic/v1/models", headers={"connection": "x-client-hop", "x-client-hop": "1"})
    sent = [set(q.headers.keys()) for q in seen]
    for names in sent:
        assert not names & {"x-client-hop", "keep-alive", "te", "proxy-connection", "trailer"}, names
    assert seen[0].headers["x-api-key"] == "sk-kept"
    for response in (r, probe):
        assert not set(response.headers.keys()) & {"x-upstream-hop", "keep-alive", "proxy-connection"}
        assert response.headers["x-kept"] == "yes"


async def test_a_websocket_upgrade_gets_426_and_is_never_forwarded(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply(doc={})

    world = make_world()
    app = build(world, tmp_path, handler)
    async with Run(app) as http:
        r = await http.get("/openai/v1/responses", headers={"connection": "Upgrade", "upgrade": "websocket",
                                                            "sec-websocket-version": "13"})
        health = (await http.get("/health")).json()
    assert (r.status_code, r.headers["x-costhq-error"], seen, usage(world)) == (426, "websocket_unsupported", [], [])
    assert health["requests"]["websocket"] == 1
