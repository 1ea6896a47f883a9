"""Cross-path golden suite (issue 17): the same calls, recorded through every path, give identical figures.

Each path records into its own session on one real SQLite file: `cs log-ai` (real subprocess), the
real proxy non-stream and stream (real openai/anthropic SDKs against the fake upstream of
tests/e2e/helpers_proxy.py), the library (TrackedOpenAI / TrackedAnthropic straight at the fake
upstream), and the importers (a Claude Code transcript and a Codex rollout written here in the
formats they read). Per call, tokens and cost must be identical to the last digit, and so must each
session's total over the calls its path can express.

Prices (USD per 1M tokens, built-in catalogue + the price-correction overlay):
- gpt-4o (served gpt-4o-2024-08-06): $2.50 in, $1.25 cached, $10 out (reasoning is part of output).
  chat: 1000 x 2.5 + 200 x 1.25 + 300 x 10 = 5750 -> $0.00575 (reasoning: the same, 120 of the 300
  out are reasoning). Responses: 600 x 2.5 + 400 x 1.25 + 500 x 10 = 7000 -> $0.007.
- claude-sonnet-4: $3 in, $0.30 cache read, $3.75 5m write, $6 1h write, $15 out.
  100 x 3 + 2000 x 0.3 + 1000 x 3.75 + 500 x 6 + 250 x 15 = 11400 -> $0.0114.
  Cut after message_start (1 output token seen): 300 + 600 + 3750 + 3000 + 15 = 7665 -> $0.007665.
- claude-sonnet-4 past 200k total input (150000 + 40000 + 10000 + 5000 = 205000): every token pays the
  long-context tier, $6 in, $0.60 read, $7.50 5m, $12 1h, $22.50 out:
  150000 x 6 + 40000 x 0.6 + 10000 x 7.5 + 5000 x 12 + 2000 x 22.5 = 1104000 -> $1.104.

Calls x paths ("-" = left out, by the nature of the path):

| call      | log-ai | proxy | proxy stream | library | claude-code import | codex import |
|-----------|--------|-------|--------------|---------|-------------------|--------------|
| chat      | yes    | yes   | yes          | yes     | - (1)             | yes          |
| responses | yes    | yes   | yes          | yes     | - (1)             | yes          |
| anthropic | yes    | yes   | yes          | yes     | yes               | - (2)        |
| long      | yes    | yes   | yes          | yes     | yes               | - (2)        |
| reasoning | yes    | yes   | yes          | yes     | - (1)             | yes          |
| nousage   | - (3)  | yes   | yes          | yes     | - (4)             | - (4)        |
| cut       | - (5)  | - (6) | yes          | yes (7) | - (8)             | - (8)        |

(1) Claude Code only calls Anthropic. (2) Codex only calls OpenAI. (3) A report by hand states its
usage; it has no "answered without usage" (`cs log-ai` with no tokens is a 0-token call, not flagged).
(4) The agents write a line only for a response with usage. (5) A report by hand is of a finished
call. (6) A non-stream answer is whole or an error. (7) The library's stream, straight at the
upstream. (8) The agents write no line for a stream cut short (they retry the call).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from costhq.adapters.proxy.server import ProxyThread, bind, proxy_config
from costhq.agents import AgentSession
from costhq.bootstrap.main import build_container
from costhq.extensions import TrackedAnthropic, TrackedOpenAI, flush
from tests.e2e.cli_runner import Cs
from tests.e2e.helpers_proxy import ANTHROPIC_USAGE, LONG_USAGE, FakeUpstream, ServedApp

KEY = "sk-test-golden"
MSG = [{"role": "user", "content": "hi"}]
CUT = (httpx2.RemoteProtocolError, anthropic.APIConnectionError)
D = Decimal

# call -> (input, cache_read, cache_write_5m, cache_write_1h, output, reasoning), cost, usage_missing, partial
GOLDEN: dict[str, tuple[tuple[int, ...], Decimal, bool, bool]] = {
    "chat": ((1000, 200, 0, 0, 300, 0), D("0.00575"), False, False),
    "responses": ((600, 400, 0, 0, 500, 100), D("0.007"), False, False),
    "anthropic": ((100, 2000, 1000, 500, 250, 0), D("0.0114"), False, False),
    "long": ((150000, 40000, 10000, 5000, 2000, 0), D("1.104"), False, False),
    "reasoning": ((1000, 200, 0, 0, 300, 120), D("0.00575"), False, False),
    "nousage": ((0, 0, 0, 0, 0, 0), D(0), True, False),
    "cut": ((100, 2000, 1000, 500, 1, 0), D("0.007665"), False, True),
}
ALL = list(GOLDEN)
PATHS: dict[str, list[str]] = {
    "log-ai": ["chat", "responses", "anthropic", "long", "reasoning"],
    "proxy": ["chat", "responses", "anthropic", "long", "reasoning", "nousage"],
    "proxy-stream": ALL,
    "library": ALL,
    "claude-code-import": ["anthropic", "long"],
    "codex-import": ["chat", "responses", "reasoning"],
}
PROVIDER = {"chat": "openai", "responses": "openai", "reasoning": "openai", "anthropic": "anthropic",
            "long": "anthropic"}


def _sdk_calls(oai: openai.OpenAI, ant: anthropic.Anthropic, calls: list[str], stream: bool) -> None:
    """Make each call in order with the real SDKs (stream or not)."""
    for name in calls:
        if name in ("chat", "reasoning", "nousage"):
            model = {"chat": "gpt-4o", "reasoning": "reason-gpt-4o", "nousage": "nousage-gpt-4o"}[name]
            if stream:
                list(oai.chat.completions.create(model=model, messages=MSG, stream=True))
            else:
                oai.chat.completions.create(model=model, messages=MSG)
        elif name == "responses":
            if stream:
                list(oai.responses.create(model="gpt-4o", input="hi", stream=True))
            else:
                oai.responses.create(model="gpt-4o", input="hi")
        elif name == "cut":
            with pytest.raises(CUT):
                list(ant.messages.create(model="cut-claude", max_tokens=5, messages=MSG, stream=True))
        else:
            model = "long-claude" if name == "long" else "claude-sonnet-4"
            if stream:
                list(ant.messages.create(model=model, max_tokens=5, messages=MSG, stream=True))
            else:
                ant.messages.create(model=model, max_tokens=5, messages=MSG)


def _then() -> str:
    """A day before: the agents' own runs, not the calls the proxy and library just captured (an id-less
    Codex line meets a capture with its token classes within 5 minutes: docs/identity.md)."""
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _write(path: Path, docs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))


def _claude_transcript(home: Path, cwd: Path) -> None:
    """A Claude Code transcript: a user line, then per call two assistant lines (a streaming snapshot
    with 1 output token, then the final usage), as Claude Code writes them."""
    base = {"isSidechain": False, "userType": "external", "cwd": str(cwd), "version": "2.0.31",
            "sessionId": "0b9c2a9e-1b4d-4e8a-9c61-2f5d8e0b4a17", "gitBranch": "main"}
    docs: list[dict[str, Any]] = [{**base, "parentUuid": None, "type": "user", "uuid": "u-1", "timestamp": _then(),
                                   "message": {"role": "user", "content": "hi"}}]
    for i, usage in enumerate([ANTHROPIC_USAGE, LONG_USAGE]):
        for j, out in enumerate([1, usage["output_tokens"]]):
            docs.append({**base, "parentUuid": docs[-1]["uuid"], "type": "assistant", "uuid": f"a-{i}-{j}",
                         "timestamp": _then(), "requestId": f"req_golden_{i}", "message": {
                             "id": f"msg_golden_{i}", "type": "message", "role": "assistant",
                             "model": "claude-sonnet-4-20250514", "content": [{"type": "text", "text": "Hi"}],
                             "stop_reason": None, "stop_sequence": None,
                             "usage": {**usage, "output_tokens": out, "service_tier": "standard"}}})
    _write(home / ".claude/projects/-golden/session.jsonl", docs)


def _codex_rollout(home: Path, cwd: Path) -> None:
    """A Codex rollout: session_meta, turn_context, then one token_count event per call (input
    includes the cached tokens; running totals and the call's own usage)."""
    docs: list[dict[str, Any]] = [
        {"timestamp": _then(), "type": "session_meta", "payload": {"id": "golden", "cwd": str(cwd)}},
        {"timestamp": _then(), "type": "turn_context", "payload": {"model": "gpt-4o", "cwd": str(cwd)}}]
    total = [0, 0, 0, 0]
    for name in PATHS["codex-import"]:
        inp, cached, _, _, out, reasoning = GOLDEN[name][0]
        last = [inp + cached, cached, out, reasoning]
        total = [a + b for a, b in zip(total, last, strict=True)]

        def shape(v: list[int]) -> dict[str, int]:
            return {"input_tokens": v[0], "cached_input_tokens": v[1], "output_tokens": v[2],
                    "reasoning_output_tokens": v[3], "total_tokens": v[0] + v[2]}

        docs.append({"timestamp": _then(), "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": shape(total), "last_token_usage": shape(last), "model_context_window": 272000}}})
    _write(home / ".codex/sessions/2026/12/04/rollout-2026-12-04T10-00-00-golden.jsonl", docs)


