"""Issue 4 wiring helpers: the audit key, the firewall policy (zone, unpriced policy) from config.

Config (`config.toml`):
    [firewall]  unpriced = "allow" | "block";  reservation_ttl_seconds = 600
    [budgets]   timezone = "Europe/Paris"      (default: the system zone)
    [audit]     key = "..."                    (COSTHQ_AUDIT_KEY wins; enables HMAC-SHA-256)
"""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from costhq.application.budgets import FirewallPolicy
from costhq.domain.errors import InvalidArgument


def audit_key(settings: Any) -> bytes | None:
    """`COSTHQ_AUDIT_KEY`, else `[audit] key`, else None (plain SHA-256 chain)."""
    key = os.environ.get("COSTHQ_AUDIT_KEY") or settings.section("audit").get("key")
    return str(key).encode("utf-8") if key else None


def _system_zone() -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:  # /etc/localtime -> .../zoneinfo/Area/City gives a DST-aware zone
            target = str(Path("/etc/localtime").resolve())
            name = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
        except OSError:
            name = ""
    try:
        return ZoneInfo(name) if name else _fixed_local()
    except (ZoneInfoNotFoundError, ValueError):
        return _fixed_local()


def _fixed_local() -> tzinfo:
    return datetime.now().astimezone().tzinfo or _utc()


def _utc() -> tzinfo:
    from datetime import UTC

    return UTC


def firewall_policy(settings: Any) -> FirewallPolicy:
    """The policy from config; a bad zone or policy value is an error, never ignored."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    fw, budgets = settings.section("firewall"), settings.section("budgets")
    unpriced = str(fw.get("unpriced", "allow"))
    if unpriced not in ("allow", "block"):
        raise InvalidArgument(f'[firewall] unpriced must be "allow" or "block", not {unpriced!r}')
    zone_name = budgets.get("timezone")
    try:
        tz = ZoneInfo(str(zone_name)) if zone_name else _system_zone()
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(f"[budgets] timezone {zone_name!r} is not a known zone") from exc
    return FirewallPolicy(tz=tz, block_unpriced=unpriced == "block",
                          reservation_ttl_s=int(fw.get("reservation_ttl_seconds", 600)))


def usage_firewall(policy: FirewallPolicy) -> Any:
    from costhq.application.firewall import UsageFirewall

    return UsageFirewall(policy)


def firewall_guard(uow: Any, clock: Any, prices: Any, policy: FirewallPolicy) -> Any:
    from costhq.application.firewall import FirewallGuard

    return FirewallGuard(uow, clock, prices, policy)
