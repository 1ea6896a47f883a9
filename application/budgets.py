"""Budget use cases (set, list, remove, status) and the after-the-fact check of recorded usage.

Rules: rule changes are audited in the same transaction; `cs log-ai` records first and checks
after (a record is never lost), so `check_recorded` looks at spend *after* the record;
warn rules are reported and never block.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from decimal import Decimal

import attrs

from costhq.application.audit import record
from costhq.application.ports.clock import Clock
from costhq.application.ports.firewall import FirewallUnitOfWork
from costhq.domain.budgets import (
    BudgetAction,
    BudgetRule,
    BudgetScope,
    NewBudgetRule,
    RuleStatus,
    evaluate,
    spend_filter,
)
from costhq.domain.errors import BudgetExceeded, InvalidArgument, NotFound
from costhq.domain.usage import UsageRecord


@attrs.frozen(kw_only=True)
class FirewallPolicy:
    """Firewall settings from config.

    Attributes:
        tz: zone of calendar windows (the user's, unless configured).
        block_unpriced: refuse requests for models without a price (`[firewall] unpriced = "block"`).
        reservation_ttl_s: a reservation not settled by then stops counting (crashed requests).
    """

    tz: tzinfo
    block_unpriced: bool = False
    reservation_ttl_s: int = 600


def statuses(uow: FirewallUnitOfWork, rules: list[BudgetRule], *, now: datetime, tz: tzinfo,
             with_reserved: bool = False, incoming: Decimal = Decimal(0)) -> list[RuleStatus]:
    """Each rule's status at `now` (spend via SQL aggregates, every rule in one read)."""
    found = uow.budgets.standing([spend_filter(rule, now, tz) for rule in rules], now=now, with_reserved=with_reserved)
    return [evaluate(rule, spent=spent, now=now, tz=tz, reserved=reserved, incoming=incoming)
            for rule, (spent, reserved) in zip(rules, found, strict=True)]


def budget_exceeded(status: RuleStatus, message: str) -> BudgetExceeded:
    """The error both edges map (402 in the proxy, exit 1 in the CLI), with rule, spent and limit."""
    r = status.rule
    return BudgetExceeded(message, rule_id=r.id, scope=r.scope.value, model=r.model, limit=str(r.limit),
                          spent=str(status.spent), reserved=str(status.reserved))


def check_recorded(uow: FirewallUnitOfWork, rec: UsageRecord, *, project: str, now: datetime,
                   policy: FirewallPolicy) -> list[RuleStatus]:
    """Statuses of the rules that count `rec`, after it was recorded (in the same transaction)."""
    rules = [r for r in uow.budgets.all()
             if r.applies(session_id=rec.session_id, project=project, model=rec.model, served_model=rec.served_model)]
    return statuses(uow, rules, now=now, tz=policy.tz)


@attrs.frozen
class SetBudget:
    """Add a rule (`cs budget set`, `cs start --budget`, the dashboard's Alerts page)."""

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock

    def __call__(self, *, scope: str, limit: Decimal, action: str = "block", model: str | None = None,
                 session_id: int | None = None, project: str | None = None, actor: str = "cli") -> BudgetRule:
        try:
            new = NewBudgetRule(scope=BudgetScope(scope), limit=limit, action=BudgetAction(action),
                                model=model or None, session_id=session_id, project=project)
        except ValueError as exc:
            raise InvalidArgument(f"invalid budget rule: {exc}") from exc
        now = self.clock.now()
        with self.uow() as uow:
            rule = uow.budgets.add(new, at=now)
            record(uow, "budget.set", actor=actor, at=now, rule_id=rule.id, scope=rule.scope.value,
                   limit=rule.limit, action=rule.action.value, model=rule.model, session_id=rule.session_id,
                   project=rule.project)
            return rule


@attrs.frozen
class ListBudgets:
    """Every rule, oldest first."""

    uow: Callable[[], FirewallUnitOfWork]

    def __call__(self) -> list[BudgetRule]:
        with self.uow() as uow:
            return uow.budgets.all()


@attrs.frozen
class RemoveBudget:
    """Delete a rule by id; audited."""

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock

    def __call__(self, *, rule_id: int, actor: str = "cli") -> BudgetRule:
        now = self.clock.now()
        with self.uow() as uow:
            rule = uow.budgets.get(rule_id)
            if rule is None or not uow.budgets.remove(rule_id):
                raise NotFound(f"No budget rule {rule_id}", rule_id=rule_id)
            record(uow, "budget.remove", actor=actor, at=now, rule_id=rule_id, scope=rule.scope.value,
                   limit=rule.limit)
            return rule


@attrs.frozen
class BudgetStatus:
    """Spend vs limit per rule (reservations included), with projected end-of-window spend;
    `session_id` / `project` narrow to the rules that count that session (for `cs status`)."""

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock
    policy: FirewallPolicy

    def __call__(self, *, session_id: int | None = None, project: str | None = None) -> list[RuleStatus]:
        now = self.clock.now()
        with self.uow() as uow:
            rules = uow.budgets.all()
            if session_id is not None:
                # Model rules count this session's calls of that model: match on scope only.
                rules = [r for r in rules if r.applies(session_id=session_id, project=project, model=r.model)]
            return statuses(uow, rules, now=now, tz=self.policy.tz, with_reserved=True)
