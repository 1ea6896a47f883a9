"""Commands that need more than one adapter (proxy, dashboard, run) live here, in bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def extra_registrars() -> list[Callable[[Any, Any], None]]:
    """Registrars for bootstrap-owned commands."""
    from costhq.bootstrap.dashboard_commands import register_dashboard  # issue 6: `cs dashboard`, `cs card`
    from costhq.bootstrap.mcp_server import register_mcp  # issue 7: `cs mcp`
    from costhq.bootstrap.proxy_commands import register_proxy  # issue 3: `cs proxy`, `cs run`
    from costhq.bootstrap.skill_commands import register_skill  # issue 5: `cs skill path`

    return [register_mcp, register_proxy, register_dashboard, register_skill]
