"""MCP tool arguments follow the CLI's number ranges (issue 17): out of range is the CLI's
`invalid_argument` error document and nothing is written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.e2e.cli_runner import CS, Cs, make_repo

pytestmark = pytest.mark.anyio
BASE = {"provider": "anthropic", "model": "claude-sonnet-4", "prompt_tokens": 10, "completion_tokens": 5}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_out_of_range_numbers_are_invalid_argument_and_write_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    cs = Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=repo)
    (tmp_path / "home").mkdir()
    sid = cs.ok("start", "mcp")["id"]
    bad_calls: list[tuple[str, dict[str, Any]]] = [
        ("log_ai_usage", {**BASE, "prompt_tokens": 2**64}),
        ("log_ai_usage", {**BASE, "prompt_tokens": -1}),
        ("log_ai_usage", {**BASE, "completion_tokens": 10**12 + 1}),
        ("log_ai_usage", {**BASE, "cost": 1e30}),
        ("log_ai_usage", {**BASE, "cost": 1e9}),
        ("log_ai_usage", {**BASE, "cost": 1e-11}),
        ("log_ai_usage", {**BASE, "session_id": 2**63}),
        ("session_status", {"session_id": 0}),
        ("budget_status", {"amount": -1}),
        ("budget_status", {"limit": 1e30}),
        ("list_sessions", {"limit": 2**64}),
    ]
    params = StdioServerParameters(command=CS, args=["mcp"], env=cs.env(), cwd=str(repo))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for tool, args in bad_calls:
            result = await session.call_tool(tool, args)
            doc = json.loads(result.content[0].text)
            assert result.is_error and doc["error"]["code"] == "invalid_argument", (tool, args, doc)
            assert doc["schemaVersion"] == 1
        unicode = await session.call_tool("log_ai_usage", {**BASE, "prompt_tokens": "٣"})
        assert unicode.is_error  # refused by the SDK's own argument validation, never read as 3
        edge = json.loads((await session.call_tool("log_ai_usage", {**BASE, "cost": 1e-10})).content[0].text)
        assert (edge["cost"], edge["session"]["id"]) == (1e-10, sid)
    with sqlite3.connect(cs.data / "sessions.db") as db:
        assert db.execute("SELECT COUNT(*) FROM ai_usage").fetchone()[0] == 1