class Golden:
    """Every path's session id, and the container that reads them back from the SQLite file."""

    def __init__(self, tmp: Path, upstream: str) -> None:
        self.home, self.data, self.work = tmp, tmp / "data", tmp / "work"
        self.work.mkdir()
        env = {"HOME": str(tmp), "COSTHQ_HOME": str(self.data), "COSTHQ_OPENAI_UPSTREAM": upstream,
               "COSTHQ_ANTHROPIC_UPSTREAM": upstream, "COSTHQ_PROXY_READ_TIMEOUT": "10"}
        self.env = env
        self.c = build_container(env)
        self.cs = Cs(home=tmp, data=self.data, cwd=self.work, extra_env=env)
        self.sessions: dict[str, int] = {}
        self.upstream = upstream

    def start(self, name: str) -> int:
        (self.work / name).mkdir()  # a scope per path: one active session each
        self.sessions[name] = self.c.start_session()(name=name, cwd=str(self.work / name)).session.id
        return self.sessions[name]

    def rows(self, path: str) -> list[tuple[Any, ...]]:
        usage = self.c.get_session()(cwd=str(self.work), session_id=self.sessions[path], detail=True).usage
        return [((u.tokens.input, u.tokens.cache_read, u.tokens.cache_write_5m, u.tokens.cache_write_1h,
                  u.tokens.output, u.tokens.reasoning), u.cost, u.usage_missing, u.partial) for u in usage]

    def total(self, path: str) -> Decimal:
        return D(self.c.get_session()(cwd=str(self.work), session_id=self.sessions[path]).session.ai_cost)


