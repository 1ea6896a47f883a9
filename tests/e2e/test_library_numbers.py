"""The library's numbers (issue 17): `log_ai` arguments in range or refused before anything is stored,
1-hour cache writes priced at their rate, and usage a server gets wrong never breaking the caller."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest

from costhq.agents import AgentSession
from costhq.bootstrap.main import build_container
from costhq.domain.errors import InvalidArgument
from costhq.extensions import TrackedOpenAI, flush

MSG = [{"role": "user", "content": "Hello!"}]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COSTHQ_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("COSTHQ_SESSION_ID", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def _usage(session_id: int) -> list[tuple[Any, ...]]:
    assert flush(timeout=30)
    rows = build_container().get_session()(cwd=os.getcwd(), session_id=session_id, detail=True).usage
    return [(u.tokens.input, u.tokens.cache_read, u.tokens.cache_write_5m, u.tokens.cache_write_1h, u.tokens.output,
             u.cost) for u in rows]


@pytest.mark.parametrize("bad", [
    {"prompt_tokens": -1}, {"prompt_tokens": 2**64}, {"prompt_tokens": True}, {"prompt_tokens": 1.5},
    {"completion_tokens": "١٢"}, {"cache_write_1h_tokens": -4}, {"cache_write_1h_tokens": 10**12 + 1},
    {"tokens": 2**70}, {"cost": 1e-11}, {"cost": 1e9}, {"cost": "٣"}, {"cost": float("nan")}, {"cost": "1e30"},
])
def test_log_ai_refuses_bad_numbers_before_storing_anything(home: Path, bad: dict[str, Any]) -> None:
    with AgentSession("numbers") as s:
        with pytest.raises(InvalidArgument):
            s.log_ai("anthropic", "claude-sonnet-4", **{"prompt_tokens": 10, "completion_tokens": 5, **bad})
        assert _usage(s.id) == [] and s.spent == 0


def test_log_ai_records_one_hour_cache_writes_at_their_rate(home: Path) -> None:
    with AgentSession("cache") as s:
        logged = s.log_ai("anthropic", "claude-sonnet-4", prompt_tokens=1000, cache_write_tokens=2000,
                          cache_write_1h_tokens=4000, completion_tokens=100)
        # 1000 x $3 + 2000 x $3.75 + 4000 x $6 + 100 x $15, per 1M
        assert logged.record.cost == Decimal("0.036")
        assert logged.record.rates["cacheWrite1hPer1M"] == 6
        assert _usage(s.id) == [(1000, 0, 2000, 4000, 100, Decimal("0.036"))]
        s.log_ai("openai", "gpt-4o", "1_000", cost="1e-10")  # exact edge values are kept
        assert s.spent == Decimal("0.0360000001")


def _openai_answering(usage: dict[str, Any]) -> httpx2.Client:
    def answer(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
            "usage": usage, "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": "Hi"}}]})
    return httpx2.Client(transport=httpx2.MockTransport(answer))


def test_negative_usage_from_a_server_never_raises_into_the_call(home: Path) -> None:
    with AgentSession("bad usage") as s:
        client = TrackedOpenAI(api_key="k", session=s, http_client=_openai_answering(
            {"prompt_tokens": -5, "completion_tokens": 10, "total_tokens": 5}))
        reply = client.chat.completions.create(model="gpt-4o", messages=MSG)
        assert reply.choices[0].message.content == "Hi"
        assert _usage(s.id) == [(0, 0, 0, 0, 0, Decimal(0))]  # kept as a call, flagged usage-missing


def test_cached_tokens_beyond_the_prompt_never_over_bill(home: Path) -> None:
    with AgentSession("cached") as s:
        client = TrackedOpenAI(api_key="k", session=s, http_client=_openai_answering(
            {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100,
             "prompt_tokens_details": {"cached_tokens": 1500}}))
        client.chat.completions.create(model="gpt-4o", messages=MSG)
        # 1000 cached x $1.25 + 100 x $10 per 1M (gpt-4o); 1500 cached would have been $0.002875
        assert _usage(s.id) == [(0, 1000, 0, 0, 100, Decimal("0.00225"))]
