"""Budget rules and the spend firewall's arithmetic (pure: time and zone come in as arguments).

Rules:
- A rule has a scope (`total`, `daily`, `weekly`, `monthly`, `session`, `project`), an optional
  model, a USD limit > 0 and an action (`block` or `warn`).
- Calendar windows are local calendar periods of the user's zone: a day runs from local
  midnight to the next local midnight (23 or 25 hours across a DST change), a week starts on
  Monday, a month on the 1st. Windows are half-open: [start, end).
- Several rules stack: a request or record must pass every applicable blocking rule.
- A rule is crossed when spend (+ in-flight reservations + the incoming call's expected cost,
  see domain.estimates) is strictly greater than its limit: spending exactly the limit is allowed.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal

import attrs

from costhq.domain.money import ZERO, quantize


class BudgetScope(enum.Enum):
    """What spend a rule counts."""

    TOTAL = "total"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    SESSION = "session"
    PROJECT = "project"


class BudgetAction(enum.Enum):
    """`block` refuses requests and fails `cs log-ai`; `warn` only reports."""

    BLOCK = "block"
    WARN = "warn"


CALENDAR = (BudgetScope.DAILY, BudgetScope.WEEKLY, BudgetScope.MONTHLY)


def _positive(_inst: object, _attr: object, value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        raise ValueError("a budget limit must be a positive amount of USD")


@attrs.frozen(kw_only=True)
class NewBudgetRule:
    """A rule before storage gives it an id.

    Attributes:
        scope: what spend is counted.
        limit: USD, > 0.
        action: block or warn.
        model: counts only calls of this model (requested or served) when set.
        session_id: required for (and only for) `session` rules.
        project: the scope path (git root) for (and only for) `project` rules.
    """

    scope: BudgetScope
    limit: Decimal = attrs.field(validator=_positive, converter=quantize)
    action: BudgetAction = BudgetAction.BLOCK
    model: str | None = None
    session_id: int | None = None
    project: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.scope is BudgetScope.SESSION) != (self.session_id is not None):
            raise ValueError("a session rule needs a session id (and only a session rule takes one)")
        if (self.scope is BudgetScope.PROJECT) != bool(self.project):
            raise ValueError("a project rule needs a project path (and only a project rule takes one)")


@attrs.frozen(kw_only=True)
class BudgetRule(NewBudgetRule):
    """A stored rule.

    Attributes:
        id: storage id.
        created_at: aware UTC.
    """

    id: int
    created_at: datetime

    def applies(self, *, session_id: int | None, project: str | None, model: str | None,
                served_model: str | None = None) -> bool:
        """Does this rule count a call of `model` in this session/project?"""
        if self.model is not None and self.model not in (model, served_model):
            return False
        if self.scope is BudgetScope.SESSION:
            return session_id == self.session_id
        if self.scope is BudgetScope.PROJECT:
            return project == self.project
        return True


@attrs.frozen(kw_only=True)
class SpendFilter:
    """Which recorded spend (and reservations) a rule counts; None means unrestricted."""

    start: datetime | None = None
    end: datetime | None = None
    session_id: int | None = None
    project: str | None = None
    model: str | None = None


def _local_midnight(day: datetime, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def window(scope: BudgetScope, now: datetime, tz: tzinfo) -> tuple[datetime | None, datetime | None]:
    """The [start, end) UTC window of a scope at `now`; (None, None) for non-calendar scopes."""
    local = now.astimezone(tz)
    if scope is BudgetScope.DAILY:
        first = local
        after = local + timedelta(days=1)
    elif scope is BudgetScope.WEEKLY:
        first = local - timedelta(days=local.weekday())
        after = first + timedelta(days=7)
    elif scope is BudgetScope.MONTHLY:
        first = local.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    else:
        return None, None
    # Calendar arithmetic on dates, then midnight in the zone: DST days are 23 or 25 hours.
    return _local_midnight(first, tz), _local_midnight(after, tz)


def spend_filter(rule: BudgetRule, now: datetime, tz: tzinfo) -> SpendFilter:
    """What the rule counts at `now`."""
    start, end = window(rule.scope, now, tz)
    return SpendFilter(start=start, end=end, session_id=rule.session_id, project=rule.project, model=rule.model)


@attrs.frozen(kw_only=True)
class RuleStatus:
    """One rule's standing.

    Attributes:
        rule: the rule.
        spent: recorded spend in the rule's window.
        reserved: in-flight reservations counted against it.
        incoming: the expected cost of the request being decided (0 after the fact).
        window_start / window_end: the calendar window, None for other scopes.
        projected: projected end-of-window spend for calendar rules (linear), else None.
    """

    rule: BudgetRule
    spent: Decimal
    reserved: Decimal = ZERO
    incoming: Decimal = ZERO
    window_start: datetime | None = None
    window_end: datetime | None = None
    projected: Decimal | None = None

    @property
    def exceeded(self) -> bool:
        """Strictly over the limit (spending exactly the limit is allowed)."""
        return self.spent + self.reserved + self.incoming > self.rule.limit

    @property
    def blocks(self) -> bool:
        """Exceeded and the rule blocks."""
        return self.exceeded and self.rule.action is BudgetAction.BLOCK

    @property
    def remaining(self) -> Decimal:
        """Limit minus recorded spend (never negative)."""
        return max(ZERO, self.rule.limit - self.spent)


def evaluate(rule: BudgetRule, *, spent: Decimal, now: datetime, tz: tzinfo, reserved: Decimal = ZERO,
             incoming: Decimal = ZERO) -> RuleStatus:
    """A rule's status at `now`, with a linear projection for calendar windows."""
    start, end = window(rule.scope, now, tz)
    projected = None
    if start is not None and end is not None:
        elapsed = (now - start).total_seconds()
        span = (end - start).total_seconds()
        projected = quantize(spent * Decimal(span) / Decimal(elapsed)) if elapsed > 0 else spent
    return RuleStatus(rule=rule, spent=spent, reserved=reserved, incoming=incoming, window_start=start,
                      window_end=end, projected=projected)


def first_blocking(statuses: list[RuleStatus]) -> RuleStatus | None:
    """The first rule that blocks, tightest (least remaining headroom) first."""
    blocking = [s for s in statuses if s.blocks]
    return min(blocking, key=lambda s: s.rule.limit - s.spent - s.reserved, default=None)
