"""The reservation ledger: expected-cost reservations of one process, held in memory against
headroom the process leases from storage (issue 14; the bound they give is in docs/firewall.md).

Rules:
- A process that enforces budgets (a proxy, a library user) holds one *lease* per (session,
  model) it sends calls for: a reservation row whose amount covers that process's calls in
  flight, what it recorded since the lease was last renewed, and a little headroom ahead. Other
  processes count the row like any reservation, so every process sees every other's calls.
- A call is admitted in memory when its expected cost fits in what its lease has left. Else the
  lease is renewed in ONE storage transaction: for every applicable blocking rule, read the
  recorded spend and the other reservations, refuse when `spent + others + this process's
  calls in flight and recorded since + the call > limit`, else set the lease to that need plus
  as many more such calls as fit in half the headroom left (at most LEASE_AHEAD, or more at a
  fast pace: see RAMP), for twice the reservation TTL.
- Invariant, for every blocking rule and across processes: at each admission, recorded spend +
  every reservation and lease (each call counted at its expected cost until its usage is
  measured, then at that cost until its record is stored) <= limit. A call's hold is released
  only after its record is stored, so a call is never counted nowhere.
- A hold not released within the reservation TTL (a crashed call) stops counting, as rows do.
- A rule change (the storage's rules version) or a lease that will outlive less than one TTL
  sends the next call to a renewal. Without any blocking rule for the key, calls pass with no
  reservation at all (until the version changes).
- Admissions never wait for a renewal's write lock (issue 15): while a renewal waits for it, calls
  keep being admitted against the old grant, which storage still counts. The lease is frozen only
  from the moment the renewal reads what this process holds (under the write lock) until the new
  grant is installed, so the new grant covers every call admitted before it exactly.
- With `renew_ahead`, a lease is renewed in the background once half of its room ahead is used
  (or its expiry nears), so a steady stream of calls rarely meets a renewal at all. A background
  renewal that would be refused shrinks the lease to what is held; the next call that does not
  fit then takes the synchronous path, which refuses it or admits it as above.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from costhq.application.budgets import FirewallPolicy, budget_exceeded
from costhq.application.ports.firewall import FirewallProbe, FirewallUnitOfWork
from costhq.domain.budgets import BudgetAction, RuleStatus, evaluate, first_blocking, spend_filter
from costhq.domain.errors import BudgetExceeded, CostHQError
from costhq.domain.estimates import MIN_SAMPLES, SAMPLE_WINDOW, CostSample
from costhq.domain.money import ZERO, format_usd, quantize

LEASE_AHEAD = 32  # expected calls a lease takes beyond its need (at most half of what is left): fewer renewals
# A renewed lease takes as many calls ahead as it admitted over the last RAMP (at its pace since the
# previous renewal), between LEASE_AHEAD and RAMP_MAX x LEASE_AHEAD: a proxy admitting 1,500 calls/s
# renews about once a second, not 50 times, each renewal stalling its admissions (issue 15).
RAMP = timedelta(seconds=1)
RAMP_MAX = 32
MAX_PENDING = 200  # learned samples waiting for a write (the oldest are dropped past this)


@attrs.define(eq=False)
class _Lease:
    """This process's lease for calls of one model in one session (see the module rules)."""

    session_id: int
    model: str
    project: str | None = None
    version: int = -1
    db_id: int | None = None
    granted: Decimal = ZERO
    consumed: Decimal = ZERO
    expires_at: datetime | None = None
    free: bool = False  # no blocking rule applies: calls need no reservation
    busy: bool = False  # a renewal has read what this process holds: admissions wait until it installs
    refreshing: bool = False  # a background renewal is scheduled or running
    closed: bool = False  # given back (`close`): a background renewal must not take it again
    low: Decimal = ZERO  # room left below which a background renewal starts (half the room ahead)
    admitted: int = 0  # calls admitted since the last renewal
    renewed_at: datetime | None = None
    # Holds in admission order, which is their expiry order (one TTL for all), and their sum: while
    # the recorder lags, thousands may be held, and each admission must not re-add them (issue 15).
    held: dict[int, tuple[Decimal, datetime]] = attrs.Factory(dict)
    held_sum: Decimal = ZERO
    renewing: threading.Lock = attrs.Factory(threading.Lock)

    def in_flight(self, now: datetime) -> Decimal:
        """Holds not yet released, dropping those past their TTL (a crashed call) from the oldest.
        Threads admitting at once may insert a little out of order: a hold then outlives its TTL by
        at most that difference, which only counts it longer (never shorter)."""
        while self.held:
            hid = next(iter(self.held))
            amount, until = self.held[hid]
            if until > now:
                break
            del self.held[hid]
            self.held_sum -= amount
        return self.held_sum

    def hold(self, hid: int, amount: Decimal, until: datetime) -> None:
        self.held[hid] = (amount, until)
        self.held_sum += amount

    def reprice(self, hid: int, amount: Decimal) -> None:
        """A held call's amount is now `amount` (its expiry, and so its place in order, unchanged)."""
        was, until = self.held[hid]
        self.held[hid] = (amount, until)
        self.held_sum += amount - was

    def drop(self, hid: int) -> bool:
        """Forget a hold; False when it was not held (already dropped, or expired)."""
        found = self.held.pop(hid, None)
        if found is not None:
            self.held_sum -= found[0]
        return found is not None

    def fits(self, amount: Decimal, now: datetime, version: int, ttl: timedelta) -> bool:
        if self.busy or self.version != version or self.expires_at is None or self.expires_at - now <= ttl:
            return False
        return self.free or self.granted - self.in_flight(now) - self.consumed >= amount

    def running_low(self, now: datetime, ttl: timedelta) -> bool:
        """Time to renew ahead: half the room ahead is used, or the lease has less than 1.5 TTL left."""
        if self.expires_at is None or self.expires_at - now <= ttl * 3 / 2:
            return True
        return not self.free and self.granted - self.held_sum - self.consumed < self.low


