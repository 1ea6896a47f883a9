"""`cs mcp`: run the MCP server (adapters/mcp) that the graph's front-end container builds."""

from __future__ import annotations

from typing import Any


def register(app: Any, c: Any) -> None:
    """Add `cs mcp`."""

    @app.command
    def mcp() -> int:
        """Run the CostHQ MCP server over stdio (for Claude Code: `claude mcp add costhq -- cs mcp`)."""
        c.front_ends().mcp_server().run("stdio")
        return 0
