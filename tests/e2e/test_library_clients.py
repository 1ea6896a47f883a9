"""The tracked SDK clients, the real SDKs against a fake upstream with the providers' wire shapes."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from costhq.agents import AgentSession, BudgetExceededError
from costhq.bootstrap.main import build_container
from costhq.extensions import AsyncTrackedAnthropic, AsyncTrackedOpenAI, TrackedAnthropic, TrackedOpenAI
from costhq.wrappers import tracked_claude, tracked_claude_async, tracked_gpt, tracked_gpt_async
from tests.e2e.helpers_library import (
    CHAT_COST,
    CLAUDE_COST,
    EMBED_COST,
    RESPONSES_COST,
    Recorded,
    async_client,
    sync_client,
)

MSG = [{"role": "user", "content": "Hello!"}]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COSTHQ_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def _usage(session_id: int) -> list[tuple]:
    c = build_container()
    rows = c.get_session()(cwd=os.getcwd(), session_id=session_id, detail=True).usage
    return [(u.provider, u.effective_model, u.tokens.input, u.tokens.cache_read, u.tokens.cache_write_5m,
             u.tokens.output, float(u.cost or 0), u.stream, u.partial, u.origin.value) for u in rows]


def test_openai_calls_and_streams_are_recorded_with_exact_tokens_and_cost(home: Path) -> None:
    seen = Recorded()
    with AgentSession("oai") as s:
        client = TrackedOpenAI(api_key="k", http_client=sync_client(seen), session=s)
        assert client.chat.completions.create(model="gpt-4o", messages=MSG).choices[0].message.content == "Hello!"
        assert len(list(client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True))) == 3
        with client.chat.completions.stream(model="gpt-4o", messages=MSG) as helper:
            assert helper.get_final_completion().usage.prompt_tokens == 1200
        client.responses.create(model="gpt-4o", input="hi")
        assert len(list(client.responses.create(model="gpt-4o", input="hi", stream=True))) == 2
        client.embeddings.create(model="text-embedding-3-small", input="hi")
        stream = client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
        next(iter(stream))
        stream.close()  # closed early: recorded as partial with what was seen (no usage yet)
    chat = ("openai", "gpt-4o-2024-08-06", 1000, 200, 0, 300, CHAT_COST)
    resp = ("openai", "gpt-4o-2024-08-06", 1000, 0, 0, 100, RESPONSES_COST)
    assert _usage(s.id) == [
        (*chat, False, False, "library"), (*chat, True, False, "library"), (*chat, True, False, "library"),
        (*resp, False, False, "library"), (*resp, True, False, "library"),
        ("openai", "text-embedding-3-small", 50, 0, 0, 0, EMBED_COST, False, False, "library"),
        ("openai", "gpt-4o-2024-08-06", 0, 0, 0, 0, 0.0, True, True, "library")]
    assert b'"include_usage": true' in seen.requests[1].content.replace(b'":true', b'": true')
    assert float(s.spent) == pytest.approx(3 * CHAT_COST + 2 * RESPONSES_COST + EMBED_COST, abs=1e-12)


def test_anthropic_messages_streams_and_helper_are_recorded(home: Path) -> None:
    seen = Recorded()
    with AgentSession("claude") as s:
        client = TrackedAnthropic(api_key="k", http_client=sync_client(seen), session=s.id)
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)
        assert len(list(client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG,
                                               stream=True))) == 6
        with client.messages.stream(model="claude-sonnet-4", max_tokens=10, messages=MSG) as helper:
            assert helper.get_final_text() == "Hi"
        with client.messages.stream(model="claude-sonnet-4", max_tokens=10, messages=MSG) as helper:
            next(iter(helper))  # left early: input counted, output as seen so far
    full = ("anthropic", "claude-sonnet-4-20250514", 1000, 2000, 400, 500, CLAUDE_COST)
    early_cost = (1000 * 3 + 1 * 15 + 2000 * 0.3 + 400 * 3.75) / 1e6
    assert _usage(s.id) == [(*full, False, False, "library"), (*full, True, False, "library"),
                            (*full, True, False, "library"),
                            ("anthropic", "claude-sonnet-4-20250514", 1000, 2000, 400, 1, early_cost, True, True,
                             "library")]


def test_async_clients_and_wrappers_record_into_the_active_session_of_the_cwd(home: Path) -> None:
    c = build_container()
    sid = c.start_session()(name="active", cwd=os.getcwd()).session.id
    seen = Recorded()

    async def main() -> None:
        oai = AsyncTrackedOpenAI(api_key="k", http_client=async_client(seen))
        await oai.chat.completions.create(model="gpt-4o", messages=MSG)
        async for _ in await oai.chat.completions.create(model="gpt-4o", messages=MSG, stream=True):
            pass
        claude = AsyncTrackedAnthropic(api_key="k", http_client=async_client(seen))
        async with claude.messages.stream(model="claude-sonnet-4", max_tokens=10, messages=MSG) as st:
            await st.get_final_message()
        import anthropic
        import openai

        await tracked_gpt_async(openai.AsyncOpenAI(api_key="k", http_client=async_client(seen)),
                                model="gpt-4o", messages=MSG)
        await tracked_claude_async(anthropic.AsyncAnthropic(api_key="k", http_client=async_client(seen)),
                                   model="claude-sonnet-4", max_tokens=10, messages=MSG)

    anyio.run(main)
    costs = [u[6] for u in _usage(sid)]
    assert costs == [CHAT_COST, CHAT_COST, CLAUDE_COST, CHAT_COST, CLAUDE_COST]


def test_without_a_session_calls_go_to_the_background_api_session(home: Path) -> None:
    import openai

    seen = Recorded()
    tracked_gpt(openai.OpenAI(api_key="k", http_client=sync_client(seen)), model="gpt-4o", messages=MSG)
    import anthropic

    tracked_claude(anthropic.Anthropic(api_key="k", http_client=sync_client(seen)), model="claude-sonnet-4",
                   max_tokens=10, messages=MSG)
    recent = build_container().list_sessions()(limit=5)
    assert [(s.name, s.ai_calls, float(s.ai_cost)) for s in recent] == [
        ("Background API Session", 2, 0.01835)]


def test_a_repeated_request_id_is_recorded_once(home: Path) -> None:
    import httpx2

    def same_id(request: httpx2.Request) -> httpx2.Response:
        response = Recorded()(request)
        return httpx2.Response(200, json=response.json(), headers={"request-id": "req_same"})

    with AgentSession("dup") as s:
        client = TrackedAnthropic(api_key="k", http_client=httpx2.Client(transport=httpx2.MockTransport(same_id)),
                                  session=s)
        for _ in range(2):
            client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)
    assert len(_usage(s.id)) == 1


def test_preflight_budget_refuses_before_sending(home: Path) -> None:
    seen = Recorded()
    s = AgentSession("tight", budget="0.01").start()
    client = TrackedAnthropic(api_key="k", http_client=sync_client(seen), session=s)
    client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)  # $0.0126: now over
    with pytest.raises(BudgetExceededError) as err:
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)
    assert len(seen.requests) == 1
    assert (err.value.spent, err.value.budget, err.value.code) == (Decimal("0.0126"), Decimal("0.01"),
                                                                   "budget_exceeded")
    assert s.end().ai_calls == 1
