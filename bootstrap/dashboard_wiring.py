"""Builds the dashboard's dependencies from the container (the composition root for `cs dashboard`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from costhq.domain.errors import InvalidArgument

#: Built-in hardware presets (USD per hour) until the local-models feature stores its own.
HARDWARE_PRESETS: list[dict[str, Any]] = [
    {
        "id": "local-rtx-4090",
        "name": "Local RTX 4090",
        "kind": "local GPU",
        "hourlyUsd": 0.12,
        "notes": "~450 W at $0.25/kWh + amortisation",
    },
    {
        "id": "apple-silicon",
        "name": "Apple Silicon (M-series)",
        "kind": "local CPU/GPU",
        "hourlyUsd": 0.03,
        "notes": "~60 W at $0.25/kWh + amortisation",
    },
    {
        "id": "runpod-a100",
        "name": "Cloud A100 80GB (RunPod)",
        "kind": "cloud GPU",
        "hourlyUsd": 1.64,
        "notes": "on-demand community cloud",
    },
    {
        "id": "runpod-h100",
        "name": "Cloud H100 80GB (RunPod)",
        "kind": "cloud GPU",
        "hourlyUsd": 2.79,
        "notes": "on-demand community cloud",
    },
    {
        "id": "vast-a100",
        "name": "Cloud A100 (Vast.ai)",
        "kind": "cloud GPU",
        "hourlyUsd": 1.10,
        "notes": "marketplace median",
    },
    {
        "id": "vast-h100",
        "name": "Cloud H100 (Vast.ai)",
        "kind": "cloud GPU",
        "hourlyUsd": 2.20,
        "notes": "marketplace median",
    },
]


def user_timezone(settings: Any, env: dict[str, str] | None = None) -> Any:
    """`[dashboard] timezone` in config.toml, else $TZ, else the system zone (/etc/localtime), else UTC."""
    env = dict(os.environ) if env is None else env
    name = settings.section("dashboard").get("timezone") or env.get("TZ", "").lstrip(":")
    if not name:
        link = Path("/etc/localtime")
        if link.is_symlink() and "zoneinfo/" in str(link.readlink()):
            name = str(link.readlink()).split("zoneinfo/", 1)[1]
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(f"unknown timezone {name!r} (config.toml [dashboard] timezone or $TZ)") from exc


def build_deps(container: Any, *, host: str, port: int, tz: Any = None) -> Any:
    """DashboardDeps for the real container (or one whose gateways tests overrode with fakes)."""
    from costhq.adapters._shared.stats_card import render_card
    from costhq.adapters.http.deps import DashboardDeps, Security

    tz = tz or user_timezone(container.settings())
    alerts = container.dashboard_alerts()
    fresh = container.start_fresh(clear_alerts=alerts.clear)
    return DashboardDeps(
        clock=container.clock(),
        tz=tz,
        overview=container.get_overview(),
        search_sessions=container.search_sessions(),
        export_sessions=container.export_sessions(),
        get_session=container.get_session(),
        stats=container.get_stats(),
        models=container.get_model_breakdown(),
        insights=container.get_insights(),
        card_stats=container.get_card_stats(),
        render_card=render_card,
        list_prices=container.list_prices(),
        set_price=container.set_custom_price(),
        reset_pricing=container.reset_pricing(),
        start_fresh=fresh,
        watch=container.watch_changes(),
        alerts=alerts,
        hardware=lambda: HARDWARE_PRESETS,
        security=Security.for_bind(host, port),
    )
