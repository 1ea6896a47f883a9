"""`cs mcp` driven by a real MCP client session (official `mcp` SDK) over stdio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.e2e.cli_runner import CS, Cs, make_repo

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _doc(result: Any) -> dict[str, Any]:
    return json.loads(result.content[0].text)


async def test_agent_runs_a_whole_session_through_mcp_tools(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    cs = Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=repo)
    (tmp_path / "home").mkdir()
    cs.ok("pricing", "set", "--provider", "anthropic", "claude-test", "3", "15")
    params = StdioServerParameters(command=CS, args=["mcp"], env=cs.env(), cwd=str(repo))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        assert names == {"session_status", "start_session", "end_session", "log_ai_usage", "add_note",
                         "budget_status", "list_sessions", "show_session"}
        started = _doc(await session.call_tool("start_session", {"name": "mcp task"}))
        assert (started["schemaVersion"], started["name"], started["workingDirectory"]) == (1, "mcp task", str(repo))
        logged = _doc(await session.call_tool("log_ai_usage", {
            "provider": "anthropic", "model": "claude-test", "prompt_tokens": 1000, "completion_tokens": 100,
            "agent": "mcp-agent"}))
        assert (logged["cost"], logged["origin"], logged["pricing"]["source"]) == (0.0045, "mcp", "custom")
        note = _doc(await session.call_tool("add_note", {"message": "phase 1"}))
        assert note["message"] == "phase 1"
        status = _doc(await session.call_tool("session_status", {}))
        assert (status["id"], status["aiCost"], status["aiTokens"]) == (started["id"], 0.0045, 1100)
        budget = _doc(await session.call_tool("budget_status", {"amount": 1, "limit": 1}))
        assert (budget["budgetLeft"], budget["canAfford"]) == (0.9955, False)
        ended = _doc(await session.call_tool("end_session", {"notes": "done"}))
        assert (ended["status"], ended["notes"]) == ("completed", "done")
        shown = _doc(await session.call_tool("show_session", {"session_id": started["id"]}))
        assert [a["message"] for a in shown["annotations"]] == ["phase 1"] and len(shown["aiUsage"]) == 1
        listed = _doc(await session.call_tool("list_sessions", {"limit": 5}))
        assert [s["id"] for s in listed["sessions"]] == [started["id"]]
        failed = await session.call_tool("session_status", {})
        assert failed.is_error and json.loads(failed.content[0].text)["error"]["code"] == "no_active_session"
        pricing = await session.read_resource("costhq://pricing")
        prices = json.loads(pricing.contents[0].text)
        assert prices["custom"] == [{"key": "anthropic/claude-test", "inputPer1M": 3, "outputPer1M": 15}]
    # The CLI sees exactly what the MCP tools wrote.
    assert cs.ok("show", str(started["id"]))["aiCost"] == 0.0045


async def test_twenty_concurrent_reports_against_a_tiny_budget_are_all_kept_and_refused_past_it(
        tmp_path: Path) -> None:
    """MCP's `log_ai_usage` reports a call already made (docs/firewall.md, limits of the bound):
    it cannot be admitted first, so none is dropped. The record is kept and every report that
    finds a blocking rule passed gets `budget_exceeded`, telling the agent to stop."""
    import anyio

    repo = tmp_path / "repo"
    make_repo(repo)
    cs = Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=repo)
    (tmp_path / "home").mkdir()
    cs.ok("pricing", "set", "--provider", "anthropic", "claude-test", "3", "15")
    sid = cs.ok("start", "tiny")["id"]
    cs.ok("budget", "set", "session", "0.05", "--session", str(sid))
    params = StdioServerParameters(command=CS, args=["mcp"], env=cs.env(), cwd=str(repo))
    results: list[Any] = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()

        async def report() -> None:  # 2,000 in x $3 + 266 out x $15 per 1M = $0.00999
            results.append(await session.call_tool("log_ai_usage", {
                "provider": "anthropic", "model": "claude-test", "prompt_tokens": 2000, "completion_tokens": 266}))

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(report)
    refused = [json.loads(r.content[0].text)["error"] for r in results if r.is_error]
    assert (len(results), len(refused)) == (20, 15)  # 5 x $0.00999 fit in $0.05; the 6th passes it
    assert {e["code"] for e in refused} == {"budget_exceeded"}
    shown = cs.ok("show", str(sid))
    assert (shown["aiCalls"], shown["aiCost"]) == (20, 0.1998)  # every reported call kept, none twice
