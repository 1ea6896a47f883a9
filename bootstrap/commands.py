"""Commands that need more than one adapter (proxy, dashboard, run) live here, in bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def extra_registrars() -> list[Callable[[Any, Any], None]]:
    """Registrars for bootstrap-owned commands."""
    return []
