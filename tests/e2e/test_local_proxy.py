"""The real proxy's `/local/<name>/...` route against a fake Ollama and a fake OpenAI-compatible (vLLM)
server, through the real `openai` SDK and a real HTTP client (httpx2): every call is recorded with
the wall time the proxy measured, the tokens the response reported, and cost = time x hourly rate.

Rates: runpod-h100 $2.69/h, vast-a100 $1.17/h (built-in presets). API-equivalent gpt-4o-mini:
$0.15 in, $0.075 cached, $0.60 out per 1M.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from costhq.adapters.proxy.server import ProxyThread, bind, proxy_config
from costhq.bootstrap.main import build_container
from costhq.domain.local_models import compute_cost
from costhq.domain.pricing import PriceSource
from tests.e2e.helpers_local import EVAL, FINAL, PROMPT_EVAL, SERVED, FakeOllama
from tests.e2e.helpers_proxy import FakeUpstream, ServedApp

KEY = "sk-local-NEVER-STORE-77"
MSG = [{"role": "user", "content": "hi"}]
H100, A100 = Decimal("2.69"), Decimal("1.17")


class World:
    def __init__(self, tmp: Path, ollama: FakeOllama, ollama_url: str, vllm: FakeUpstream, vllm_url: str) -> None:
        self.ollama, self.vllm, self.data = ollama, vllm, tmp / "data"
        env = {"HOME": str(tmp), "COSTHQ_HOME": str(self.data), "COSTHQ_OPENAI_UPSTREAM": "http://127.0.0.1:9",
               "COSTHQ_ANTHROPIC_UPSTREAM": "http://127.0.0.1:9"}
        self.c = build_container(env)
        self.cwd = str(tmp)
        self.session = self.c.start_session()(name="local run", cwd=self.cwd).session.id
        add = self.c.add_local_model()
        add(name="llama3", runtime="ollama", hardware="runpod-h100", base_url=ollama_url,
            api_equivalent="openai/gpt-4o-mini")
        add(name="qwen", runtime="vllm", hardware="vast-a100", base_url=vllm_url + "/v1")
        add(name="offline", runtime="other", hardware="vast-a100")
        sock = bind(0)
        self.app = self.c.front_ends().proxy_app(port=sock.getsockname()[1], pinned_session=None,
                                                 config=proxy_config(self.c.settings(), env))
        self.proxy = ProxyThread(self.app, sock)
        self.url = f"http://127.0.0.1:{self.proxy.port}"

    def usage(self) -> list[Any]:
        assert self.app.state.writer.wait_idle(10)
        return self.c.get_session()(cwd=self.cwd, session_id=self.session, detail=True).usage

    def compute(self, usage_id: int) -> Any:
        with self.c.uow()() as uow:
            return uow.local.compute_for(usage_id)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    ollama, vllm = FakeOllama(), FakeUpstream()
    with ServedApp(ollama.app) as o, ServedApp(vllm.app) as v:
        w = World(tmp_path, ollama, o.url, vllm, v.url)
        w.proxy.start()
        try:
            yield w
        finally:
            w.proxy.stop()


def _priced_by_time(w: World, row: Any, rate: Decimal, floor_ms: int) -> None:
    assert row.duration_ms >= floor_ms
    assert (row.price_source, row.cost, row.rates) == (
        PriceSource.LOCAL, compute_cost(row.duration_ms, rate), {"usdPerHour": rate})
    local = w.compute(row.id)
    assert (local.duration_ms, local.cost, local.usd_per_hour) == (row.duration_ms, row.cost, rate)


def test_ollama_native_chat_non_stream_records_eval_counts_and_wall_time(world: World) -> None:
    with httpx2.Client(base_url=world.url) as http:
        r = http.post("/local/llama3/api/chat", json={"model": "llama3:8b", "messages": MSG, "stream": False})
    assert r.status_code == 200 and r.json()["message"]["content"] == "Hello!"
    assert world.ollama.requests[0]["path"] == "/api/chat"
    [row] = world.usage()
    assert (row.provider, row.model, row.served_model, row.tokens.input, row.tokens.output, row.stream,
            row.partial, row.origin.value) == ("ollama", "llama3", SERVED, PROMPT_EVAL, EVAL, False, False, "proxy")
    _priced_by_time(world, row, H100, 50)
    # 26 x $0.15/1M + 298 x $0.60/1M = 0.0000039 + 0.0001788
    assert world.compute(row.id).api_equivalent_cost == Decimal("0.0001827")


def test_ollama_native_generate_ndjson_stream_is_forwarded_line_by_line_and_metered(world: World) -> None:
    with httpx2.Client(base_url=world.url) as http, http.stream(
            "POST", "/local/llama3/api/generate", json={"model": "llama3:8b", "prompt": "hi"}) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert [ln.get("response") for ln in lines] == ["Hel", "lo", "!", ""]
    assert {k: lines[-1][k] for k in FINAL} == FINAL
    [row] = world.usage()
    assert (row.tokens.input, row.tokens.output, row.stream, row.partial) == (PROMPT_EVAL, EVAL, True, False)
    _priced_by_time(world, row, H100, 200)  # four lines, 50 ms apart


def test_ollama_openai_compatible_api_via_the_openai_sdk_stream_and_non_stream(world: World) -> None:
    client = openai.OpenAI(base_url=f"{world.url}/local/llama3/v1", api_key=KEY, max_retries=0)
    done = client.chat.completions.create(model="llama3:8b", messages=MSG)
    assert done.choices[0].message.content == "Hello!"
    chunks = list(client.chat.completions.create(model="llama3:8b", messages=MSG, stream=True))
    # include_usage was injected and its extra chunk dropped again: the SDK sees what it asked for.
    assert [c.choices[0].delta.content for c in chunks] == ["Hel", "lo!", None]
    sent = world.ollama.requests[1]
    assert sent["path"] == "/v1/chat/completions" and sent["body"]["stream_options"] == {"include_usage": True}
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    rows = world.usage()  # Ollama repeats `chatcmpl-7`: both calls are kept (no de-duplication on local ids)
    assert [(u.served_model, u.tokens.input, u.tokens.output, u.stream) for u in rows] == [
        (SERVED, 40, 12, False), (SERVED, 40, 12, True)]
    _priced_by_time(world, rows[0], H100, 0)
    _priced_by_time(world, rows[1], H100, 150)
    # 40 x 0.15 + 12 x 0.60 per 1M
    assert [world.compute(u.id).api_equivalent_cost for u in rows] == [Decimal("0.0000132")] * 2


def test_vllm_openai_compatible_server_with_a_base_path(world: World) -> None:
    client = openai.OpenAI(base_url=f"{world.url}/local/qwen", api_key=KEY, max_retries=0)
    client.chat.completions.create(model="Qwen/Qwen2.5-7B-Instruct", messages=MSG)
    list(client.chat.completions.create(model="Qwen/Qwen2.5-7B-Instruct", messages=MSG, stream=True))
    assert [r["path"] for r in world.vllm.requests] == ["/v1/chat/completions"] * 2
    rows = world.usage()
    # the fake's usage: 1200 prompt tokens of which 200 cached, 300 completion
    assert [(u.provider, u.model, u.tokens.input, u.tokens.cache_read, u.tokens.output, u.stream) for u in rows] == [
        ("vllm", "qwen", 1000, 200, 300, False), ("vllm", "qwen", 1000, 200, 300, True)]
    for row in rows:
        _priced_by_time(world, row, A100, 0)
        assert world.compute(row.id).api_equivalent_cost is None
    summary = world.c.local_compute_report()()
    assert [(g.key, g.calls, g.duration_ms) for g in summary.by_hardware] == [
        ("vast-a100", 2, rows[0].duration_ms + rows[1].duration_ms)]


def test_the_request_never_chooses_the_host(world: World) -> None:
    with httpx2.Client(base_url=world.url) as http:
        unknown = http.post("/local/nobody/api/chat", json={})
        unrouted = http.post("/local/offline/v1/chat/completions", json={})  # registered without a base URL
        escapes = [http.post(p, json={}).status_code for p in (
            "/local/llama3/..%2f..%2fetc", "/local/llama3//evil.example/api/chat",
            "/local/llama3/http://evil.example/api/chat", "/local/..%2fllama3/api/chat")]
        hosted = http.post("/local/llama3/api/chat", json={"stream": False},
                           headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert (unknown.status_code, unknown.headers["x-costhq-error"]) == (404, "not_found")
    assert unrouted.status_code == 404
    assert escapes == [400, 400, 400, 400]
    assert hosted.status_code == 200 and [r["path"] for r in world.ollama.requests] == ["/api/chat"]
    assert len(world.usage()) == 1


def test_a_model_removed_while_the_proxy_runs_is_no_longer_routed(world: World) -> None:
    world.c.remove_local_model()(name="llama3")
    with httpx2.Client(base_url=world.url) as http:
        assert http.post("/local/llama3/api/chat", json={"stream": False}).status_code == 404
    assert world.ollama.requests == []