@attrs.define(eq=False)
class Hold:
    """One admitted call's reservation (`lease` None: no blocking rule applies); `released` once over."""

    id: int
    amount: Decimal
    lease: _Lease | None
    released: bool = False
    metered: bool = False  # `amount` is the call's measured cost (see `reprice`), no longer its estimate


class ReservationLedger:
    """Admission and release of expected-cost reservations for one process (thread-safe).

    `uow` is a unit of work for lease renewals and sample writes (it need not be durable: a
    lease lost in a power cut only frees headroom); `probe` answers the request path's reads.
    """

    def __init__(self, uow: Callable[[], FirewallUnitOfWork], probe: FirewallProbe, policy: FirewallPolicy,
                 *, ahead: int = LEASE_AHEAD, renew_ahead: bool = False) -> None:
        self.uow, self.probe, self.policy, self._ahead = uow, probe, policy, ahead
        self._renew_ahead = renew_ahead  # renew running-low leases on a background thread (module rules)
        self._ttl = timedelta(seconds=policy.reservation_ttl_s)
        self._lock = threading.Lock()
        self._leases: dict[tuple[int, str], _Lease] = {}
        self._ids = itertools.count(1)
        self._samples: dict[tuple[str, str | None], collections.deque[CostSample]] = {}
        self._pending: list[tuple[str, str, CostSample, datetime]] = []

    # --- admission -------------------------------------------------------------------------------
    def admit(self, *, session_id: int, model: str, amount: Decimal, now: datetime) -> Hold:
        """Hold `amount` for one call, or raise BudgetExceeded (nothing held) when a blocking rule
        would pass its limit (see the module rules)."""
        found = self.try_admit(session_id=session_id, model=model, amount=amount, now=now)
        if found is not None:
            return found
        version = self.probe.rules_version()
        with self._lock:
            lease = self._leases.setdefault((session_id, model), _Lease(session_id, model))
        with lease.renewing:
            with self._lock:
                if lease.fits(amount, now, version, self._ttl):
                    return self._hold(lease, amount, now)
            hold = self._renew(lease, amount, now)
            assert hold is not None
            return hold

    def try_admit(self, *, session_id: int, model: str, amount: Decimal, now: datetime) -> Hold | None:
        """`admit` when the call fits without touching storage (its lease has room, or no blocking
        rule exists); None when it needs a lease renewal or may be refused: then call `admit`.
        Never waits for a renewal nor writes, so the proxy can ask it on its event loop (issue 15)."""
        if not self.probe.blocking_rules():
            return Hold(next(self._ids), amount, None)
        version = self.probe.rules_version()
        with self._lock:
            lease = self._leases.get((session_id, model))
            if lease is not None and lease.fits(amount, now, version, self._ttl):
                return self._hold(lease, amount, now)
        return None

    def _hold(self, lease: _Lease, amount: Decimal, now: datetime) -> Hold:
        """Hold `amount` on `lease` (under `_lock`), starting a background renewal if it runs low."""
        hold = Hold(next(self._ids), amount, None if lease.free else lease)
        if not lease.free:
            lease.hold(hold.id, amount, now + self._ttl)
            lease.admitted += 1
        if self._renew_ahead and not lease.refreshing and not lease.closed and lease.running_low(now, self._ttl):
            lease.refreshing = True
            threading.Thread(target=self._refresh, args=(lease, amount, now), daemon=True,
                             name="costhq-lease-renewal").start()
        return hold

    def _refresh(self, lease: _Lease, amount: Decimal, now: datetime) -> None:
        """A background renewal sized for calls like `amount` (skipped if a renewal is running)."""
        try:
            if lease.renewing.acquire(blocking=False):
                try:
                    if not lease.closed:
                        self._renew(lease, amount, now, admit=False)
                finally:
                    lease.renewing.release()
        except CostHQError as exc:  # e.g. storage busy: the next call that does not fit renews in line
            import logging  # not at import time: `cs log-ai` loads this module and must stay lean

            logging.getLogger("costhq.firewall").warning("background lease renewal failed (%s)", exc.code)
        finally:
            with self._lock:
                lease.refreshing = False

    def _renew(self, lease: _Lease, amount: Decimal, now: datetime, *, admit: bool = True) -> Hold | None:
        """Renew `lease` (holding `lease.renewing`) and, with `admit`, hold `amount` on it or raise
        the refusal. Admissions go on against the old grant until `mine` is read (see the rules)."""
        try:
            return self._renew_frozen(lease, amount, now, admit)
        finally:
            with self._lock:
                lease.busy = False

    def _renew_frozen(self, lease: _Lease, amount: Decimal, now: datetime, admit: bool) -> Hold | None:
        refusal: BudgetExceeded | None = None
        with self.uow() as uow:
            # Taken under the write lock: a call released by now had its record written by a
            # transaction that has committed (the proxy releases inside its batch, just before the
            # commit; the library right after it), so it is in `spent`, not in `mine`.
            with self._lock:
                settled = lease.consumed
            version = uow.budgets.rules_version()
            if lease.version < 0:
                session = uow.sessions.get(lease.session_id)
                lease.project = session.working_directory if session else None
            rules = [r for r in uow.budgets.all() if r.action is BudgetAction.BLOCK
                     and r.applies(session_id=lease.session_id, project=lease.project, model=lease.model)]
            grant, db_id = ZERO, lease.db_id
            if not rules:
                with self._lock:
                    lease.busy = True
                if db_id is not None:
                    uow.budgets.release(db_id)
                    db_id = None
            else:
                uow.budgets.expire(now)
                found = uow.budgets.standing([spend_filter(r, now, self.policy.tz) for r in rules], now=now,
                                             exclude=db_id)
                with self._lock:  # from here to the install, admissions wait: the grant covers all held
                    lease.busy = True
                    mine = lease.in_flight(now) + lease.consumed - settled
                statuses = [evaluate(r, spent=s, reserved=res + mine, incoming=amount, now=now, tz=self.policy.tz)
                            for r, (s, res) in zip(rules, found, strict=True)]
                blocking = first_blocking(statuses)
                refusal = None if blocking is None else _over(blocking, amount)
                # Refused: the lease shrinks to what this process still holds (its headroom ahead is freed).
                grant = mine if refusal is not None else self._grant(statuses, mine + amount, amount,
                                                                     self._pace(lease, now))
                lease.low = max(ZERO, grant - mine - amount) / 2
                db_id = uow.budgets.lease(db_id, session_id=lease.session_id, project=lease.project,
                                          model=lease.model, amount=grant, at=now, expires_at=now + 2 * self._ttl)
            self._write_samples(uow)
        with self._lock:
            lease.db_id, lease.granted, lease.consumed = db_id, grant, lease.consumed - settled
            lease.free, lease.expires_at = not rules, now + 2 * self._ttl
            if refusal is not None:
                if not admit:
                    return None
                raise refusal  # the lease has nothing ahead now: the next call renews again
            lease.version = version
            return self._hold(lease, amount, now) if admit else None

    def _pace(self, lease: _Lease, now: datetime) -> int:
        """Calls ahead for a renewal of `lease` (see RAMP); restarts the count of calls admitted."""
        with self._lock:
            admitted, since, lease.admitted, lease.renewed_at = lease.admitted, lease.renewed_at, 0, now
        if since is None:
            return self._ahead
        elapsed = (now - since) / RAMP
        top = self._ahead * RAMP_MAX
        return top if elapsed <= 0 else max(self._ahead, min(top, int(admitted / elapsed)))

    def _grant(self, statuses: list[RuleStatus], need: Decimal, amount: Decimal, ahead: int) -> Decimal:
        """`need` plus whole calls like this one ahead: at most `ahead`, and at most half of the
        headroom left after it (so a tight budget leaves other processes their share)."""
        left = min(s.rule.limit - s.spent - s.reserved - s.incoming for s in statuses)
        calls = min(ahead, int(left / (2 * amount))) if amount > 0 else 0
        return quantize(need + amount * max(0, calls))

    def reprice(self, hold: Hold, cost: Decimal) -> bool:
        """The call's usage is measured (the proxy read it from the response) but its record is not
        stored yet: hold `cost` instead of the estimate until `release`. A call that ends before the
        previous ones are stored then counts what it cost, not its first-call estimate, so an agent
        turning faster than the writer commits is not refused early. Grows as well as shrinks: the
        invariant counts every call at its best-known cost. True unless the hold is already over."""
        with self._lock:
            if hold.released:
                return False
            hold.amount, hold.metered = cost, True
            lease = hold.lease
            if lease is not None and hold.id in lease.held:
                lease.reprice(hold.id, cost)
            return True

    def release(self, hold: Hold, recorded: Decimal | None) -> bool:
        """The call is over: drop its hold; `recorded` is the cost its stored record carries (None
        when nothing was stored), which the lease now counts until its next renewal. Idempotent:
        True only the first time. Never touches storage (it may run inside the writer's transaction)."""
        lease = hold.lease
        with self._lock:
            if hold.released:
                return False
            hold.released = True
            if lease is not None and lease.drop(hold.id) and recorded:
                lease.consumed += recorded
            return True

    def close(self, session_id: int | None = None) -> None:
        """Give the leases back (of one session that ended, else all: at process end) and write the
        buffered samples, so other processes learn from them."""
        with self._lock:
            gone = [self._leases.pop(k) for k in list(self._leases) if session_id is None or k[0] == session_id]
            for lease in gone:
                lease.closed = True
        ids = []
        for lease in gone:
            with lease.renewing:  # a background renewal in flight finishes first: its row is given back too
                if lease.db_id is not None:
                    ids.append(lease.db_id)
        if ids or self._pending:
            with self.uow() as uow:
                for rid in ids:
                    uow.budgets.release(rid)
                self._write_samples(uow)

    # --- learning --------------------------------------------------------------------------------
    def samples(self, model: str, client: str) -> list[CostSample]:
        """Recent samples of `model` from `client`, or of `model` from any client while this
        client has fewer than MIN_SAMPLES (loaded from storage once per process)."""
        own = self._cached(model, client)
        return own if len(own) >= MIN_SAMPLES else self._cached(model, None)

    def _cached(self, model: str, client: str | None) -> list[CostSample]:
        with self._lock:
            found = self._samples.get((model, client))
        if found is None:
            loaded = collections.deque(self.probe.samples(model, client, SAMPLE_WINDOW), maxlen=SAMPLE_WINDOW)
            with self._lock:
                found = self._samples.setdefault((model, client), loaded)
        with self._lock:
            return list(found)

    def learn(self, model: str, client: str, sample: CostSample, at: datetime) -> None:
        """Remember what a recorded call cost against its estimate: at once in memory; in storage
        (for other processes) at the next lease renewal or `close` (never here: this may run inside
        the writer's transaction). At most MAX_PENDING samples wait."""
        with self._lock:
            for key in ((model, client), (model, None)):
                if key in self._samples:
                    self._samples[key].append(sample)
            self._pending = [*self._pending[-(MAX_PENDING - 1):], (model, client, sample, at)]

    def _write_samples(self, uow: FirewallUnitOfWork) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            uow.budgets.add_samples(pending)


def _over(s: RuleStatus, amount: Decimal) -> BudgetExceeded:
    r = s.rule
    what = f"{r.scope.value} budget #{r.id}" + (f" for {r.model}" if r.model else "")
    err = budget_exceeded(s, f"{what} would be exceeded: spent {format_usd(s.spent)} + in flight "
                             f"{format_usd(s.reserved)} + this request's expected {format_usd(amount)} > limit "
                             f"{format_usd(r.limit)}")
    err.details["expected"] = str(amount)
    return err
