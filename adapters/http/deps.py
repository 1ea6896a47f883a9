"""What the HTTP adapter needs from the composition root: use cases, an alerts backend, security.

Bootstrap builds a `DashboardDeps`; tests build one from in-memory adapters. Nothing here
imports another adapter.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import tzinfo
from typing import Any, Protocol

import attrs

from costhq.domain.budgets import BudgetRule, NewBudgetRule, RuleStatus

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class AlertsBackend(Protocol):
    """Budget rules as the Alerts page sees them (the firewall's use cases behind it)."""

    def statuses(self) -> list[RuleStatus]:
        """Every rule with its current spend vs limit."""
        ...

    def add(self, rule: NewBudgetRule) -> BudgetRule: ...
    def remove(self, rule_id: int) -> bool: ...
    def clear(self) -> int: ...


@attrs.frozen(kw_only=True)
class Security:
    """Who may talk to the server.

    Attributes:
        host: the bound address.
        port: the bound port.
        api_token: required on every API call when bound to a non-loopback address.
        csrf_token: required on state-changing calls; embedded in the HTML only on loopback.
    """

    host: str
    port: int
    api_token: str | None = None
    csrf_token: str = attrs.field(factory=lambda: secrets.token_urlsafe(32))

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    @classmethod
    def for_bind(cls, host: str, port: int) -> Security:
        """A random API token is made when (and only when) the bind address is not loopback."""
        return cls(host=host, port=port, api_token=None if host in LOOPBACK_HOSTS else secrets.token_urlsafe(32))


@attrs.frozen(kw_only=True)
class DashboardDeps:
    """Use cases (container providers' instances) the routes call; `tz` is the default zone."""

    clock: Any
    tz: tzinfo
    overview: Any
    search_sessions: Any
    export_sessions: Any
    export_rows: Any  # issue 6: flat rows for the CSV export
    get_session: Any
    stats: Any
    models: Any
    insights: Any
    card_stats: Any
    render_card: Callable[..., bytes]
    list_prices: Any
    set_price: Any
    reset_pricing: Any
    start_fresh: Any
    watch: Any
    alerts: AlertsBackend
    local: Any  # issue 8: routes_local.LocalDeps (hardware presets, local models, compute)
    team: Any  # issue 16: application.team_spend.GetTeamView
    security: Security
