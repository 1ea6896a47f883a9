"""Commands that need more than one adapter (proxy, dashboard, run) live here, in bootstrap.

Each group is named with the commands it adds, so `cs <cmd>` imports only the module it runs.
"""

from __future__ import annotations

from costhq.adapters.cli.app import Commands


def extra_registrars() -> list[Commands]:
    """Registrars for bootstrap-owned commands, imported only when one of their commands runs."""
    return [
        Commands(("mcp",), "costhq.bootstrap.mcp_server:register_mcp"),  # issue 7: `cs mcp`
        Commands(("proxy", "run"), "costhq.bootstrap.proxy_commands:register_proxy"),  # issue 3
        Commands(("dashboard", "card"), "costhq.bootstrap.dashboard_commands:register_dashboard"),  # issue 6
        Commands(("skill",), "costhq.bootstrap.skill_commands:register_skill"),  # issue 5: `cs skill path`
    ]
