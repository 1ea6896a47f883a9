"""Provider factories of the dashboard block in container.py (adapters imported lazily)."""

from __future__ import annotations

from typing import Any


def queries(db_path: Any) -> Any:
    from costhq.adapters.persistence.apsw_queries import ApswDashboardQueries

    return ApswDashboardQueries(str(db_path))


def data_reset(db_path: Any, settings: Any = None) -> Any:
    from costhq.adapters.persistence.apsw_reset import ApswDataReset
    from costhq.bootstrap.firewall_providers import audit_key

    return ApswDataReset(str(db_path), audit_key=audit_key(settings) if settings is not None else None)


def alerts(set_budget: Any, list_budgets: Any, remove_budget: Any, budget_status: Any) -> Any:
    from costhq.bootstrap.dashboard_alerts import FirewallAlerts

    return FirewallAlerts(set_budget, list_budgets, remove_budget, budget_status)
