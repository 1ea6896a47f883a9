"""AuditLog, BudgetRepository and RunawayRepository: the in-memory fakes behave like APSW."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from costhq.application.errors import StorageBusy
from costhq.domain.audit import AuditEvent, verify
from costhq.domain.budgets import BudgetScope, NewBudgetRule, SpendFilter
from costhq.domain.pricing import PriceSource
from costhq.domain.runaway import ActivityEvent, Detector, EventKind, RunawayAction, RunawayConfig, Trip
from costhq.domain.sessions import NewSession
from costhq.domain.usage import TokenCounts, UsageRecord

T0 = datetime(2026, 3, 10, 12, tzinfo=UTC)
MakeUow = Callable[[], Any]


def _usage(sid: int, cost: str, model: str, at: datetime) -> UsageRecord:
    return UsageRecord(session_id=sid, provider="openai", model=model, tokens=TokenCounts(input=1), total_tokens=1,
                       cost=Decimal(cost), price_source=PriceSource.MANUAL, timestamp=at)


def test_audit_appends_chain_and_roll_back_with_the_unit_of_work(make_uow: MakeUow) -> None:
    with make_uow() as uow:
        base = uow.audit.head()
        first = uow.audit.append(AuditEvent(event="note", actor="cli", payload={"x": Decimal("1.5")}, at=T0))
    start = base.seq if base else 0
    assert first.seq == start + 1 and first.payload == {"x": "1.5"}
    with pytest.raises(RuntimeError), make_uow() as uow:
        uow.audit.append(AuditEvent(event="note", actor="cli", payload={}, at=T0))
        raise RuntimeError("boom")
    with make_uow() as uow:
        second = uow.audit.append(AuditEvent(event="note", actor="cli", payload={"y": 2}, at=T0))
        assert second.seq == first.seq + 1 and second.prev_hash == first.hash
        assert [e.seq for e in uow.audit.last(2)] == [first.seq, second.seq]
        assert verify(uow.audit.entries()).ok


def test_spend_and_reservations_by_filter(make_uow: MakeUow) -> None:
    with make_uow() as uow:
        a = uow.sessions.add(NewSession(name="a", start_time=T0, working_directory="/p"))
        b = uow.sessions.add(NewSession(name="b", start_time=T0, working_directory="/q"))
        uow.usage.add(_usage(a.id, "1.25", "gpt-4o", T0))
        uow.usage.add(_usage(a.id, "2", "o3", T0 + timedelta(days=1)))
        uow.usage.add(_usage(b.id, "4", "gpt-4o", T0))
        rule = uow.budgets.add(NewBudgetRule(scope=BudgetScope.SESSION, limit=Decimal(5), session_id=a.id), at=T0)
        rid = uow.budgets.reserve(session_id=a.id, project="/p", model="gpt-4o", amount=Decimal("0.5"), at=T0,
                                  expires_at=T0 + timedelta(minutes=10))
    with make_uow() as uow:
        assert uow.budgets.all() == [rule] and uow.budgets.get(rule.id) == rule
        spent = uow.budgets.spent
        assert spent(SpendFilter()) == Decimal("7.25")
        assert spent(SpendFilter(session_id=a.id)) == Decimal("3.25")
        assert spent(SpendFilter(project="/q")) == Decimal(4)
        assert spent(SpendFilter(model="gpt-4o")) == Decimal("5.25")
        assert spent(SpendFilter(start=T0, end=T0 + timedelta(hours=1))) == Decimal("5.25")
        assert uow.budgets.reserved(SpendFilter(session_id=a.id), now=T0) == Decimal("0.5")
        assert uow.budgets.reserved(SpendFilter(), now=T0 + timedelta(minutes=10)) == 0
        assert uow.budgets.expire(T0 + timedelta(minutes=10)) == 1 and not uow.budgets.release(rid)
        assert uow.budgets.remove(rule.id) and not uow.budgets.remove(rule.id)


def test_runaway_events_trips_config(make_uow: MakeUow) -> None:
    with make_uow() as uow:
        assert uow.runaway.config() == RunawayConfig()
        uow.runaway.save_config(RunawayConfig(action=RunawayAction.BLOCK, velocity_usd_per_min=Decimal("0.5")))
        for i in range(3):
            uow.runaway.add_event(ActivityEvent(session_id=1, kind=EventKind.CALL, key=f"k{i}",
                                                at=T0 + timedelta(seconds=i)))
        trip = uow.runaway.add_trip(Trip(session_id=1, detector=Detector.LOOP, action=RunawayAction.BLOCK,
                                         message="m", at=T0, until=T0 + timedelta(minutes=10)))
    with make_uow() as uow:
        assert uow.runaway.config().velocity_usd_per_min == Decimal("0.5")
        assert [e.key for e in uow.runaway.events(1, since=T0)] == ["k1", "k2"]
        assert uow.runaway.prune(T0 + timedelta(seconds=1)) == 2
        assert uow.runaway.trips(session_id=1, open_at=T0) == [trip]
        assert uow.runaway.trips(open_at=T0 + timedelta(minutes=10)) == []
        assert uow.runaway.clear(session_id=1, at=T0) == 1
        assert uow.runaway.trips(session_id=1, open_at=T0) == []


def test_a_nested_unit_of_work_is_busy_not_a_forked_chain(make_uow: MakeUow) -> None:
    with make_uow() as uow:
        uow.audit.append(AuditEvent(event="note", actor="cli", payload={}, at=T0))
        if type(uow).__name__.startswith("InMemory"):
            with pytest.raises(StorageBusy), make_uow():
                pass
