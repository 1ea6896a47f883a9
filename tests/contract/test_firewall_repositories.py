"""AuditLog, BudgetRepository and RunawayRepository: the in-memory fakes behave like APSW."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from costhq.application.errors import StorageBusy
from costhq.domain.audit import AuditEvent, verify
from costhq.domain.budgets import BudgetAction, BudgetScope, NewBudgetRule, SpendFilter
from costhq.domain.pricing import PriceSource
from costhq.domain.runaway import (
    ActivityEvent,
    Detector,
    EventKind,
    RunawayAction,
    RunawayConfig,
    Trip,
    WindowFacts,
    window_facts,
)
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


def test_window_facts_match_the_domain_definition_at_every_window_edge(make_uow: MakeUow) -> None:
    """Each detector's own window `(now - span, now]`: an event exactly `span` old or after `now` is
    out, one a microsecond younger is in; ties in time keep insertion order; other sessions never count."""
    cfg = RunawayConfig(velocity_window_s=300, identical_window_s=600, loop_window_s=120, loop_repeats=2,
                        churn_window_s=60)
    now = T0 + timedelta(hours=1)
    us, s = timedelta(microseconds=1), timedelta(seconds=1)
    call, cost, file = EventKind.CALL, EventKind.COST, EventKind.FILE
    events = [  # (session, kind, key, cost, age): at = now - age
        (1, cost, "", "5", 300 * s), (1, cost, "", "0.0000000001", 300 * s - us), (1, cost, "", "1.25", 0 * s),
        (1, cost, "", "7", -us), (2, cost, "", "100", 0 * s),
        (1, call, "A", "0", 600 * s), (1, call, "A", "0", 599 * s), (1, call, "B", "0", 120 * s),
        (1, call, "A", "0", 60 * s), (1, call, "B", "0", 5 * s), (1, call, "A", "0", 5 * s),
        (1, call, "", "0", 0 * s), (1, call, "A", "0", -s), (2, call, "A", "0", 0 * s),
        (1, file, "x.py", "0", 60 * s), (1, file, "x.py", "0", 59 * s), (1, file, "y.py", "0", 30 * s),
        (1, file, "x.py", "0", s), (1, file, "x.py", "0", s)]
    with make_uow() as uow:
        for sid, kind, key, amount, age in events:
            uow.runaway.add_event(ActivityEvent(session_id=sid, kind=kind, key=key, cost=Decimal(amount),
                                                at=now - age))
    kolkata = now.astimezone(ZoneInfo("Asia/Kolkata"))  # the query's zone must not matter
    with make_uow() as uow:
        facts = uow.runaway.window_facts(1, cfg, now=kolkata)
        assert facts == WindowFacts(spent=Decimal("1.2500000001"), repeated=("A", 3),
                                    recent_calls=("A", "B", "A", ""), churned=("x.py", 3))
        assert facts == window_facts(cfg, uow.runaway.events(1, since=now - cfg.horizon), now)
        assert uow.runaway.window_facts(2, cfg, now=now) == WindowFacts(
            spent=Decimal(100), repeated=("A", 1), recent_calls=("A",))
        assert uow.runaway.window_facts(3, cfg, now=now) == WindowFacts()
        later = now + 61 * s  # the windows slide: the churn window empties, the future events come in
        assert uow.runaway.window_facts(1, cfg, now=later) == WindowFacts(
            spent=Decimal("8.25"), repeated=("A", 3), recent_calls=("B", "A", "", "A"), churned=None)
        assert uow.runaway.window_facts(1, cfg, now=later) == window_facts(
            cfg, uow.runaway.events(1, since=later - cfg.horizon), later)


_FIELD_OF = {Detector.VELOCITY: "spent", Detector.IDENTICAL: "repeated", Detector.LOOP: "recent_calls",
             Detector.CHURN: "churned"}


def _defined(uow: Any, sid: int, cfg: RunawayConfig, now: datetime) -> WindowFacts:
    return window_facts(cfg, uow.runaway.events(sid, since=now - cfg.horizon), now)


def _random_events(rng: random.Random, n: int, base: datetime) -> list[ActivityEvent]:
    """Events in random time order (most back-dated against the newest), on a 1 s grid (ties), few keys."""
    kinds = (EventKind.CALL, EventKind.COST, EventKind.FILE)
    return [ActivityEvent(session_id=rng.choice((1, 1, 2)), kind=(kind := rng.choice(kinds)),
                          key=rng.choice(("A", "B", "")) if kind is not EventKind.COST else "",
                          cost=Decimal(rng.randrange(0, 10**12)) / 10**10 if kind is EventKind.COST else Decimal(0),
                          at=base + timedelta(seconds=rng.randrange(0, 900))) for _ in range(n)]


def test_window_facts_stay_exact_with_back_dated_costs_prune_clear_and_capped_counts(make_uow: MakeUow) -> None:
    """Cost events in any time order (the running totals shift), ties, a prune that cuts a session's
    oldest costs, events older than every one left, a clear; counts below, at and above their
    thresholds (identical_k 3, churn_n 2): every answer equals the domain definition."""
    rng = random.Random(7)
    cfg = RunawayConfig(velocity_window_s=300, identical_window_s=200, identical_k=3, loop_window_s=120,
                        loop_repeats=2, churn_window_s=100, churn_n=2)
    nows = [T0 + timedelta(seconds=s) for s in (-1, 0, 150, 299, 300, 301, 450, 600, 899, 900, 1200, 1500)]

    def check(uow: Any) -> None:
        for now in nows:
            for sid in (1, 2, 3):
                assert uow.runaway.window_facts(sid, cfg, now=now) == _defined(uow, sid, cfg, now), (sid, now)

    with make_uow() as uow:
        for event in _random_events(rng, 150, T0):
            uow.runaway.add_event(event)
    with make_uow() as uow:
        check(uow)
        counts = {uow.runaway.window_facts(1, cfg, now=now).repeated for now in nows} - {None}
        assert {n for _k, n in counts} & {1, 2} and {n for _k, n in counts} & {3} and max(n for _k, n in counts) > 3
        assert uow.runaway.prune(T0 + timedelta(seconds=400)) > 0
        check(uow)
        for event in _random_events(rng, 60, T0 + timedelta(seconds=200)):  # some older than all left
            uow.runaway.add_event(event)
        check(uow)
    with make_uow() as uow:
        check(uow)
        uow.runaway.clear(session_id=1, at=T0)
        assert uow.runaway.window_facts(1, cfg, now=nows[-3]) == WindowFacts()
        for event in _random_events(rng, 40, T0 + timedelta(seconds=500)):
            uow.runaway.add_event(event)
        check(uow)


def test_window_facts_leave_skipped_detectors_at_their_defaults(make_uow: MakeUow) -> None:
    cfg = RunawayConfig(identical_k=2, loop_repeats=1, churn_n=2)
    with make_uow() as uow:
        for i, (kind, key, cost) in enumerate([(EventKind.COST, "", "0.5"), (EventKind.CALL, "A", "0"),
                                               (EventKind.CALL, "B", "0"), (EventKind.CALL, "A", "0"),
                                               (EventKind.FILE, "x.py", "0"), (EventKind.FILE, "x.py", "0"),
                                               (EventKind.COST, "", "0.25")]):
            uow.runaway.add_event(ActivityEvent(session_id=1, kind=kind, key=key, cost=Decimal(cost),
                                                at=T0 + timedelta(seconds=i)))
    now = T0 + timedelta(seconds=10)
    full = WindowFacts(spent=Decimal("0.75"), repeated=("A", 2), recent_calls=("B", "A"), churned=("x.py", 2))
    with make_uow() as uow:
        assert uow.runaway.window_facts(1, cfg, now=now) == full == _defined(uow, 1, cfg, now)
        for n in range(1, len(Detector) + 1):
            for skip in itertools.combinations(Detector, n):
                expected = attrs.evolve(full, **{_FIELD_OF[d]: getattr(WindowFacts(), _FIELD_OF[d]) for d in skip})
                assert uow.runaway.window_facts(1, cfg, now=now, skip=frozenset(skip)) == expected, skip


def test_a_nested_unit_of_work_is_busy_not_a_forked_chain(make_uow: MakeUow) -> None:
    with make_uow() as uow:
        uow.audit.append(AuditEvent(event="note", actor="cli", payload={}, at=T0))
        if type(uow).__name__.startswith("InMemory"):
            with pytest.raises(StorageBusy), make_uow():
                pass


def test_windowed_spend_is_exact_at_minute_edges_of_any_zone(make_uow: MakeUow) -> None:
    # Calls around 18:29/18:30 UTC, the local midnight of UTC+5:30: whole hours come from the
    # rollup in APSW, the partial hours at the edges from raw calls; the fake sums raw calls.
    ist_midnight = datetime(2026, 3, 10, 18, 30, tzinfo=UTC)
    with make_uow() as uow:
        a = uow.sessions.add(NewSession(name="a", start_time=T0, working_directory="/p"))
        b = uow.sessions.add(NewSession(name="b", start_time=T0, working_directory="/q"))
        calls = [(a.id, "0.1", "gpt-4o", ist_midnight - timedelta(microseconds=1)),
                 (a.id, "0.2", "gpt-4o", ist_midnight),
                 (a.id, "0.4", "o3", ist_midnight + timedelta(minutes=29, seconds=59)),
                 (b.id, "0.8", "gpt-4o", ist_midnight + timedelta(hours=3)),
                 (b.id, "1.6", "gpt-4o", ist_midnight + timedelta(days=1) - timedelta(microseconds=1)),
                 (a.id, "3.2", "gpt-4o", ist_midnight + timedelta(days=1))]
        for sid, cost, model, at in calls:
            uow.usage.add(_usage(sid, cost, model, at))
        served = attrs.evolve(_usage(b.id, "6.4", "gpt-4o", ist_midnight + timedelta(hours=5)),
                              model="alias", served_model="o3")
        uow.usage.add(served)
    day = SpendFilter(start=ist_midnight, end=ist_midnight + timedelta(days=1))
    with make_uow() as uow:
        spent = uow.budgets.spent
        assert spent(day) == Decimal("9.4")
        assert spent(attrs.evolve(day, model="o3")) == Decimal("6.8")  # requested or served
        assert spent(attrs.evolve(day, model="alias")) == Decimal("6.4")
        assert spent(attrs.evolve(day, session_id=a.id)) == Decimal("0.6")
        assert spent(attrs.evolve(day, project="/q")) == Decimal("8.8")
        assert spent(attrs.evolve(day, project="/q", model="gpt-4o")) == Decimal("2.4")
        inside = SpendFilter(start=ist_midnight + timedelta(minutes=1), end=ist_midnight + timedelta(minutes=30))
        assert spent(inside) == Decimal("0.4")  # both edges inside one UTC hour
        assert spent(SpendFilter(start=ist_midnight)) == Decimal("12.6")  # open end
        assert spent(SpendFilter(model="gpt-4o")) == Decimal("5.9")  # all time, by model
        assert spent(SpendFilter(session_id=a.id, model="gpt-4o")) == Decimal("3.5")


def test_rollup_follows_deletes_and_is_built_from_existing_calls(make_uow: MakeUow, db_path: Any,
                                                                 request: pytest.FixtureRequest) -> None:
    with make_uow() as uow:
        a = uow.sessions.add(NewSession(name="a", start_time=T0, working_directory="/p"))
        for i in range(3):
            uow.usage.add(_usage(a.id, "0.5", "gpt-4o", T0 + timedelta(minutes=i)))
    window = SpendFilter(start=T0 - timedelta(hours=2), end=T0 + timedelta(hours=2))
    with make_uow() as uow:
        assert uow.budgets.spent(window) == Decimal("1.5")
    kind = type(make_uow()).__name__
    if kind.startswith("Pg"):  # PostgreSQL's rollup trigger (schema v4; its backfill: tests/postgres/test_pg_schema.py)
        import psycopg

        with psycopg.connect(request.getfixturevalue("pg_url")) as pg:
            pg.execute("UPDATE ai_usage SET cost_units = 2500000000 WHERE id = (SELECT MAX(id) FROM ai_usage)")
            pg.execute("DELETE FROM ai_usage WHERE id = (SELECT MIN(id) FROM ai_usage)")
            assert pg.execute("SELECT SUM(cost_units), SUM(calls) FROM spend_hourly").fetchall() == [
                (7_500_000_000, 2)]
            pg.commit()
            with make_uow() as uow:
                assert uow.budgets.spent(window) == Decimal("0.75")
            pg.execute("DELETE FROM sessions")
            assert pg.execute("SELECT COUNT(*) FROM spend_hourly").fetchall() == [(0,)]
        return
    if not kind.startswith("Apsw"):
        return  # the rest checks the SQLite file's rollup triggers
    import apsw

    conn = apsw.Connection(str(db_path))
    try:  # the cascade from a deleted session runs the rollup's delete trigger
        with conn:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("DELETE FROM ai_usage WHERE id = (SELECT MIN(id) FROM ai_usage)")
            assert conn.execute("SELECT SUM(cost_units), SUM(calls) FROM spend_hourly").fetchall() == [
                (10_000_000_000, 2)]
            # a file migrated from v5: step 6 rebuilds the rollup from the calls already stored
            from costhq.adapters.persistence.sqlite.firewall_schema import SQL

            conn.execute("DROP TRIGGER spend_hourly_insert; DROP TRIGGER spend_hourly_delete;"
                         " DROP TRIGGER spend_hourly_update; DROP TABLE spend_hourly;")
            conn.execute(SQL)
            assert conn.execute("SELECT SUM(cost_units), SUM(calls) FROM spend_hourly").fetchall() == [
                (10_000_000_000, 2)]
            conn.execute("DELETE FROM sessions")
            assert conn.execute("SELECT COUNT(*) FROM spend_hourly").fetchall() == [(0,)]
    finally:
        conn.close()


def test_standing_reads_every_filter_at_once_with_the_same_answers(make_uow: MakeUow) -> None:
    with make_uow() as uow:
        a = uow.sessions.add(NewSession(name="a", start_time=T0, working_directory="/p"))
        uow.usage.add(_usage(a.id, "1.25", "gpt-4o", T0 + timedelta(minutes=7)))
        uow.usage.add(_usage(a.id, "2", "o3", T0 - timedelta(days=2)))
        uow.budgets.reserve(session_id=a.id, project="/p", model="gpt-4o", amount=Decimal("0.5"), at=T0,
                            expires_at=T0 + timedelta(minutes=10))
    wheres = [SpendFilter(), SpendFilter(session_id=a.id, model="o3"), SpendFilter(project="/p"),
              SpendFilter(start=T0 + timedelta(minutes=5), end=T0 + timedelta(days=1), model="gpt-4o")]
    with make_uow() as uow:
        assert uow.budgets.standing(wheres, now=T0) == [
            (Decimal("3.25"), Decimal("0.5")), (Decimal(2), Decimal(0)), (Decimal("3.25"), Decimal("0.5")),
            (Decimal("1.25"), Decimal(0))]  # reserved at T0, before the window's start
        assert uow.budgets.standing(wheres[:1], now=T0, with_reserved=False) == [(Decimal("3.25"), Decimal(0))]
        assert uow.budgets.standing([], now=T0) == []


def test_usage_digests_read_back_equal_the_digests_logged_and_times_never_go_backwards(make_uow: MakeUow) -> None:
    from costhq.domain.audit_coverage import usage_digest

    with make_uow() as uow:
        sid = uow.sessions.add(NewSession(name="a", start_time=T0, working_directory="/p")).id
        mark = uow.audit.usage_mark()
        manual = attrs.evolve(_usage(sid, "0.05", "gpt-4o", T0 + timedelta(microseconds=7)), cost=Decimal("0.05"))
        logged = [uow.usage.add(manual), uow.usage.add(_usage(sid, "0.123456789012", "o3", T0))]
        later = uow.audit.append(AuditEvent(event="note", actor="cli", payload={}, at=T0 + timedelta(hours=1)))
        earlier = uow.audit.append(AuditEvent(event="note", actor="cli", payload={}, at=T0))
    with make_uow() as uow:
        stored = list(uow.audit.usage_after(mark))
        assert [r.id for r in stored] == [r.id for r in logged] and uow.audit.usage_mark() == logged[-1].id
        assert [usage_digest(r) for r in stored] == [usage_digest(r) for r in logged]
        assert list(uow.audit.usage_after(logged[0].id or 0)) == stored[1:]
    # Sealed after its predecessor (the APSW file's migration entries carry today's time).
    assert earlier.at == later.at >= "2026-03-10T13:00:00.000000Z"


@pytest.fixture(params=["in_memory", "apsw", "postgres"])
def with_probe(request: pytest.FixtureRequest, db_path: Any) -> tuple[MakeUow, Any]:
    """A unit-of-work factory and a FirewallProbe over the same storage."""
    from costhq.adapters.persistence.memory.firewall import InMemoryFirewallProbe
    from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
    from costhq.adapters.persistence.sqlite.firewall import ApswFirewallProbe
    from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork

    if request.param == "in_memory":
        store = InMemoryStore()
        return (lambda: InMemoryUnitOfWork(store)), InMemoryFirewallProbe(store)
    if request.param == "postgres":
        from costhq.adapters.persistence.postgres.firewall import PgFirewallProbe
        from costhq.adapters.persistence.postgres.uow import PgUnitOfWork

        url = request.getfixturevalue("pg_url")
        pg_probe = PgFirewallProbe(url)
        request.addfinalizer(pg_probe.close)
        return (lambda: PgUnitOfWork(url)), pg_probe

    def uow() -> ApswUnitOfWork:
        return ApswUnitOfWork(str(db_path))

    with uow():
        pass  # create the schema before the probe's read connection opens the file
    probe = ApswFirewallProbe(str(db_path))
    request.addfinalizer(probe.close)
    return uow, probe


def test_leases_samples_versions_and_response_tokens(with_probe: tuple[MakeUow, Any]) -> None:
    from costhq.domain.estimates import CostSample

    make_uow, probe = with_probe
    later = T0 + timedelta(minutes=10)
    with make_uow() as uow:
        sid = uow.sessions.add(NewSession(name="a", start_time=T0, working_directory="/p")).id
        v0 = uow.budgets.rules_version()
        rule = uow.budgets.add(NewBudgetRule(scope=BudgetScope.SESSION, limit=Decimal(1), session_id=sid), at=T0)
        lease = uow.budgets.lease(None, session_id=sid, project="/p", model="m", amount=Decimal("0.3"), at=T0,
                                  expires_at=later)
        assert uow.budgets.lease(lease, session_id=sid, project="/p", model="m", amount=Decimal("0.4"), at=T0,
                                 expires_at=later) == lease
        uow.budgets.reserve(session_id=sid, project="/p", model="m", amount=Decimal("0.25"), at=T0, expires_at=later)
        where = SpendFilter(session_id=sid)
        assert uow.budgets.standing([where], now=T0) == [(Decimal(0), Decimal("0.65"))]
        assert uow.budgets.standing([where], now=T0, exclude=lease) == [(Decimal(0), Decimal("0.25"))]
        uow.budgets.expire(later)
        renewed = uow.budgets.lease(lease, session_id=sid, project="/p", model="m", amount=Decimal("0.1"), at=later,
                                    expires_at=later + timedelta(minutes=1))
        # The old row expired: a new one (SQLite may reuse the id) holds the lease.
        assert uow.budgets.standing([where], now=later) == [(Decimal(0), Decimal("0.1"))]
        assert uow.budgets.standing([where], now=later, exclude=renewed) == [(Decimal(0), Decimal(0))]
        uow.usage.add(attrs.evolve(_usage(sid, "0.5", "m", T0), response_id="resp_7",
                                   tokens=TokenCounts(input=10, cache_read=20, cache_write_5m=3, output=4)))
        uow.budgets.add_samples([("m", c, CostSample(estimated_input=Decimal(i), input_cost=Decimal("0.5"),
                                                     output_tokens=i), T0) for i, c in enumerate("aabab")])
        v1 = uow.budgets.rules_version()
        uow.budgets.remove(rule.id)
        assert v0 != v1 != uow.budgets.rules_version()
        uow.budgets.add(NewBudgetRule(scope=BudgetScope.TOTAL, limit=Decimal(1), action=BudgetAction.WARN), at=T0)
    assert [s.output_tokens for s in probe.samples("m", "a", 2)] == [1, 3]  # the newest two, oldest first
    assert [s.output_tokens for s in probe.samples("m", None, 3)] == [2, 3, 4]
    assert probe.samples("other", None, 5) == []
    assert (probe.response_tokens("resp_7"), probe.response_tokens("nope")) == (37, None)
    with make_uow() as uow:
        assert probe.rules_version() == uow.budgets.rules_version()
    assert probe.blocking_rules() is False  # only a warn rule is left
    assert probe.runaway_blocking(T0) is False
    with make_uow() as uow:
        uow.runaway.save_config(attrs.evolve(RunawayConfig(), action=RunawayAction.BLOCK))
    assert probe.runaway_blocking(T0) is True
    with make_uow() as uow:  # warn again, but a block trip stays open until its window passes
        uow.runaway.save_config(RunawayConfig())
        uow.runaway.add_trip(Trip(session_id=sid, detector=Detector.LOOP, action=RunawayAction.BLOCK, message="x",
                                  at=T0, until=later))
    assert (probe.runaway_blocking(T0), probe.runaway_blocking(later)) == (True, False)
    with make_uow() as uow:
        uow.budgets.add(NewBudgetRule(scope=BudgetScope.TOTAL, limit=Decimal(1)), at=T0)
        version = uow.budgets.rules_version()
    assert (probe.blocking_rules(), probe.rules_version()) == (True, version)
