"""Recording many AI calls in one unit of work (the Python library's background writer).

Rules: every stored call gets exactly what `LogUsage` gives it — its price at its timestamp (a
registered local model by compute time), the session's totals, one `usage.logged` audit entry,
the firewall's after-record check (runaway feed, budget statuses, a refusal for enforcing
origins) — but the batch shares one transaction, so one commit. A request id already stored, or
repeated earlier in the batch, is skipped, never counted twice. A call that cannot be stored
(unknown session, nothing active, invalid input) gets its error and the others are stored; when
the batch's transaction itself fails (storage busy, disk error), each call is retried in a unit
of work of its own, so one bad call cannot sink the rest.

Work the calls share is done once per batch: a scope look-up per directory, the session per
target, one request-id look-up, and the firewall's reads. The batch holds the write lock (an
IMMEDIATE transaction), so nothing but its own writes can change the firewall tables meanwhile:
the runaway config, budget rules and open trips are read once and then kept in step with the
batch's own writes (`_BatchView`); the detectors' window aggregates are indexed reads that
already see those writes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.firewall import BudgetRepository, RunawayRepository
from costhq.application.ports.git import GitMetadata
from costhq.application.ports.pricing import PriceBook
from costhq.application.ports.storage import UnitOfWork
from costhq.application.session_scope import resolve_session
from costhq.application.usage import (
    LoggedUsage,
    Priced,
    UsageInput,
    background_session,
    choose_price,
    price_usage,
    store_usage,
)
from costhq.domain.errors import CostHQError, NoActiveSession
from costhq.domain.git import Scope
from costhq.domain.money import quantize
from costhq.domain.sessions import Session

if TYPE_CHECKING:
    from costhq.application.firewall import UsageFirewall
    from costhq.application.local_pricing import PriceLocalCall
    from costhq.domain.budgets import BudgetRule, NewBudgetRule
    from costhq.domain.runaway import ActivityEvent, RunawayConfig, Trip, WindowFacts


@attrs.frozen(kw_only=True)
class QueuedUsage:
    """One call of a batch.

    Attributes:
        call: the call.
        cwd: where it was made; the active session of its scope records it when `session_id` is None.
        session_id: the session to record it on.
        background: with no `session_id` and nothing active in the scope, record it on the
            "Background API Session" (created on demand) instead of failing with NoActiveSession.
    """

    call: UsageInput
    cwd: str = "."
    session_id: int | None = None
    background: bool = False


@attrs.frozen(kw_only=True)
class BatchOutcome:
    """What became of one queued call.

    Attributes:
        logged: the stored record and the session right after it; its `verdict.refusal` is a
            firewall refusal of a stored call (LogUsage raises it, a batch reports it here).
        duplicate: skipped: its request id was already recorded.
        error: not stored, and why.
    """

    logged: LoggedUsage | None = None
    duplicate: bool = False
    error: CostHQError | None = None


@attrs.frozen
class LogUsageBatch:
    """Record `items` in order, in one unit of work; see the module rules. One outcome per item."""

    uow: Callable[[], UnitOfWork]
    clock: Clock
    git: GitMetadata
    prices: PriceBook
    firewall: UsageFirewall | None = None
    local: PriceLocalCall | None = None

    def __call__(self, *, items: Sequence[QueuedUsage], allow_unpriced: bool = False) -> list[BatchOutcome]:
        if not items:
            return []
        # Prices and scopes are looked up before the transaction (outside the write lock), each scope once.
        apis = [self._api_price(item.call, allow_unpriced) for item in items]
        scopes: dict[str, Scope] = {}
        for item in items:
            if item.session_id is None and item.cwd not in scopes:
                scopes[item.cwd] = self.git.scope(item.cwd)
        try:
            return self._write(items, apis, scopes, allow_unpriced)
        except CostHQError as exc:
            if len(items) == 1:
                return [BatchOutcome(error=exc)]
        return self._one_by_one(items, apis, scopes, allow_unpriced)

    def _one_by_one(self, items: Sequence[QueuedUsage], apis: list[Priced | CostHQError],
                    scopes: dict[str, Scope], allow_unpriced: bool) -> list[BatchOutcome]:
        outcomes = []
        for item, api in zip(items, apis, strict=True):
            try:
                outcomes.extend(self._write([item], [api], scopes, allow_unpriced))
            except CostHQError as exc:
                outcomes.append(BatchOutcome(error=exc))
        return outcomes

    def _api_price(self, call: UsageInput, allow_unpriced: bool) -> Priced | CostHQError:
        # Its error waits until the unit of work has said the model is not a registered local one.
        try:
            return price_usage(self.prices, call, allow_unpriced=allow_unpriced)
        except CostHQError as exc:
            return exc

    def _write(self, items: Sequence[QueuedUsage], apis: list[Priced | CostHQError], scopes: dict[str, Scope],
               allow_unpriced: bool) -> list[BatchOutcome]:
        now = self.clock.now()
        outcomes: list[BatchOutcome] = []
        with self.uow() as real:
            uow = _BatchView(real)
            seen = uow.usage.known_request_ids([i.call.request_id for i in items if i.call.request_id])
            targets = _Targets(uow, scopes, now)
            for item, api in zip(items, apis, strict=True):
                rid = item.call.request_id
                if rid is not None and rid in seen:
                    outcomes.append(BatchOutcome(duplicate=True))
                    continue
                try:  # a call refused here has written nothing of its own: the batch goes on
                    local, priced = choose_price(self.local, uow, item.call, api, allow_unpriced)
                    session = targets.session(item)
                except CostHQError as exc:
                    outcomes.append(BatchOutcome(error=exc))
                    continue
                if rid is not None:
                    seen.add(rid)
                logged = store_usage(uow, self.firewall, item.call, session, now, priced, local)
                outcomes.append(BatchOutcome(logged=logged))
        return outcomes


class _Targets:
    """The session of each queued call, resolved once per session id / scope within a batch."""

    def __init__(self, uow: UnitOfWork, scopes: dict[str, Scope], now: datetime) -> None:
        self._uow, self._scopes, self._now = uow, scopes, now
        self._found: dict[tuple[int | None, str | None, bool], Session] = {}

    def session(self, item: QueuedUsage) -> Session:
        scope = None if item.session_id is not None else self._scopes[item.cwd]
        key = (item.session_id, None if scope is None else scope.path, item.background)
        found = self._found.get(key)
        if found is None:
            found = self._resolve(item, scope)
            self._found[key] = found
        return found

    def _resolve(self, item: QueuedUsage, scope: Scope | None) -> Session:
        try:
            return resolve_session(self._uow, scope or Scope(item.cwd, None), item.session_id)
        except NoActiveSession:
            if not item.background or scope is None:
                raise
            return background_session(self._uow, scope=scope.path, now=self._now)


class _BatchView:
    """The batch's unit of work with read-once firewall repositories (see the module docstring);
    every other repository is the real one."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self.sessions, self.usage, self.activity, self.audit = uow.sessions, uow.usage, uow.activity, uow.audit
        budgets, runaway = getattr(uow, "budgets", None), getattr(uow, "runaway", None)
        if budgets is not None:
            self.budgets = _ReadOnceBudgets(budgets)
        if runaway is not None:
            self.runaway = _ReadOnceRunaway(runaway)

    def __getattr__(self, name: str) -> Any:  # `local` and any other repository the real unit offers
        return getattr(self._uow, name)


