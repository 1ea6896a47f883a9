"""The spend firewall: the proxy's RequestGuard, the library's pre-flight, and the hook `LogUsage`
runs after a record.

Rules (issues 4 and 14):
- Before a proxied request: while runaway blocking is configured or a block trip is open, feed
  the request fingerprint to the detector and refuse a blocked session (one durable
  transaction); otherwise the fingerprint is fed after the fact, off the request path
  (`Ticket.observed` False). Then refuse unpriced models when the policy says `block`.
- Then reserve the call's EXPECTED cost (domain.estimates: input from what the request holds and
  references, output learned from recent calls of the model and client) through the process's
  ReservationLedger (application.reservations), which refuses when a blocking rule would pass
  its limit. Nothing is written to storage on the request path unless the lease must be renewed
  (then one transaction without a disk flush).
- Settle releases the hold once the call's record is stored and teaches the estimate what the
  call really cost. The bound this gives is in docs/firewall.md.
- Every refusal is audited (`firewall.block`) in a committed, durable transaction before it is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import attrs

from costhq.application.audit import record
from costhq.application.budgets import FirewallPolicy, budget_exceeded, check_recorded
from costhq.application.ports.clock import Clock
from costhq.application.ports.firewall import FirewallUnitOfWork
from costhq.application.ports.git import GitMetadata
from costhq.application.ports.pricing import PriceBook
from costhq.application.ports.storage import UnitOfWork
from costhq.application.reservations import Hold, ReservationLedger
from costhq.application.runaway import observe
from costhq.application.session_scope import background_session, resolve_session
from costhq.domain.budgets import RuleStatus, first_blocking
from costhq.domain.errors import BudgetExceeded, CostHQError, NoActiveSession, RunawayDetected
from costhq.domain.estimates import (
    CostSample,
    RequestShape,
    billed_input,
    expected_cost,
    expected_output,
    full_input_cost,
    input_ratio,
    input_tokens,
)
from costhq.domain.money import ZERO, format_usd, quantize
from costhq.domain.pricing import ModelPrice
from costhq.domain.runaway import ActivityEvent, EventKind, Trip
from costhq.domain.usage import Origin, TokenCounts, UsageRecord


@attrs.frozen(kw_only=True)
class Estimate:
    """A call's expected cost and what it was made from (for the refusal message and learning).

    Attributes:
        amount: the reservation (USD).
        full_input: its expected input at the full input rate (before the learned ratio).
        input_tokens: expected input tokens (text, images, files, the referenced response).
        output_tokens: expected output tokens.
        price: the rates used.
    """

    amount: Decimal
    full_input: Decimal
    input_tokens: int
    output_tokens: int
    price: ModelPrice


@attrs.frozen
class Ticket:
    """What `before` / `reserve` return and `settle` takes back.

    Attributes:
        hold: the ledger's reservation.
        model / client: whose estimate the settled call teaches.
        estimate: None for an unpriced model (reserved at $0).
        observed: False when the runaway detector still has to see this call (after the fact).
    """

    hold: Hold
    model: str
    client: str
    estimate: Estimate | None
    observed: bool = True


@attrs.frozen
class FirewallGuard:
    """RequestGuard enforcing budgets, the unpriced policy and runaway blocks (see module rules)."""

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock
    prices: PriceBook
    policy: FirewallPolicy
    ledger: ReservationLedger

    def estimate(self, *, provider: str, model: str, shape: RequestShape, client: str) -> Estimate | None:
        """The expected cost of a request (domain.estimates); None when the model has no price."""
        quote = self.prices.quote(provider, model)
        if quote is None:
            return None
        prev = shape.previous_response_id
        referenced = (self.ledger.probe.response_tokens(prev) or 0) if prev else 0
        tokens = input_tokens(shape, provider, referenced=referenced)
        samples = self.ledger.samples(model, client)
        out = expected_output(samples, shape.max_output_tokens)
        amount = expected_cost(quote.price, input_tokens=tokens, output_tokens=out, ratio=input_ratio(samples))
        return Estimate(amount=amount, full_input=full_input_cost(quote.price, tokens), input_tokens=tokens,
                        output_tokens=out, price=quote.price)

    def before(self, *, session_id: int, provider: str, model: str, shape: RequestShape, fingerprint: str,
               client: str) -> Ticket:
        now = self.clock.now()
        observed = self.ledger.probe.runaway_blocking(now)
        if observed:
            self._runaway(session_id=session_id, provider=provider, model=model, fingerprint=fingerprint, now=now)
        ticket = self.reserve(session_id=session_id, provider=provider, model=model, shape=shape, client=client,
                              actor="proxy")
        return attrs.evolve(ticket, observed=observed)

    def before_now(self, *, session_id: int, provider: str, model: str, shape: RequestShape,
                   client: str) -> Ticket | None:
        """`before` when it needs no write and no wait: the runaway detector is not blocking, and the
        call is admitted in memory (ReservationLedger.try_admit). None otherwise (a fingerprint to
        store, a lease to renew, a refusal to audit): then call `before`, which decides the same
        way. Cheap enough for the proxy's event loop (issue 15)."""
        now = self.clock.now()
        if self.ledger.probe.runaway_blocking(now):
            return None
        est = self.estimate(provider=provider, model=model, shape=shape, client=client)
        if est is None and self.policy.block_unpriced:
            return None
        hold = self.ledger.try_admit(session_id=session_id, model=model, amount=est.amount if est else ZERO, now=now)
        return None if hold is None else Ticket(hold, model, client, est, observed=False)

    def reserve(self, *, session_id: int, provider: str, model: str, shape: RequestShape, client: str,
                actor: str = "library") -> Ticket:
        """Reserve a call's expected cost, or refuse it (audited) with BudgetExceeded."""
        now = self.clock.now()
        est = self.estimate(provider=provider, model=model, shape=shape, client=client)
        try:
            if est is None and self.policy.block_unpriced:
                raise BudgetExceeded(f"{provider}/{model} has no known price and the firewall blocks unpriced "
                                     "models ([firewall] unpriced = \"block\")", rule="unpriced", model=model)
            hold = self.ledger.admit(session_id=session_id, model=model, amount=est.amount if est else ZERO, now=now)
        except BudgetExceeded as refusal:
            with self.uow() as uow:
                _audit_block(uow, refusal, actor=actor, at=now, session_id=session_id, provider=provider, model=model)
            raise
        return Ticket(hold, model, client, est)

    def _runaway(self, *, session_id: int, provider: str, model: str, fingerprint: str, now: datetime) -> None:
        refusal: CostHQError | None = None
        with self.uow() as uow:
            trips = observe(uow, ActivityEvent(session_id=session_id, kind=EventKind.CALL, at=now, key=fingerprint),
                            now=now, actor="proxy")
            blocking = [t for t in trips if t.blocking(now)]
            if blocking:
                refusal = _runaway_refusal(blocking[0])
                _audit_block(uow, refusal, actor="proxy", at=now, session_id=session_id, provider=provider,
                             model=model)
        if refusal is not None:
            raise refusal

    def metered(self, token: object | None, tokens: TokenCounts, *, at: datetime, complete: bool) -> None:
        """The proxy measured the call's usage, before its record is stored: hold what it cost at
        the estimate's rates instead of the estimate, and (a complete call) learn from it now, so
        the agent's next turn is estimated from it even if it comes before the write commits.
        In memory only; `settle` still releases the hold once the record is stored."""
        if not isinstance(token, Ticket) or token.estimate is None:
            return
        est = token.estimate
        if self.ledger.reprice(token.hold, quantize(est.price.cost(tokens))) and complete:
            self._learn(token, tokens, at)

    def settle(self, token: object | None, record: UsageRecord | None) -> None:
        """Release the hold (the record is stored, or nothing will be) and learn from the record
        (unless `metered` did). Idempotent, and never writes to storage (it may run inside the
        writer's transaction)."""
        recorded = None if record is None else record.cost
        if not isinstance(token, Ticket) or not self.ledger.release(token.hold, recorded):
            return
        if record is not None and not token.hold.metered and not (record.error or record.partial):
            self._learn(token, record.tokens, record.timestamp)

    def _learn(self, token: Ticket, tokens: TokenCounts, at: datetime) -> None:
        est = token.estimate
        if est is not None:
            sample = CostSample(estimated_input=est.full_input, input_cost=billed_input(est.price, tokens),
                                output_tokens=tokens.output)
            self.ledger.learn(token.model, token.client, sample, at)

    def close(self, session_id: int | None = None) -> None:
        """Give this process's leases back (of a session that ended; else all: the proxy's shutdown,
        the library's exit) and write what it learned."""
        self.ledger.close(session_id)


