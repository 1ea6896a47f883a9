"""In-memory AuditLog, BudgetRepository and RunawayRepository: verified fakes of sqlite/audit.py /
sqlite/firewall.py, living in an InMemoryUnitOfWork's working copy (so they commit and roll back
with it). tests/contract checks they behave like the APSW adapters.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from costhq.adapters.persistence.converter import normalise_time
from costhq.adapters.persistence.rows import config_from_json, config_to_json
from costhq.application.errors import Conflict
from costhq.domain.audit import GENESIS, AuditEntry, AuditEvent, json_value, seal
from costhq.domain.budgets import BudgetAction, BudgetRule, NewBudgetRule, SpendFilter
from costhq.domain.errors import SessionNotFound
from costhq.domain.estimates import CostSample
from costhq.domain.money import ZERO, quantize
from costhq.domain.runaway import (
    ActivityEvent,
    Detector,
    RunawayAction,
    RunawayConfig,
    Trip,
    WindowFacts,
    window_facts,
)
from costhq.domain.usage import UsageRecord


@attrs.frozen
class _Reservation:
    id: int
    session_id: int | None
    project: str | None
    model: str
    amount: Decimal
    at: datetime
    expires_at: datetime


@attrs.define
class FirewallState:
    """The issue-4 part of the in-memory store's state."""

    audit: list[AuditEntry] = attrs.Factory(list)
    rules: dict[int, BudgetRule] = attrs.Factory(dict)
    reservations: dict[int, _Reservation] = attrs.Factory(dict)
    events: list[ActivityEvent] = attrs.Factory(list)
    trips: dict[int, Trip] = attrs.Factory(dict)
    config: str | None = None
    ids: dict[str, int] = attrs.Factory(dict)
    rules_version: int = 0  # issue 14: bumped on every rule change, like step 9's triggers
    samples: list[tuple[str, str, CostSample]] = attrs.Factory(list)

    def copy(self) -> FirewallState:
        return FirewallState(list(self.audit), dict(self.rules), dict(self.reservations), list(self.events),
                             dict(self.trips), self.config, dict(self.ids), self.rules_version, list(self.samples))

    def next_id(self, table: str) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]


class InMemoryAuditLog:
    """AuditLog over the working copy (`state` is memory._State, for the usage records the chain
    covers); `key` switches to HMAC-SHA-256."""

    def __init__(self, fw: FirewallState, key: bytes | None = None, state: Any = None) -> None:
        self._fw, self._key, self._s = fw, key, state

    def append(self, event: AuditEvent) -> AuditEntry:
        last = self._fw.audit[-1] if self._fw.audit else None
        entry = seal(attrs.evolve(event, payload=json_value(event.payload)), seq=last.seq + 1 if last else 1,
                     prev_hash=last.hash if last else GENESIS, key=self._key, prev_at=last.at if last else "")
        self._fw.audit.append(entry)
        return entry

    def usage_mark(self) -> int:
        return max((u.id or 0 for u in self._s.usage), default=0)

    def usage_after(self, after_id: int) -> Iterator[UsageRecord]:
        return iter(sorted((u for u in self._s.usage if (u.id or 0) > after_id), key=lambda u: u.id or 0))

    def head(self) -> AuditEntry | None:
        return self._fw.audit[-1] if self._fw.audit else None

    def entries(self, *, after_seq: int = 0, limit: int | None = None) -> Iterator[AuditEntry]:
        rows = [e for e in self._fw.audit if e.seq > after_seq]
        return iter(rows if limit is None else rows[:limit])

    def last(self, n: int) -> list[AuditEntry]:
        return self._fw.audit[-n:] if n > 0 else []


