"""Issue 14: the reservation bound of docs/firewall.md, measured per capture path with exact figures.

Every path runs the same three bursts of 20 concurrent `gpt-4o` calls (`max_tokens` 1000, the
body `{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o","max_tokens":1000}`: 46 bytes
of text, 12 tokens) against a $0.05 session budget, each burst on a fresh session. The gated fake
upstream holds every call until all 20 are decided, so no call completes (and teaches the
estimate) inside a burst: the number admitted is exact.

1. Never seen: expected = 12 x $2.50/M + min(1000, 4,096) x $10/M = $0.01003; 4 fit ($0.04012).
   Each is billed 1,000 + 200 cached in, 300 out = $0.00575: spend $0.023, nothing past the limit.
2. Learned from those calls: input ratio 91.67 (billed input over the full-rate estimate of its
   12 tokens), output 300: expected = $0.00575 = the bill; 8 fit; spend $0.046.
3. The upstream now bills 600 output tokens ($0.00875) while the estimate still says $0.00575:
   8 are admitted and spend $0.07, $0.02 past the limit. The bound: at most the sum over the calls
   in flight at the last admission of (billed - reserved) = 8 x $0.003 = $0.024.
   Then the budget is spent: the next call is refused before it is sent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from costhq.adapters.library.agents import AgentSession
from costhq.adapters.library.budget import BudgetExceededError
from costhq.adapters.library.tracked_openai import AsyncTrackedOpenAI, TrackedOpenAI
from costhq.adapters.library.writer import flush
from costhq.bootstrap.main import build_container
from tests.e2e.cli_runner import Cs
from tests.e2e.helpers_budget import GatedUpstream
from tests.e2e.helpers_firewall import make_cs
from tests.e2e.helpers_proxy import ServedApp
from tests.e2e.test_proxy_sdks import KEY, World

LIMIT = Decimal("0.05")
MSG = [{"role": "user", "content": "hi"}]
D = Decimal
# (admitted, spend, past the limit, the bound: sum of (billed - reserved) of the calls in flight)
BURSTS = [(4, D("0.023"), D(0), D(0)), (8, D("0.046"), D(0), D(0)), (8, D("0.07"), D("0.02"), D("0.024"))]


@pytest.fixture
def fake() -> Iterator[tuple[GatedUpstream, str]]:
    upstream = GatedUpstream()
    with ServedApp(upstream.app) as served:
        yield upstream, served.url


def _burst(fake: GatedUpstream, call: Callable[[], bool]) -> int:
    """20 threads at once; `call` returns False when refused. Returns how many were admitted."""
    fake.reset()
    admitted: list[bool] = []

    def one() -> None:
        ok = call()
        if not ok:
            fake.note_refused()
        admitted.append(ok)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    assert fake.decided(20)
    fake.release()
    for t in threads:
        t.join(60)
    assert len(admitted) == 20
    return admitted.count(True)


def _check(spend: Decimal, admitted: int, burst: int) -> None:
    want_admitted, want_spend, want_past, bound = BURSTS[burst]
    past = max(D(0), spend - LIMIT)
    assert (admitted, spend, past) == (want_admitted, want_spend, want_past)
    assert past <= bound


def _billing(fake: GatedUpstream, burst: int) -> None:
    fake.openai_usage = {**fake.openai_usage, "completion_tokens": 600 if burst == 2 else 300}


def test_proxy_twenty_concurrent_calls_stay_within_the_bound(tmp_path: Path,
                                                             fake: tuple[GatedUpstream, str]) -> None:
    gate, url = fake
    w = World(tmp_path, gate, url)  # type: ignore[arg-type]
    w.proxy.start()
    try:
        for burst in range(3):
            _billing(gate, burst)
            work = tmp_path / f"b{burst}"
            work.mkdir()
            sid = w.c.start_session()(name=f"burst {burst}", cwd=str(work)).session.id
            w.c.set_budget()(scope="session", limit=LIMIT, session_id=sid)
            client = openai.OpenAI(base_url=f"{w.url}/openai/v1", api_key=KEY, max_retries=0,
                                   default_headers={"x-costhq-session": str(sid)})

            def call(client: openai.OpenAI = client) -> bool:
                try:
                    client.chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=1000)  # type: ignore[arg-type]
                    return True
                except openai.APIStatusError as exc:
                    assert exc.status_code == 402 and exc.response.headers["x-costhq-error"] == "budget_exceeded"
                    return False

            admitted = _burst(gate, call)
            assert w.app.state.writer.wait_idle(10)
            spend = w.c.get_session()(cwd=".", session_id=sid).session.ai_cost
            _check(spend, admitted, burst)
        assert call() is False  # spent: refused before anything is sent
        assert w.c.budget_status()()[-1].reserved == 0  # every hold released; the refusal shrank the lease
    finally:
        w.proxy.stop()


def _agent(tmp_path: Path, url: str, burst: int) -> tuple[AgentSession, dict[str, str]]:
    env = {"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")}
    work = tmp_path / f"b{burst}"
    work.mkdir()
    return AgentSession(f"burst {burst}", budget=LIMIT, directory=work, watch_files=False,
                        container=build_container(env)).start(), env


def test_library_sync_twenty_concurrent_calls_stay_within_the_bound(tmp_path: Path,
                                                                    fake: tuple[GatedUpstream, str]) -> None:
    gate, url = fake
    for burst in range(3):
        _billing(gate, burst)
        agent, _env = _agent(tmp_path, url, burst)
        client = TrackedOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, session=agent)

        def call(client: TrackedOpenAI = client) -> bool:
            try:
                client.chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=1000)  # type: ignore[arg-type]
                return True
            except BudgetExceededError:
                return False

        admitted = _burst(gate, call)
        assert flush()
        _check(agent.status().ai_cost, admitted, burst)
        if burst == 2:
            assert call() is False
        agent.end()


def test_library_async_twenty_concurrent_calls_stay_within_the_bound(tmp_path: Path,
                                                                     fake: tuple[GatedUpstream, str]) -> None:
    """The issue's case: `AsyncTrackedOpenAI` with a $0.05 budget used to send all 20 calls ($0.202)."""
    gate, url = fake

    async def burst_of(client: AsyncTrackedOpenAI) -> int:
        gate.reset()

        async def one() -> bool:
            try:
                await client.chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=1000)  # type: ignore[arg-type]
                return True
            except BudgetExceededError:
                gate.note_refused()
                return False

        async def opener() -> None:
            assert await asyncio.to_thread(gate.decided, 20)
            gate.release()

        results = await asyncio.gather(*(one() for _ in range(20)), opener())
        return sum(1 for r in results[:20] if r)

    for burst in range(3):
        _billing(gate, burst)
        agent, _env = _agent(tmp_path, url, burst)
        client = AsyncTrackedOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, session=agent)
        admitted = asyncio.run(burst_of(client))
        assert flush()
        _check(agent.status().ai_cost, admitted, burst)
        agent.end()


