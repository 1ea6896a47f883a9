"""Budget errors of the library: `BudgetExceededError`, and the memo of a firewall refusal.

Rules: a refusal seen while a tracked call was stored makes the next pre-flight refuse too,
before anything is sent; it is re-checked (one read) first, so a raised or removed limit lets
calls through again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costhq.domain.errors import BudgetExceeded
from costhq.domain.money import ZERO, format_usd


class BudgetExceededError(BudgetExceeded):
    """A budget was crossed (after `log_ai` stored the call) or is spent (pre-flight, nothing sent).

    Attributes:
        spent: USD spent when it was raised (the stored call included).
        budget: the limit (the AgentSession's, or the firewall rule's).
        attempted: the cost of the call that crossed it; 0 for a pre-flight refusal (a call's
            cost is not known before it is sent).
    """

    def __init__(self, spent: Decimal, budget: Decimal, attempted: Decimal, message: str | None = None,
                 **details: Any) -> None:
        super().__init__(message or f"Budget exceeded: spent ${spent} of ${budget} (attempted ${attempted})",
                         **{"spent": str(spent), "budget": str(budget), "attempted": str(attempted), **details})
        self.spent, self.budget, self.attempted = spent, budget, attempted


class RefusalMemo:
    """The last firewall refusal seen while recording, so the next pre-flight refuses too.

    Re-checked (one read) before refusing: a raised or removed limit lets calls through again.
    """

    def __init__(self) -> None:
        self.refusal: BudgetExceeded | None = None

    def check(self, container: Any) -> None:
        exc = self.refusal
        if exc is None:
            return
        rule_id = exc.details.get("rule_id")
        blocking = [s for s in container.budget_status()() if s.rule.id == rule_id and s.blocks] \
            if rule_id is not None else []
        if not blocking:
            self.refusal = None
            return
        s = blocking[0]
        raise BudgetExceededError(s.spent, s.rule.limit, ZERO,
                                  f"{s.rule.scope.value} budget #{rule_id} is spent ({format_usd(s.spent)} of "
                                  f"{format_usd(s.rule.limit)}): the request was not sent",
                                  rule_id=rule_id, scope=s.rule.scope.value)
