"""Read-once views of the firewall repositories for a batch of records (the recording pipeline).

A batch holds the write lock (an IMMEDIATE transaction), so nothing but its own writes can change
the firewall tables meanwhile: the runaway config, budget rules and open trips are read once and
then kept in step with the batch's own writes; the detectors' window aggregates are indexed reads
that already see those writes. One call gains nothing from it, so only batches use it.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from costhq.application.ports.firewall import BudgetRepository, RunawayRepository
from costhq.application.ports.storage import UnitOfWork
from costhq.domain.money import quantize

if TYPE_CHECKING:
    from costhq.domain.budgets import BudgetRule, NewBudgetRule
    from costhq.domain.runaway import ActivityEvent, Detector, RunawayConfig, Trip, WindowFacts


class BatchView:
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

    def window_facts(self, session_id: int, config: RunawayConfig, *, now: datetime,
                     skip: frozenset[Detector] = frozenset()) -> WindowFacts:
        # Indexed aggregates that already see the batch's own writes: nothing to cache.
        return self._real.window_facts(session_id, config, now=now, skip=skip)

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