_CHILD = """
import json, sys, threading, httpx, openai
fake, out = sys.argv[1], sys.argv[2]
client = openai.OpenAI(api_key="sk-test", max_retries=0)  # OPENAI_BASE_URL from `cs run`
codes = []
def one():
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=1000)
        codes.append(200)
    except openai.APIStatusError as exc:
        codes.append(exc.status_code)
        httpx.post(fake + "/refused")
threads = [threading.Thread(target=one) for _ in range(20)]
for t in threads: t.start()
for t in threads: t.join()
open(out, "w").write(json.dumps(codes))
"""


def _cs_run(tmp_path: Path, url: str, *args: str) -> tuple[Cs, Any]:
    cs = make_cs(tmp_path, COSTHQ_OPENAI_UPSTREAM=url, COSTHQ_ANTHROPIC_UPSTREAM=url)
    r = cs("run", "--budget", *args)
    assert r.code == 0, r.stderr
    return cs, cs.ok("list")["sessions"][0]


def test_cs_run_twenty_concurrent_calls_stay_within_the_bound(tmp_path: Path,
                                                              fake: tuple[GatedUpstream, str]) -> None:
    gate, url = fake
    gate.reset(expect=20)  # the child reports its refusals: the gate opens once all 20 are decided
    child, out = tmp_path / "child.py", tmp_path / "codes.json"
    child.write_text(_CHILD)
    _cs, session = _cs_run(tmp_path, url, "0.05", "--", sys.executable, str(child), url, str(out))
    codes = json.loads(out.read_text())
    _check(D(str(session["aiCost"])), codes.count(200), 0)
    assert sorted(set(codes)) == [200, 402]


_CLAUDE_CODE = """
import json, os, sys, httpx
body, out = open(sys.argv[1], "rb").read(), sys.argv[2]
url = os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages"  # as the SDK builds it from the base URL
headers = {"content-type": "application/json", "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01",
           "user-agent": "claude-cli/2.0.14 (external, cli)"}
codes, error = [], None
with httpx.Client(timeout=30) as client:
    while len(codes) < 60:
        with client.stream("POST", url, content=body, headers=headers) as r:
            r.read()
        codes.append(r.status_code)
        if r.status_code != 200:
            error = r.json()["error"]
            break
open(out, "w").write(json.dumps({"codes": codes, "error": error}))
"""
FIXTURE = Path(__file__).parents[1] / "fixtures" / "claude_code_opus_request.json"


def test_cs_run_budget_1_admits_claude_code_opus_calls_and_blocks_once_spent(
        tmp_path: Path, fake: tuple[GatedUpstream, str]) -> None:
    """Claude Code's request shape: Opus, `max_tokens` 64000, a 100 KB system prompt and tools,
    streaming. Its worst case ($1.72 at 64,000 output tokens) used to refuse the first call.

    Each call is billed like a real cached turn: 10 in, 28,000 cache read, 1,500 cache write,
    400 out on claude-opus-4-6 ($5 / $0.50 / $6.25 / $25 per 1M) = $0.033425. The first three
    reserve 24,453 estimated input tokens at full rate + 4,096 default output tokens = $0.224665;
    from then on the learned estimate is the bill, so calls run until the 30th would pass $1.
    Turns follow each other at once, as an agent's do: a turn may start before the proxy has
    stored the previous ones, which then count what they cost (metered), not their estimates.
    """
    gate, url = fake
    gate.gated = False
    doc = json.loads(FIXTURE.read_text())
    assert (doc["model"], doc["max_tokens"], doc["stream"], len(FIXTURE.read_bytes()) > 100_000) == (
        "claude-opus-4-6", 64_000, True, True)
    child, out = tmp_path / "claude.py", tmp_path / "codes.json"
    child.write_text(_CLAUDE_CODE)
    _cs, session = _cs_run(tmp_path, url, "1", "--", sys.executable, str(child), str(FIXTURE), str(out))
    result = json.loads(out.read_text())
    assert result["codes"] == [200] * 29 + [402]  # the first call is admitted; the 30th is refused
    assert (result["error"]["code"], result["error"]["details"]["expected"]) == ("budget_exceeded", 0.033425)
    assert (session["aiCalls"], D(str(session["aiCost"]))) == (29, D("0.969325"))
    assert gate.arrived == 29  # the refused call never reached the upstream
