"""Runaway-agent use cases: observe activity, report, configure, clear.

Rules: every observation is stored, the detectors run on the session's window aggregates
(`WindowFacts`, read by indexed queries so a check does not grow with the window), and a
detector that already has an open trip for the session does not trip again (one alert per
episode). Each new trip is audited in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from costhq.application.audit import record
from costhq.application.ports.clock import Clock
from costhq.application.ports.firewall import FirewallUnitOfWork
from costhq.domain.errors import InvalidArgument
from costhq.domain.runaway import ActivityEvent, EventKind, RunawayAction, RunawayConfig, Trip, detect_facts


def observe(uow: FirewallUnitOfWork, event: ActivityEvent, *more: ActivityEvent, now: datetime,
            actor: str) -> list[Trip]:
    """Store `event` (and `more` of the same session, in order), run the detector once, store and
    audit new trips; returns the session's open trips."""
    repo = uow.runaway
    cfg = repo.config()
    for each in (event, *more):
        repo.add_event(each)
    repo.prune(now - 2 * cfg.horizon)  # indexed range delete; keeps the table to recent history
    open_trips = repo.trips(session_id=event.session_id, open_at=now)
    tripped = frozenset(t.detector for t in open_trips)
    facts = repo.window_facts(event.session_id, cfg, now=now, skip=tripped)  # a tripped detector waits
    for trip in detect_facts(cfg, event.session_id, facts, now):
        if trip.detector in tripped:
            continue
        stored = repo.add_trip(trip)
        record(uow, "runaway.trip", actor=actor, at=now, session_id=trip.session_id,
               detector=trip.detector.value, action=trip.action.value, message=trip.message)
        open_trips.insert(0, stored)
    return open_trips


@attrs.frozen
class RecordFileActivity:
    """Feed a file modification (from a watcher) to the detector."""

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock

    def __call__(self, *, session_id: int, path: str, actor: str = "watcher") -> list[Trip]:
        now = self.clock.now()
        with self.uow() as uow:
            return observe(uow, ActivityEvent(session_id=session_id, kind=EventKind.FILE, at=now, key=path),
                           now=now, actor=actor)


@attrs.frozen(kw_only=True)
class RunawayReport:
    """`cs runaway status` / the `runaway` object of `cs status --json`."""

    config: RunawayConfig
    open_trips: list[Trip]
    recent_trips: list[Trip]
    now: datetime

    @property
    def blocked(self) -> bool:
        return any(t.blocking(self.now) for t in self.open_trips)


@attrs.frozen
class RunawayStatus:
    """Config plus open and recent trips (of one session, or all)."""

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock

    def __call__(self, *, session_id: int | None = None, recent: int = 10) -> RunawayReport:
        now = self.clock.now()
        with self.uow() as uow:
            return RunawayReport(config=uow.runaway.config(), now=now,
                                 open_trips=uow.runaway.trips(session_id=session_id, open_at=now),
                                 recent_trips=uow.runaway.trips(session_id=session_id)[:recent])


_FIELDS = {f.name for f in attrs.fields(RunawayConfig)}


@attrs.frozen
class ConfigureRunaway:
    """Change detector thresholds / action (unnamed ones keep their value); audited."""

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock

    def __call__(self, *, changes: dict[str, Any], actor: str = "cli", reset: bool = False) -> RunawayConfig:
        unknown = set(changes) - _FIELDS
        if unknown:
            raise InvalidArgument(f"unknown runaway setting(s): {', '.join(sorted(unknown))}")
        values = dict(changes)
        if "action" in values:
            values["action"] = RunawayAction(values["action"])
        if "velocity_usd_per_min" in values:
            values["velocity_usd_per_min"] = Decimal(str(values["velocity_usd_per_min"]))
        now = self.clock.now()
        with self.uow() as uow:
            base = RunawayConfig() if reset else uow.runaway.config()
            try:
                cfg = attrs.evolve(base, **values)
            except (ValueError, TypeError) as exc:
                raise InvalidArgument(f"invalid runaway setting: {exc}") from exc
            uow.runaway.save_config(cfg)
            record(uow, "runaway.config", actor=actor, at=now, reset=reset,
                   **{k: getattr(cfg, k) for k in sorted(_FIELDS)})
            return cfg


@attrs.frozen
class ClearRunaway:
    """Clear open trips (of a session, or all): lifts a `block`; audited."""

    uow: Callable[[], FirewallUnitOfWork]
    clock: Clock

    def __call__(self, *, session_id: int | None = None, actor: str = "cli") -> int:
        now = self.clock.now()
        with self.uow() as uow:
            n = uow.runaway.clear(session_id=session_id, at=now)
            record(uow, "runaway.clear", actor=actor, at=now, session_id=session_id, cleared=n)
            return n
