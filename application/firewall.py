"""The spend firewall: the proxy's RequestGuard and the hook `LogUsage` runs after a record.

Rules (issue 4):
- Before a proxied request: refuse while the session has an open runaway `block` trip; feed the
  request fingerprint to the detector; refuse unpriced models when the policy says `block`;
  then, in ONE IMMEDIATE transaction, check `spent + reserved + worst_case <= limit` for every
  applicable blocking rule and store a reservation of `worst_case`. Concurrent requests
  therefore overshoot a limit by at most one in-flight worst case.
- worst_case = ceil(body bytes / 3) input tokens at the input price (cliff tiers included) +
  max_tokens / max_output_tokens (or a model-sized default) at the output price.
- Settle releases the reservation: by then the proxy has recorded the call's real cost as usage
  (RecordProxyUsage), so spend moves from "reserved" to "recorded". Unsettled reservations
  stop counting after `reservation_ttl_s` (a crashed request).
- Every refusal is audited (`firewall.block`) in a committed transaction before it is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from costhq.application.audit import record
from costhq.application.budgets import FirewallPolicy, budget_exceeded, check_recorded, statuses
from costhq.application.ports.clock import Clock
from costhq.application.ports.firewall import FirewallUnitOfWork
from costhq.application.ports.pricing import PriceBook
from costhq.application.runaway import observe
from costhq.domain.budgets import RuleStatus, default_max_output, estimate_input_tokens, first_blocking
from costhq.domain.errors import BudgetExceeded, CostHQError, RunawayDetected
from costhq.domain.money import ZERO, format_usd
from costhq.domain.runaway import ActivityEvent, EventKind, Trip
from costhq.domain.usage import Origin, UsageRecord


@attrs.frozen
class Reservation:
    """The token `before` returns: the reservation id and what was reserved."""

    id: int
    session_id: int
    amount: Decimal


@attrs.frozen
class FirewallGuard:
    """RequestGuard enforcing budgets, the unpriced policy and runaway blocks (see module rules)."""

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock
    prices: PriceBook
    policy: FirewallPolicy

    def worst_case(self, *, provider: str, model: str, body_bytes: int,
                   max_output_tokens: int | None) -> Decimal | None:
        """Upper bound of a request's cost; None when the model has no price."""
        quote = self.prices.quote(provider, model)
        if quote is None:
            return None
        out = max_output_tokens if max_output_tokens and max_output_tokens > 0 else default_max_output(model)
        return quote.price.worst_case(estimate_input_tokens(body_bytes), out)

    def before(self, *, session_id: int, provider: str, model: str, body_bytes: int,
               max_output_tokens: int | None, fingerprint: str) -> Reservation | None:
        worst = self.worst_case(provider=provider, model=model, body_bytes=body_bytes,
                                max_output_tokens=max_output_tokens)
        now = self.clock.now()
        refusal: CostHQError | None = None
        token = None
        with self.uow() as uow:
            trips = observe(uow, ActivityEvent(session_id=session_id, kind=EventKind.CALL, at=now, key=fingerprint),
                            now=now, actor="proxy")
            blocking = [t for t in trips if t.blocking(now)]
            if blocking:
                refusal = _runaway_refusal(blocking[0])
            elif worst is None and self.policy.block_unpriced:
                refusal = BudgetExceeded(f"{provider}/{model} has no known price and the firewall blocks unpriced "
                                         "models ([firewall] unpriced = \"block\")", rule="unpriced", model=model)
            else:
                refusal, token = self._reserve(uow, session_id, model, worst or ZERO, now)
            if refusal is not None:
                record(uow, "firewall.block", actor="proxy", at=now, session_id=session_id, provider=provider,
                       model=model, code=refusal.code, message=refusal.message,
                       **{k: v for k, v in refusal.details.items() if k not in ("model", "session_id")})
        if refusal is not None:
            raise refusal
        return token

    def _reserve(self, uow: FirewallUnitOfWork, session_id: int, model: str, worst: Decimal,
                 now: datetime) -> tuple[CostHQError | None, Reservation | None]:
        session = uow.sessions.get(session_id)
        project = session.working_directory if session else None
        rules = [r for r in uow.budgets.all() if r.applies(session_id=session_id, project=project, model=model)]
        if not rules:
            return None, None
        uow.budgets.expire(now)
        found = first_blocking(statuses(uow, rules, now=now, tz=self.policy.tz, with_reserved=True, incoming=worst))
        if found is not None:
            return _over(found, worst), None
        rid = uow.budgets.reserve(session_id=session_id, project=project, model=model, amount=worst, at=now,
                                  expires_at=now + timedelta(seconds=self.policy.reservation_ttl_s))
        return None, Reservation(rid, session_id, worst)

    def settle(self, token: object | None, actual_cost: Decimal | None) -> None:
        if not isinstance(token, Reservation):
            return
        with self.uow() as uow:
            uow.budgets.release(token.id)


