"""`cs statusline`: one short line for a shell prompt or Claude Code's statusline.

Fast by construction: two indexed reads, no rich, no pricing catalogue, no pygit2. Claude Code
pipes its own JSON (with `cwd` / `workspace.current_dir`) on stdin; it is used when present.
"""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal
from typing import Any

from cyclopts import App

from costhq.adapters.cli.output import emit_json, say
from costhq.adapters.cli.params import Json
from costhq.domain.money import as_json_number, format_usd


def _stdin_cwd() -> str | None:
    if sys.stdin is None or sys.stdin.isatty():
        return None
    try:
        data = json.loads(sys.stdin.read() or "{}")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    ws = data.get("workspace")
    cwd = (ws.get("current_dir") if isinstance(ws, dict) else None) or data.get("cwd")
    return cwd if isinstance(cwd, str) else None


def budget_left(c: Any, session: Any) -> Decimal | None:
    """Smallest headroom over the budget rules that count this session (None without the firewall)."""
    provider = getattr(c, "budget_status", None)
    if provider is None or session is None:
        return None
    statuses = provider()(session_id=session.id, project=session.working_directory)
    lefts = [s.rule.limit - s.spent - s.reserved for s in statuses]
    return min(lefts) if lefts else None


def register(app: App, c: Any) -> None:
    """Add `statusline` to `app`."""

    @app.command
    def statusline(*, json_: Json = False) -> int:
        """Print one short line: active session, its cost, burn rate, budget left."""
        line = c.status_line()(cwd=_stdin_cwd() or os.getcwd())
        s, b = line.session, line.block
        left = budget_left(c, s)
        if json_:
            sj = None if s is None else {"id": s.id, "name": s.name, "aiCost": as_json_number(s.ai_cost)}
            emit_json({"session": sj,
                       "burnRatePerHour": as_json_number(b.burn_rate) if b else 0,
                       "blockCost": as_json_number(b.cost) if b else 0,
                       "budgetLeft": None if left is None else as_json_number(left)})
            return 0
        parts = [f"#{s.id} {s.name[:24]} {format_usd(s.ai_cost)}" if s else "no session"]
        if b is not None:
            parts.append(f"{format_usd(b.burn_rate)}/h")
        if left is not None:
            parts.append(f"{format_usd(max(left, Decimal(0)))} left" if left >= 0 else "over budget")
        say("💰 " + " · ".join(parts))
        return 0
