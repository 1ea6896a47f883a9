"""Read-once views of the firewall repositories for a batch of records (the recording pipeline).

A batch holds the write lock (an IMMEDIATE transaction), so nothing but its own writes can change
the firewall tables meanwhile: the runaway config, budget rules and open trips are read once and
then kept in step with the batch's own writes; the detectors' window aggregates are indexed reads
that already see those writes. One call gains nothing from it, so only batches use it.

What was read lives in a `BatchReads`, which several units of work of one transaction can share:
the proxy's recorder writes each call in its own savepoint of one batch transaction (issue 15), and
its unit of work offers the batch's `BatchReads` as `batch_reads`. A savepoint rolled back
must drop it (what it cached may include the rolled-back writes): the storage starts a new one.
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


class BatchReads:
    """What a batch transaction has read of the firewall tables (see the module docstring)."""

    def __init__(self) -> None:
        self.config: RunawayConfig | None = None
        self.rules: list[BudgetRule] | None = None
        self.events: dict[tuple[int, datetime], list[ActivityEvent]] = {}
        self.open_trips: dict[int, tuple[datetime, list[Trip]]] = {}  # session -> (open at, its open trips)
        self.pruned: datetime | None = None  # the cut-off of the last prune, while nothing older was added


class BatchView:
    """The batch's unit of work with read-once firewall repositories (see the module docstring);
    every other repository is the real one."""

    def __init__(self, uow: UnitOfWork, reads: BatchReads | None = None) -> None:
        self._uow = uow
        reads = reads or BatchReads()
        self.sessions, self.usage, self.activity, self.audit = uow.sessions, uow.usage, uow.activity, uow.audit
        budgets, runaway = getattr(uow, "budgets", None), getattr(uow, "runaway", None)
        if budgets is not None:
            self.budgets = _ReadOnceBudgets(budgets, reads)
        if runaway is not None:
            self.runaway = _ReadOnceRunaway(runaway, reads)

    def __getattr__(self, name: str) -> Any:  # `local` and any other repository the real unit offers
        return getattr(self._uow, name)


class _ReadOnceBudgets:
    """BudgetRepository whose rule list is read once; spend and reservations go to the real one."""

    def __init__(self, real: BudgetRepository, reads: BatchReads) -> None:
        self._real, self._r = real, reads

    def all(self) -> list[BudgetRule]:
        if self._r.rules is None:
            self._r.rules = self._real.all()
        return list(self._r.rules)

    def add(self, rule: NewBudgetRule, *, at: datetime) -> BudgetRule:
        self._r.rules = None
        return self._real.add(rule, at=at)

    def remove(self, rule_id: int) -> bool:
        self._r.rules = None
        return self._real.remove(rule_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _ReadOnceRunaway:
    """RunawayRepository that reads the config, a session's recent events and its open trips once,
    then applies its own writes to what it read, exactly as the storage would return them
    (events after `since` in time order, ties in insertion order; open trips in the storage's order;
    a prune at most once per cut-off, again after an event older than it was added).
    """

    def __init__(self, real: RunawayRepository, reads: BatchReads) -> None:
        self._real, self._r = real, reads

    def config(self) -> RunawayConfig:
        if self._r.config is None:
            self._r.config = self._real.config()
        return self._r.config

    def save_config(self, config: RunawayConfig) -> None:
        self._real.save_config(config)
        self._r.config = config

    def add_event(self, event: ActivityEvent) -> None:
        self._real.add_event(event)
        stored = attrs.evolve(event, at=event.at.astimezone(UTC), cost=quantize(event.cost))
        if self._r.pruned is not None and stored.at <= self._r.pruned:
            self._r.pruned = None  # an event older than the last cut-off: the next prune deletes it
        for (sid, since), events in self._r.events.items():
            if sid == stored.session_id and stored.at > since:
                events.insert(bisect.bisect_right(events, stored.at, key=lambda e: e.at), stored)

    def events(self, session_id: int, *, since: datetime) -> list[ActivityEvent]:
        key = (session_id, since)
        if key not in self._r.events:
            self._r.events[key] = self._real.events(session_id, since=since)
        return list(self._r.events[key])

    def window_facts(self, session_id: int, config: RunawayConfig, *, now: datetime,
                     skip: frozenset[Detector] = frozenset()) -> WindowFacts:
        # Indexed aggregates that already see the batch's own writes: nothing to cache.
        return self._real.window_facts(session_id, config, now=now, skip=skip)

    def prune(self, before: datetime) -> int:
        if self._r.pruned is not None and before == self._r.pruned:
            return 0  # pruned at this cut-off already, and no older event was added since
        self._r.pruned = before
        # A cached list reaching back past the cut-off would still hold what storage deletes: re-read it.
        self._r.events = {key: events for key, events in self._r.events.items() if key[1] >= before}
        return self._real.prune(before)

    def add_trip(self, trip: Trip) -> Trip:
        self._r.open_trips.clear()
        return self._real.add_trip(trip)

    def trips(self, *, session_id: int | None = None, open_at: datetime | None = None) -> list[Trip]:
        if session_id is None or open_at is None:
            return self._real.trips(session_id=session_id, open_at=open_at)
        cached = self._r.open_trips.get(session_id)
        if cached is None or open_at < cached[0]:
            cached = (open_at, self._real.trips(session_id=session_id, open_at=open_at))
            self._r.open_trips[session_id] = cached
        # Open at a later time: the same trips minus those ended since (a trip is open while `until > at`).
        return [t for t in cached[1] if t.until > open_at]

    def clear(self, *, session_id: int | None, at: datetime) -> int:
        self._r.events.clear()
        self._r.open_trips.clear()
        return self._real.clear(session_id=session_id, at=at)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)