class InMemoryBudgetRepository:
    """BudgetRepository over the working copy (`state` is memory._State: sessions and usage)."""

    def __init__(self, fw: FirewallState, state: Any) -> None:
        self._fw, self._s = fw, state

    def add(self, rule: NewBudgetRule, *, at: datetime) -> BudgetRule:
        if rule.session_id is not None and rule.session_id not in self._s.sessions:
            raise SessionNotFound(f"Session {rule.session_id} not found", session_id=rule.session_id)
        stored = BudgetRule(id=self._fw.next_id("rules"), created_at=normalise_time(at),
                            **attrs.asdict(rule, recurse=False))
        self._fw.rules[stored.id] = stored
        self._fw.rules_version += 1
        return stored

    def get(self, rule_id: int) -> BudgetRule | None:
        return self._fw.rules.get(rule_id)

    def all(self) -> list[BudgetRule]:
        return [self._fw.rules[k] for k in sorted(self._fw.rules)]

    def remove(self, rule_id: int) -> bool:
        found = self._fw.rules.pop(rule_id, None) is not None
        self._fw.rules_version += found
        return found

    def spent(self, where: SpendFilter) -> Decimal:
        total = ZERO
        for u in self._s.usage:
            s = self._s.sessions[u.session_id]
            if ((where.session_id is None or u.session_id == where.session_id)
                    and (where.project is None or s.working_directory == where.project)
                    and (where.model is None or where.model in (u.model, u.served_model))
                    and (where.start is None or u.timestamp >= where.start)
                    and (where.end is None or u.timestamp < where.end)):
                total += u.cost or ZERO
        return quantize(total)

    def reserved(self, where: SpendFilter, *, now: datetime, exclude: int | None = None) -> Decimal:
        return quantize(sum((r.amount for r in self._fw.reservations.values()
                             if r.expires_at > now and r.id != exclude
                             and (where.session_id is None or r.session_id == where.session_id)
                             and (where.project is None or r.project == where.project)
                             and (where.model is None or r.model == where.model)
                             and (where.start is None or r.at >= where.start)
                             and (where.end is None or r.at < where.end)), ZERO))

    def standing(self, wheres: list[SpendFilter], *, now: datetime, with_reserved: bool = True,
                 exclude: int | None = None) -> list[tuple[Decimal, Decimal]]:
        return [(self.spent(w), self.reserved(w, now=now, exclude=exclude) if with_reserved else ZERO)
                for w in wheres]

    def reserve(self, *, session_id: int | None, project: str | None, model: str, amount: Decimal,
                at: datetime, expires_at: datetime) -> int:
        rid = self._fw.next_id("reservations")
        self._fw.reservations[rid] = _Reservation(rid, session_id, project, model, quantize(amount),
                                                  normalise_time(at), normalise_time(expires_at))
        return rid

    def lease(self, reservation_id: int | None, *, session_id: int | None, project: str | None, model: str,
              amount: Decimal, at: datetime, expires_at: datetime) -> int:
        found = self._fw.reservations.get(reservation_id) if reservation_id is not None else None
        if found is None:
            return self.reserve(session_id=session_id, project=project, model=model, amount=amount, at=at,
                                expires_at=expires_at)
        self._fw.reservations[found.id] = attrs.evolve(found, amount=quantize(amount), at=normalise_time(at),
                                                       expires_at=normalise_time(expires_at))
        return found.id

    def release(self, reservation_id: int) -> bool:
        return self._fw.reservations.pop(reservation_id, None) is not None

    def rules_version(self) -> int:
        return self._fw.rules_version

    def expire(self, now: datetime) -> int:
        gone = [k for k, r in self._fw.reservations.items() if r.expires_at <= now]
        for k in gone:
            del self._fw.reservations[k]
        return len(gone)

    def add_samples(self, samples: list[tuple[str, str, CostSample, datetime]]) -> None:
        self._fw.samples.extend((m, c, attrs.evolve(s, estimated_input=quantize(s.estimated_input),
                                                    input_cost=quantize(s.input_cost)))
                                for m, c, s, _at in samples)

    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]:
        found = [s for m, c, s in self._fw.samples if m == model and (client is None or c == client)]
        return found[-n:] if n > 0 else []

    def response_tokens(self, response_id: str) -> int | None:
        found = [u for u in self._s.usage if u.response_id == response_id]
        return found[-1].tokens.total if found else None


