"""`cs mcp`: an MCP server over stdio (official `mcp` SDK) exposing CostHQ to agents.

Its tools call the core graph's use cases (given by bootstrap). Every tool returns exactly the JSON
document the matching CLI command prints with `--json` (shared views, same envelope); a
CostHQ error comes back as an MCP tool error whose text is the CLI's JSON error document.
The SDK is imported only when `cs mcp` runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from costhq.adapters._shared import views
from costhq.adapters._shared.version import envelope
from costhq.application.usage import UsageInput
from costhq.domain.errors import CostHQError
from costhq.domain.money import as_json_number, parse_usd
from costhq.domain.numbers import MAX_CALL_COST_USD, MAX_ID, MAX_USD, check_count
from costhq.domain.usage import Origin, TokenCounts


def _guard(fn: Callable[[], dict[str, Any]]) -> Any:
    """The tool's JSON document, or an `is_error` result whose text is exactly the CLI's JSON error
    (raising ToolError would make the SDK prefix the text, breaking `json.loads` for agents)."""
    try:
        return envelope(fn())
    except CostHQError as exc:
        return _error(exc.code, exc.message)
    except ValueError as exc:
        return _error("invalid_argument", str(exc))


def _error(code: str, message: str) -> Any:
    from mcp_types import CallToolResult, TextContent

    text = json.dumps(envelope({"error": {"code": code, "message": message}}))
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _usd(text: str | float | None, name: str, maximum: Decimal = MAX_USD) -> Decimal | None:
    """Amounts by the rules of `costhq.domain.numbers` (ValueError -> invalid_argument)."""
    return None if text is None else parse_usd(text, name=name, maximum=maximum)


def _sid(session_id: int | None) -> int | None:
    """Session ids: 1..2^63-1 (a bigger integer would overflow SQLite's INTEGER)."""
    return None if session_id is None else check_count(session_id, name="session_id", minimum=1, maximum=MAX_ID)


def budget_view(c: Any, session: Any, amount: Decimal | None, limit: Decimal | None) -> dict[str, Any]:
    """Budget standing of a session: the firewall's rules when installed, else `limit` vs session spend."""
    provider = getattr(c, "budget_status", None)
    rules: list[dict[str, Any]] = []
    if provider is not None:
        for st in provider()(session_id=session.id, project=session.working_directory):
            rules.append({"ruleId": getattr(st.rule, "id", None), "limit": as_json_number(st.rule.limit),
                          "spent": as_json_number(st.spent), "left": as_json_number(st.rule.limit - st.spent)})
    lefts = [Decimal(str(r["left"])) for r in rules]
    if limit is not None:
        lefts.append(limit - session.ai_cost)
    left = min(lefts) if lefts else None
    out: dict[str, Any] = {"sessionId": session.id, "spent": as_json_number(session.ai_cost), "rules": rules,
                           "budgetLeft": None if left is None else as_json_number(left)}
    if amount is not None:
        out["amount"] = as_json_number(amount)
        out["canAfford"] = True if left is None else amount <= left
    return out


def pricing_view(c: Any) -> dict[str, Any]:
    """Custom overrides plus the built-in catalogue (USD per 1M tokens)."""
    listing = c.list_prices()()
    custom = [{"key": p.key, "inputPer1M": as_json_number(p.input), "outputPer1M": as_json_number(p.output)}
              for p in listing.custom]
    builtin = [{"key": q.key, "provider": q.provider, "inputPer1M": as_json_number(q.price.input.base),
                "outputPer1M": as_json_number(q.price.output.base)} for q in listing.builtin]
    return envelope({"custom": custom, "builtin": builtin})


def make_server(c: Any) -> Any:
    """The MCP server with CostHQ's tools and the `costhq://pricing` resource."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("costhq", instructions="Track what this task costs: start a session, log AI usage, "
                       "check status and budget, end the session.")

    def here(cwd: str | None) -> str:
        return cwd or os.getcwd()

    @server.tool()
    def session_status(session_id: int | None = None, cwd: str | None = None) -> dict[str, Any]:
        """The active session of the working directory (or one by id) with live totals (`cs status --json`)."""
        return _guard(lambda: views.status_json(
            c.get_session()(cwd=here(cwd), session_id=_sid(session_id)).session, c.clock().now()))

    @server.tool()
    def start_session(name: str, cwd: str | None = None, resume: bool = False,
                      close_stale: bool = False) -> dict[str, Any]:
        """Start a session scoped to the git root of cwd (`cs start --json`)."""
        def run() -> dict[str, Any]:
            r = c.start_session()(name=name, cwd=here(cwd), resume=resume, close_stale=close_stale)
            return {**views.session_json(r.session, c.clock().now()), "resumed": r.resumed,
                    "closedStale": list(r.closed_stale)}
        return _guard(run)

    @server.tool()
    def end_session(notes: str | None = None, session_id: int | None = None,
                    cwd: str | None = None) -> dict[str, Any]:
        """End the active session (or one by id) and return its summary (`cs end --json`)."""
        return _guard(lambda: views.session_json(
            c.end_session()(cwd=here(cwd), session_id=_sid(session_id), notes=notes), c.clock().now()))

    @server.tool()
    def log_ai_usage(provider: str, model: str, prompt_tokens: int = 0, completion_tokens: int = 0,
                     cache_read_tokens: int = 0, cache_write_tokens: int = 0, cost: float | None = None,
                     agent: str | None = None, session_id: int | None = None,
                     cwd: str | None = None) -> dict[str, Any]:
        """Log one AI call; cost is computed from prices unless given (`cs log-ai --json`).
        Token counts are whole numbers 0..10^12; cost is 0..1,000,000 USD."""
        def run() -> dict[str, Any]:
            tokens = TokenCounts(input=check_count(prompt_tokens, name="prompt_tokens"),
                                 output=check_count(completion_tokens, name="completion_tokens"),
                                 cache_read=check_count(cache_read_tokens, name="cache_read_tokens"),
                                 cache_write_5m=check_count(cache_write_tokens, name="cache_write_tokens"))
            call = UsageInput(provider=provider, model=model, tokens=tokens, origin=Origin.MCP, agent=agent,
                              cost=_usd(cost, "cost", MAX_CALL_COST_USD))
            logged = c.log_usage()(call=call, cwd=here(cwd), session_id=_sid(session_id))
            s = logged.session
            return {**views.usage_json(logged.record), "pricing": views.pricing_json(logged.record, logged.quote),
                    "session": {"id": s.id, "aiCost": as_json_number(s.ai_cost), "aiTokens": s.ai_tokens}}
        return _guard(run)

    @server.tool()
    def add_note(message: str, session_id: int | None = None, cwd: str | None = None) -> dict[str, Any]:
        """Add a timestamped annotation to the session (`cs note --json`)."""
        return _guard(lambda: views.annotation_json(
            c.add_note()(message=message, cwd=here(cwd), session_id=_sid(session_id))))

    @server.tool()
    def budget_status(amount: float | None = None, limit: float | None = None, session_id: int | None = None,
                      cwd: str | None = None) -> dict[str, Any]:
        """Budget left for the session; with `amount`, whether it can afford that much more (canAfford).
        `limit` adds an ad-hoc session budget on top of any configured budget rules."""
        def run() -> dict[str, Any]:
            spend, cap = _usd(amount, "amount"), _usd(limit, "limit")
            s = c.get_session()(cwd=here(cwd), session_id=_sid(session_id)).session
            return budget_view(c, s, spend, cap)
        return _guard(run)

    @server.tool()
    def list_sessions(limit: int = 10) -> dict[str, Any]:
        """Recent sessions, newest first (`cs list --json`)."""
        now = c.clock().now()
        return _guard(lambda: {"sessions": [views.session_json(s, now) for s in c.list_sessions()(
            limit=check_count(limit, name="limit", minimum=1, maximum=MAX_ID))]})

    @server.tool()
    def show_session(session_id: int | None = None, cwd: str | None = None) -> dict[str, Any]:
        """A session with its files, commits, AI calls and annotations (`cs show --json`)."""
        def run() -> dict[str, Any]:
            sid = _sid(session_id) or c.latest_session()(cwd=here(cwd))
            d = c.get_session()(cwd=here(cwd), session_id=sid, detail=True)
            out = views.session_json(d.session, c.clock().now())
            out.update(commitCount=d.session.commits, files=[views.file_json(f) for f in d.files],
                       commits=[views.commit_json(x) for x in d.commits],
                       aiUsage=[views.usage_json(u) for u in d.usage],
                       annotations=[views.annotation_json(a) for a in d.annotations])
            return out
        return _guard(run)

    @server.resource("costhq://pricing", name="pricing", mime_type="application/json",
                     description="Model prices in USD per 1M tokens: custom overrides and built-ins.")
    def pricing() -> str:
        return json.dumps(pricing_view(c))

    return server

