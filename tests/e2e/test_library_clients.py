"""The tracked SDK clients: the real SDKs against a fake upstream with the providers' wire shapes."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import anthropic
import anyio
import httpx2
import openai
import pytest

from costhq.agents import AgentSession, BudgetExceededError
from costhq.bootstrap.main import build_container
from costhq.extensions import AsyncTrackedAnthropic, AsyncTrackedOpenAI, TrackedAnthropic, TrackedOpenAI, flush
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
LIB = "library"
CHAT = ("openai", "gpt-4o-2024-08-06", 1000, 200, 0, 300, CHAT_COST)
RESP = ("openai", "gpt-4o-2024-08-06", 1000, 0, 0, 100, RESPONSES_COST)
CLAUDE = ("anthropic", "claude-sonnet-4-20250514", 1000, 2000, 400, 500, CLAUDE_COST)
# A Claude stream left after message_start: input and cache classes, 1 output token so far.
CLAUDE_EARLY = ("anthropic", "claude-sonnet-4-20250514", 1000, 2000, 400, 1, Decimal("0.005115"))
NOTHING_SEEN = ("openai", "gpt-4o", 0, 0, 0, 0, Decimal(0))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COSTHQ_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("COSTHQ_SESSION_ID", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def _usage(session_id: int) -> list[tuple]:
    assert flush(timeout=30)
    rows = build_container().get_session()(cwd=os.getcwd(), session_id=session_id, detail=True).usage
    return [(u.provider, u.effective_model, u.tokens.input, u.tokens.cache_read, u.tokens.cache_write_5m,
             u.tokens.output, u.cost, u.stream, u.partial, u.origin.value) for u in rows]


def test_openai_calls_streams_and_helpers_are_recorded_with_exact_tokens_and_cost(home: Path) -> None:
    seen = Recorded()
    with AgentSession("oai") as s:
        client = TrackedOpenAI(api_key="k", http_client=sync_client(seen), session=s)
        assert client.chat.completions.create(model="gpt-4o", messages=MSG).choices[0].message.content == "Hello!"
        assert len(list(client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True))) == 3
        with client.chat.completions.stream(model="gpt-4o", messages=MSG) as helper:
            assert helper.get_final_completion().usage.prompt_tokens == 1200
        assert client.chat.completions.parse(model="gpt-4o", messages=MSG).usage.total_tokens == 1500
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MSG)
        assert raw.parse().choices[0].message.content == "Hello!"
        client.responses.create(model="gpt-4o", input="hi")
        assert len(list(client.responses.create(model="gpt-4o", input="hi", stream=True))) == 2
        with client.responses.stream(model="gpt-4o", input="hi") as helper:
            assert helper.get_final_response().usage.output_tokens == 100
        client.embeddings.create(model="text-embedding-3-small", input="hi")
        stream = client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
        next(iter(stream))
        stream.close()  # closed early: recorded as partial with what was seen (no usage yet)
        assert s.spent == 5 * CHAT_COST + 3 * RESPONSES_COST + EMBED_COST  # before the writer caught up
    assert _usage(s.id) == [
        (*CHAT, False, False, LIB), (*CHAT, True, False, LIB), (*CHAT, True, False, LIB),
        (*CHAT, False, False, LIB), (*CHAT, False, False, LIB),
        (*RESP, False, False, LIB), (*RESP, True, False, LIB), (*RESP, True, False, LIB),
        ("openai", "text-embedding-3-small", 50, 0, 0, 0, EMBED_COST, False, False, LIB),
        ("openai", "gpt-4o-2024-08-06", 0, 0, 0, 0, Decimal(0), True, True, LIB)]
    # The client asks for usage in streamed chat completions (OpenAI's last chunk, `choices: []`).
    assert b'"include_usage":true' in seen.requests[1].content.replace(b" ", b"")
    assert s.end().ai_cost == Decimal("0.0392510")


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
        client.messages.parse(model="claude-sonnet-4", max_tokens=10, messages=MSG)
        stream = client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG, stream=True)
        next(iter(stream))
        stream.close()
    assert _usage(s.id) == [(*CLAUDE, False, False, LIB), (*CLAUDE, True, False, LIB), (*CLAUDE, True, False, LIB),
                            (*CLAUDE_EARLY, True, True, LIB), (*CLAUDE, False, False, LIB),
                            (*CLAUDE_EARLY, True, True, LIB)]


def test_interleaved_stream_helpers_each_record_their_own_stream(home: Path) -> None:
    with AgentSession("nested") as s:
        client = TrackedOpenAI(api_key="k", http_client=sync_client(Recorded()), session=s)
        with client.chat.completions.stream(model="gpt-4o", messages=MSG) as outer:
            next(iter(outer))  # outer left early, before its usage chunk
            with client.chat.completions.stream(model="gpt-4o", messages=MSG) as inner:
                inner.until_done()
    assert _usage(s.id) == [(*CHAT, True, False, LIB), ("openai", "gpt-4o-2024-08-06", 0, 0, 0, 0, Decimal(0),
                                                        True, True, LIB)]


def test_async_clients_and_wrappers_record_into_the_active_session_of_the_cwd(home: Path) -> None:
    sid = build_container().start_session()(name="active", cwd=os.getcwd()).session.id
    seen = Recorded()

    async def main() -> None:
        oai = AsyncTrackedOpenAI(api_key="k", http_client=async_client(seen))
        await oai.chat.completions.create(model="gpt-4o", messages=MSG)
        async for _ in await oai.chat.completions.create(model="gpt-4o", messages=MSG, stream=True):
            pass
        async with oai.chat.completions.stream(model="gpt-4o", messages=MSG) as helper:
            await helper.until_done()
        early = await oai.chat.completions.create(model="gpt-4o", messages=MSG, stream=True)
        await early.__anext__()
        await early.close()
        claude = AsyncTrackedAnthropic(api_key="k", http_client=async_client(seen))
        async with claude.messages.stream(model="claude-sonnet-4", max_tokens=10, messages=MSG) as st:
            await st.get_final_message()
        async for _ in await claude.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG,
                                                    stream=True):
            pass
        await tracked_gpt_async(openai.AsyncOpenAI(api_key="k", http_client=async_client(seen)),
                                model="gpt-4o", messages=MSG)
        await tracked_claude_async(anthropic.AsyncAnthropic(api_key="k", http_client=async_client(seen)),
                                   model="claude-sonnet-4", max_tokens=10, messages=MSG)
        # The plain wrapper given an async client hands back the awaitable.
        await tracked_gpt(openai.AsyncOpenAI(api_key="k", http_client=async_client(seen)), model="gpt-4o",
                          messages=MSG)

    anyio.run(main)
    early = ("openai", "gpt-4o-2024-08-06", 0, 0, 0, 0, Decimal(0), True, True, LIB)
    assert _usage(sid) == [(*CHAT, False, False, LIB), (*CHAT, True, False, LIB), (*CHAT, True, False, LIB), early,
                           (*CLAUDE, True, False, LIB), (*CLAUDE, True, False, LIB), (*CHAT, False, False, LIB),
                           (*CLAUDE, False, False, LIB), (*CHAT, False, False, LIB)]


def test_without_a_session_calls_go_to_the_background_api_session(home: Path) -> None:
    seen = Recorded()
    tracked_gpt(openai.OpenAI(api_key="k", http_client=sync_client(seen)), model="gpt-4o", messages=MSG)
    tracked_claude(anthropic.Anthropic(api_key="k", http_client=sync_client(seen)), model="claude-sonnet-4",
                   max_tokens=10, messages=MSG)
    assert flush(timeout=30)
    recent = build_container().list_sessions()(limit=5)
    assert [(s.name, s.status.value, s.ai_calls, s.ai_cost) for s in recent] == [
        ("Background API Session", "active", 2, Decimal("0.01835"))]


def test_the_session_of_cs_run_is_taken_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = build_container()
    run_sid = c.start_session()(name="cs run child", cwd=str(home)).session.id
    c.start_session()(name="this scope", cwd=os.getcwd())
    monkeypatch.setenv("COSTHQ_SESSION_ID", str(run_sid))
    TrackedOpenAI(api_key="k", http_client=sync_client(Recorded())).chat.completions.create(model="gpt-4o",
                                                                                          messages=MSG)
    assert _usage(run_sid) == [(*CHAT, False, False, LIB)]


def test_a_repeated_upstream_request_id_never_drops_a_call(home: Path) -> None:
    """Gateways repeat `request-id` / `x-request-id`: 20 calls are 20 records, each with its own key."""
    def same_id(request: httpx2.Request) -> httpx2.Response:
        response = Recorded()(request)
        header = "x-request-id" if request.url.path.endswith("/chat/completions") else "request-id"
        return httpx2.Response(200, json=response.json(), headers={header: "req_same"})

    with AgentSession("dup") as s:
        http = httpx2.Client(transport=httpx2.MockTransport(same_id))
        claude = TrackedAnthropic(api_key="k", http_client=http, session=s)
        gpt = TrackedOpenAI(api_key="k", http_client=http, session=s)
        for _ in range(10):
            claude.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)
            gpt.chat.completions.create(model="gpt-4o", messages=MSG)
    assert flush(timeout=30)
    rows = build_container().get_session()(cwd=os.getcwd(), session_id=s.id, detail=True).usage
    assert len(rows) == 20 and {r.upstream_request_id for r in rows} == {"req_same"}
    assert len({r.call_key for r in rows}) == 20 and all((r.call_key or "").startswith("lib:") for r in rows)
    assert (s.spent, s.status().ai_calls) == (10 * CLAUDE_COST + 10 * CHAT_COST, 20)


def test_preflight_budget_refuses_before_sending(home: Path) -> None:
    seen = Recorded()
    s = AgentSession("tight", budget="0.01").start()
    client = TrackedAnthropic(api_key="k", http_client=sync_client(seen), session=s)
    client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)  # $0.0126: now over
    with pytest.raises(BudgetExceededError) as err:
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)
    with pytest.raises(BudgetExceededError):
        client.messages.stream(model="claude-sonnet-4", max_tokens=10, messages=MSG)
    oai = TrackedOpenAI(api_key="k", http_client=sync_client(seen), session=s)
    with pytest.raises(BudgetExceededError), oai.chat.completions.stream(model="gpt-4o", messages=MSG):
        pass
    assert len(seen.requests) == 1
    e = err.value
    assert (e.spent, e.budget, e.attempted, e.code) == (CLAUDE_COST, Decimal("0.01"), Decimal(0), "budget_exceeded")
    assert s.end().ai_calls == 1


def test_a_firewall_refusal_makes_the_next_call_refuse_before_sending_until_the_limit_is_raised(home: Path) -> None:
    c = build_container()
    sid = c.start_session()(name="budgeted", cwd=os.getcwd()).session.id
    rule = c.set_budget()(scope="session", limit=Decimal("0.02"), session_id=sid)
    seen = Recorded()
    client = TrackedAnthropic(api_key="k", http_client=sync_client(seen), session=sid)
    for _ in range(2):  # $0.0126, then $0.0252: the second crosses and is stored
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)
    assert flush(timeout=30)
    with pytest.raises(BudgetExceededError) as err:
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)
    assert (err.value.spent, err.value.budget, err.value.details["rule_id"], len(seen.requests)) == (
        Decimal("0.0252"), Decimal("0.02"), rule.id, 2)
    c.remove_budget()(rule_id=rule.id)
    client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=MSG)
    assert len(_usage(sid)) == 3
