"""Builds the dashboard's dependencies from the container (the composition root for `cs dashboard`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from costhq.domain.errors import InvalidArgument


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
        export_rows=container.export_session_rows(),
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
        local=_local_deps(container),  # issue 8
        security=Security.for_bind(host, port),
    )


def _local_deps(container: Any) -> Any:
    """The local-models use cases of the dashboard (issue 8)."""
    from costhq.adapters.http.routes_local import LocalDeps

    return LocalDeps(list_presets=container.list_presets(), set_preset=container.set_preset(),
                     remove_preset=container.remove_preset(), list_models=container.list_local_models(),
                     compute=container.local_compute_report())