class InMemoryFirewallProbe:
    """FirewallProbe over an InMemoryStore's committed state."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def _repo(self) -> InMemoryBudgetRepository:
        return InMemoryBudgetRepository(self._store.state.firewall, self._store.state)

    def rules_version(self) -> int:
        return self._repo().rules_version()

    def blocking_rules(self) -> bool:
        return any(r.action is BudgetAction.BLOCK for r in self._store.state.firewall.rules.values())

    def runaway_blocking(self, now: datetime) -> bool:
        fw = self._store.state.firewall
        config = config_from_json(fw.config) if fw.config else RunawayConfig()
        return config.action is RunawayAction.BLOCK or any(
            t.action is RunawayAction.BLOCK and t.cleared_at is None and t.until > now for t in fw.trips.values())

    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]:
        return self._repo().samples(model, client, n)

    def response_tokens(self, response_id: str) -> int | None:
        return self._repo().response_tokens(response_id)

# The WindowFacts field each detector reads (left at its default when the detector is skipped).
_FACT_OF = {Detector.VELOCITY: "spent", Detector.IDENTICAL: "repeated", Detector.LOOP: "recent_calls",
            Detector.CHURN: "churned"}


class InMemoryRunawayRepository:
    """RunawayRepository over the working copy."""

    def __init__(self, fw: FirewallState) -> None:
        self._fw = fw

    def config(self) -> RunawayConfig:
        return config_from_json(self._fw.config) if self._fw.config else RunawayConfig()

    def save_config(self, config: RunawayConfig) -> None:
        self._fw.config = config_to_json(config)

    def add_event(self, event: ActivityEvent) -> None:
        self._fw.events.append(attrs.evolve(event, at=normalise_time(event.at), cost=quantize(event.cost)))

    def events(self, session_id: int, *, since: datetime) -> list[ActivityEvent]:
        return sorted((e for e in self._fw.events if e.session_id == session_id and e.at > since),
                      key=lambda e: e.at)

    def window_facts(self, session_id: int, config: RunawayConfig, *, now: datetime,
                     skip: frozenset[Detector] = frozenset()) -> WindowFacts:
        facts = window_facts(config, self.events(session_id, since=now - config.horizon), now)
        return attrs.evolve(facts, **{_FACT_OF[d]: getattr(WindowFacts(), _FACT_OF[d]) for d in skip})

    def prune(self, before: datetime) -> int:
        keep = [e for e in self._fw.events if e.at > before]
        gone = len(self._fw.events) - len(keep)
        self._fw.events[:] = keep
        return gone

    def add_trip(self, trip: Trip) -> Trip:
        if trip.id is not None:
            raise Conflict("trip already stored")
        stored = attrs.evolve(trip, id=self._fw.next_id("trips"), at=normalise_time(trip.at),
                              until=normalise_time(trip.until))
        self._fw.trips[stored.id] = stored  # type: ignore[index]
        return stored

    def trips(self, *, session_id: int | None = None, open_at: datetime | None = None) -> list[Trip]:
        found = [t for t in self._fw.trips.values() if (session_id is None or t.session_id == session_id)
                 and (open_at is None or (t.cleared_at is None and t.until > open_at))]
        return sorted(found, key=lambda t: (t.at, t.id or 0), reverse=True)

    def clear(self, *, session_id: int | None, at: datetime) -> int:
        self._fw.events[:] = [e for e in self._fw.events if session_id is not None and e.session_id != session_id]
        n = 0
        for k, t in list(self._fw.trips.items()):
            if t.cleared_at is None and (session_id is None or t.session_id == session_id):
                self._fw.trips[k] = attrs.evolve(t, cleared_at=normalise_time(at))
                n += 1
        return n
