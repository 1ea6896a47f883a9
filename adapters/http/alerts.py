"""The dashboard's alerts backend over the spend firewall's budget use cases (application/budgets.py).

The Alerts page's thresholds *are* firewall budget rules: `warn` rules only alert, `block`
rules also stop spending. Changes made here are audited with actor `dashboard`.
"""

from __future__ import annotations

from typing import Any

from costhq.domain.budgets import BudgetRule, NewBudgetRule, RuleStatus
from costhq.domain.errors import NotFound

ACTOR = "dashboard"


class FirewallAlerts:
    """AlertsBackend over SetBudget / ListBudgets / RemoveBudget / BudgetStatus."""

    def __init__(self, set_budget: Any, list_budgets: Any, remove_budget: Any, budget_status: Any) -> None:
        self._set, self._list, self._remove, self._status = set_budget, list_budgets, remove_budget, budget_status

    def statuses(self) -> list[RuleStatus]:
        return self._status()  # type: ignore[no-any-return]

    def add(self, rule: NewBudgetRule) -> BudgetRule:
        return self._set(
            scope=rule.scope.value,
            limit=rule.limit,
            action=rule.action.value,  # type: ignore[no-any-return]
            model=rule.model,
            session_id=rule.session_id,
            project=rule.project,
            actor=ACTOR,
        )

    def remove(self, rule_id: int) -> bool:
        try:
            self._remove(rule_id=rule_id, actor=ACTOR)
        except NotFound:
            return False
        return True

    def clear(self) -> int:
        return sum(self.remove(r.id) for r in self._list())