class _ReadOnceBudgets:
    """BudgetRepository whose rule list is read once; spend and reservations go to the real one."""

    def __init__(self, real: BudgetRepository) -> None:
        self._real = real
        self._rules: list[BudgetRule] | None = None

    def all(self) -> list[BudgetRule]:
        if self._rules is None:
            self._rules = self._real.all()
        return list(self._rules)

    def add(self, rule: NewBudgetRule, *, at: datetime) -> BudgetRule:
        self._rules = None
        return self._real.add(rule, at=at)

    def remove(self, rule_id: int) -> bool:
        self._rules = None
        return self._real.remove(rule_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _ReadOnceRunaway:
    """RunawayRepository that reads the config, a session's recent events and its open trips once,
    then applies its own writes to what it read, exactly as the storage would return them
    (events after `since` in time order, ties in insertion order; a prune at most once per cut-off)."""

    def __init__(self, real: RunawayRepository) -> None:
        self._real = real
        self._config: RunawayConfig | None = None
        self._events: dict[tuple[int, datetime], list[ActivityEvent]] = {}
        self._trips: dict[tuple[int | None, datetime | None], list[Trip]] = {}
        self._pruned: set[datetime] = set()

    def config(self) -> RunawayConfig:
        if self._config is None:
            self._config = self._real.config()
        return self._config

    def save_config(self, config: RunawayConfig) -> None:
        self._real.save_config(config)
        self._config = config

    def add_event(self, event: ActivityEvent) -> None:
        self._real.add_event(event)
        stored = attrs.evolve(event, at=event.at.astimezone(UTC), cost=quantize(event.cost))
        self._pruned = {cut for cut in self._pruned if stored.at > cut}  # an older event: prune again
        for (sid, since), events in self._events.items():
            if sid == stored.session_id and stored.at > since:
                events.insert(bisect.bisect_right(events, stored.at, key=lambda e: e.at), stored)

    def events(self, session_id: int, *, since: datetime) -> list[ActivityEvent]:
        key = (session_id, since)
        if key not in self._events:
            self._events[key] = self._real.events(session_id, since=since)
        return list(self._events[key])

    def window_facts(self, session_id: int, config: RunawayConfig, *, now: datetime) -> WindowFacts:
        # Indexed aggregates that already see the batch's own writes: nothing to cache.
        return self._real.window_facts(session_id, config, now=now)

    def prune(self, before: datetime) -> int:
        if before in self._pruned:
            return 0  # pruned at this cut-off already, and no older event was added since
        self._pruned.add(before)
        # observe() reads events later than its prune cut-off; a list reaching further back is re-read.
        self._events = {key: events for key, events in self._events.items() if key[1] >= before}
        return self._real.prune(before)

    def add_trip(self, trip: Trip) -> Trip:
        self._trips.clear()
        return self._real.add_trip(trip)

    def trips(self, *, session_id: int | None = None, open_at: datetime | None = None) -> list[Trip]:
        key = (session_id, open_at)
        if key not in self._trips:
            self._trips[key] = self._real.trips(session_id=session_id, open_at=open_at)
        return list(self._trips[key])

    def clear(self, *, session_id: int | None, at: datetime) -> int:
        self._events.clear()
        self._trips.clear()
        return self._real.clear(session_id=session_id, at=at)