def _over(s: RuleStatus, worst: Decimal) -> BudgetExceeded:
    r = s.rule
    what = f"{r.scope.value} budget #{r.id}" + (f" for {r.model}" if r.model else "")
    err = budget_exceeded(s, f"{what} would be exceeded: spent {format_usd(s.spent)} + in flight "
                             f"{format_usd(s.reserved)} + this request up to {format_usd(worst)} > limit "
                             f"{format_usd(r.limit)}")
    err.details["worst_case"] = str(worst)
    return err


def _runaway_refusal(trip: Trip) -> RunawayDetected:
    return RunawayDetected(f"runaway agent detected ({trip.detector.value}): {trip.message}; blocked until "
                           f"`cs runaway clear` or the window passes", session_id=trip.session_id,
                           detector=trip.detector.value, until=trip.until.isoformat())


@attrs.frozen(kw_only=True)
class UsageVerdict:
    """What the firewall says about a recorded call: rule statuses, open trips, the refusal to raise."""

    statuses: list[RuleStatus] = attrs.Factory(list)
    trips: list[Trip] = attrs.Factory(list)
    refusal: BudgetExceeded | None = None

    @property
    def warnings(self) -> list[RuleStatus]:
        return [s for s in self.statuses if s.exceeded and not s.blocks]


@attrs.frozen
class UsageFirewall:
    """The hook LogUsage runs inside its unit of work, after the record is added.

    The record always stays; for enforcing origins (cli, library, mcp) a crossed blocking rule
    becomes `refusal`, which LogUsage raises after commit. Proxy calls were enforced before
    forwarding and imports are history, so they are only measured.
    """

    policy: FirewallPolicy

    def after_record(self, uow: FirewallUnitOfWork, rec: UsageRecord, *, project: str, now: datetime) -> UsageVerdict:
        assert rec.id is not None
        trips: list[Trip] = []
        if rec.origin is not Origin.IMPORT:
            cost_event = ActivityEvent(session_id=rec.session_id, kind=EventKind.COST, at=rec.timestamp,
                                       cost=rec.cost or ZERO)
            trips = observe(uow, cost_event, now=now, actor=rec.origin.value)
        found = check_recorded(uow, rec, project=project, now=now, policy=self.policy)
        blocking = first_blocking(found)
        refusal = None
        if blocking is not None and rec.origin in (Origin.CLI, Origin.LIBRARY, Origin.MCP):
            r = blocking.rule
            refusal = budget_exceeded(blocking, f"{r.scope.value} budget #{r.id} exceeded: spent "
                                                f"{format_usd(blocking.spent)} > limit {format_usd(r.limit)} "
                                                "(the call was recorded)")
            record(uow, "firewall.block", actor=rec.origin.value, at=now, session_id=rec.session_id,
                   usage_id=rec.id, code=refusal.code, rule_id=r.id, spent=blocking.spent, limit=r.limit)
        return UsageVerdict(statuses=found, trips=trips, refusal=refusal)