@attrs.frozen
class CallSession:
    """The session a tracked library call that names none is recorded on (the active session of
    its scope, else the background session, created on demand): what its pre-flight reserves on."""

    read_uow: Callable[[], UnitOfWork]
    uow: Callable[[], UnitOfWork]
    clock: Clock
    git: GitMetadata

    def __call__(self, *, cwd: str) -> int:
        scope = self.git.scope(cwd)
        try:
            with self.read_uow() as uow:
                return resolve_session(uow, scope, None).id
        except NoActiveSession:
            with self.uow() as uow:
                return background_session(uow, scope=scope.path, now=self.clock.now()).id


def _audit_block(uow: FirewallUnitOfWork, refusal: CostHQError, *, actor: str, at: datetime, session_id: int,
                 provider: str, model: str) -> None:
    record(uow, "firewall.block", actor=actor, at=at, session_id=session_id, provider=provider, model=model,
           code=refusal.code, message=refusal.message,
           **{k: v for k, v in refusal.details.items() if k not in ("model", "session_id")})


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

    def after_record(self, uow: FirewallUnitOfWork, rec: UsageRecord, *, project: str, now: datetime,
                     fingerprint: str | None = None) -> UsageVerdict:
        """`fingerprint`: the request's, observed with the cost (a proxied call the guard did not observe)."""
        assert rec.id is not None
        trips: list[Trip] = []
        if rec.origin is not Origin.IMPORT:
            cost_event = ActivityEvent(session_id=rec.session_id, kind=EventKind.COST, at=rec.timestamp,
                                       cost=rec.cost or ZERO)
            call = () if not fingerprint else (
                ActivityEvent(session_id=rec.session_id, kind=EventKind.CALL, at=rec.timestamp, key=fingerprint),)
            trips = observe(uow, cost_event, *call, now=now, actor=rec.origin.value)
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