def _record_all(g: Golden) -> None:
    # cs log-ai, one real subprocess per call
    sid = g.start("log-ai")
    for name in PATHS["log-ai"]:
        inp, cr, w5, w1, out, reasoning = GOLDEN[name][0]
        g.cs.ok("log-ai", "-p", PROVIDER[name], "-m", "claude-sonnet-4" if PROVIDER[name] == "anthropic" else "gpt-4o",
                "--prompt-tokens", str(inp), "--completion-tokens", str(out), "--cache-read-tokens", str(cr),
                "--cache-write-tokens", str(w5), "--cache-write-1h-tokens", str(w1),
                "--reasoning-tokens", str(reasoning), "--session", str(sid))
    # the real proxy, one per module; each run pins its session with the x-costhq-session header
    sock = bind(0)
    app = g.c.front_ends().proxy_app(port=sock.getsockname()[1], pinned_session=None,
                                     config=proxy_config(g.c.settings(), g.env))
    proxy = ProxyThread(app, sock)
    proxy.start()
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        for path, stream in (("proxy", False), ("proxy-stream", True)):
            headers = {"x-costhq-session": str(g.start(path))}
            oai = openai.OpenAI(base_url=f"{url}/openai/v1", api_key=KEY, max_retries=0, default_headers=headers)
            ant = anthropic.Anthropic(base_url=f"{url}/anthropic", api_key=KEY, max_retries=0, default_headers=headers)
            _sdk_calls(oai, ant, PATHS[path], stream)
        assert app.state.writer.wait_idle(10)
    finally:
        proxy.stop()
    # the library's tracked clients, straight at the upstream (the cut call is its stream)
    with AgentSession("library") as s:
        g.sessions["library"] = s.id
        oai = TrackedOpenAI(base_url=f"{g.upstream}/v1", api_key=KEY, max_retries=0, session=s)
        ant = TrackedAnthropic(base_url=g.upstream, api_key=KEY, max_retries=0, session=s)
        _sdk_calls(oai, ant, PATHS["library"], False)
    assert flush(timeout=30)
    # the importers, each into a session of its own made by the import
    _claude_transcript(g.home, g.work / "claude-code-import")
    _codex_rollout(g.home, g.work / "codex-import")
    for path, source in (("claude-code-import", "claude-code"), ("codex-import", "codex")):
        out = g.cs.ok("import", source)
        assert (out["imported"], out["alreadyCaptured"], len(out["sessions"])) == (len(PATHS[path]), 0, 1), out
        g.sessions[path] = out["sessions"][0]["id"]


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Golden]:
    tmp = tmp_path_factory.mktemp("golden")
    fake = FakeUpstream()
    with ServedApp(fake.app) as upstream, pytest.MonkeyPatch.context() as mp:
        for name, value in {"HOME": str(tmp), "COSTHQ_HOME": str(tmp / "data")}.items():
            mp.setenv(name, value)
        mp.delenv("COSTHQ_SESSION_ID", raising=False)
        g = Golden(tmp, upstream.url)
        mp.chdir(g.work)
        _record_all(g)
        yield g


@pytest.mark.parametrize("path", list(PATHS))
def test_every_call_gives_the_golden_tokens_and_cost_to_the_last_digit(golden: Golden, path: str) -> None:
    assert golden.rows(path) == [GOLDEN[name] for name in PATHS[path]]


@pytest.mark.parametrize("path", list(PATHS))
def test_each_session_total_is_the_sum_of_its_golden_calls(golden: Golden, path: str) -> None:
    assert golden.total(path) == sum((GOLDEN[name][1] for name in PATHS[path]), D(0))


def test_each_call_is_identical_on_every_path_that_can_express_it(golden: Golden) -> None:
    for name in ALL:
        seen = {path: golden.rows(path)[calls.index(name)] for path, calls in PATHS.items() if name in calls}
        assert len(seen) >= 2 and set(seen.values()) == {GOLDEN[name]}, (name, seen)
    assert (golden.data / "sessions.db").is_file() and len(set(golden.sessions.values())) == len(PATHS)
