"""Several writers on one team database: the audit chain stays one valid chain, and a budget's
"sum, compare, reserve" never races (the rules' row lock holds it across connections)."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from costhq.adapters.persistence.postgres.schema import CURRENT_VERSION
from costhq.adapters.persistence.postgres.uow import PgUnitOfWork
from costhq.domain.audit import AuditEvent, verify
from costhq.domain.budgets import BudgetScope, NewBudgetRule, SpendFilter
from costhq.domain.sessions import NewSession

T0 = datetime(2026, 2, 1, 12, tzinfo=UTC)


def _append(url: str, worker: int, count: int) -> None:
    for i in range(count):
        with PgUnitOfWork(url, machine=f"m{worker}") as uow:
            uow.audit.append(AuditEvent(event="note", actor=f"m{worker}", payload={"i": i}, at=T0))


def test_processes_appending_at_once_keep_one_valid_chain(pg_url: str) -> None:
    with PgUnitOfWork(pg_url):
        pass  # migrate once (one entry per step)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(pg_url, w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    with PgUnitOfWork(pg_url, read_only=True) as uow:
        entries = list(uow.audit.entries())
    assert [e.seq for e in entries] == list(range(1, 61 + CURRENT_VERSION))
    result = verify(entries)
    assert result.ok and result.count == 60 + CURRENT_VERSION


def test_concurrent_reservations_never_overshoot_a_team_budget(pg_url: str) -> None:
    with PgUnitOfWork(pg_url) as uow:
        sid = uow.sessions.add(NewSession(name="s", start_time=T0, working_directory="/team")).id
        uow.budgets.add(NewBudgetRule(scope=BudgetScope.PROJECT, limit=Decimal(1), project="/team"), at=T0)
    granted: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                with PgUnitOfWork(pg_url) as uow:
                    rules = uow.budgets.all()  # the row lock: held until this unit of work commits
                    ((spent, reserved),) = uow.budgets.standing([SpendFilter(project="/team")], now=T0)
                    if spent + reserved + Decimal("0.3") <= rules[0].limit:
                        granted.append(uow.budgets.reserve(session_id=sid, project="/team", model="m",
                                                           amount=Decimal("0.3"), at=T0,
                                                           expires_at=T0 + timedelta(minutes=10)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(granted) == 3  # 0.9 <= 1; a fourth 0.3 would overshoot
    with PgUnitOfWork(pg_url) as uow:
        assert uow.budgets.reserved(SpendFilter(project="/team"), now=T0) == Decimal("0.9")


def test_reservation_ledgers_of_several_processes_never_overshoot_a_team_budget(pg_url: str) -> None:
    """Issue 14 on PostgreSQL: four ledgers (one per process, each with its own probe and lease
    units of work) admit calls of $0.10 under a $1 block rule at once. Leases that take nothing
    ahead make the count exact: ten calls fit, the other ten are refused."""
    from costhq.adapters.persistence.postgres.firewall import PgFirewallProbe
    from costhq.application.budgets import FirewallPolicy
    from costhq.application.reservations import ReservationLedger
    from costhq.domain.errors import BudgetExceeded

    with PgUnitOfWork(pg_url) as uow:
        sid = uow.sessions.add(NewSession(name="s", start_time=T0, working_directory="/team")).id
        uow.budgets.add(NewBudgetRule(scope=BudgetScope.SESSION, limit=Decimal(1), session_id=sid), at=T0)
    probes = [PgFirewallProbe(pg_url) for _ in range(4)]
    ledgers = [ReservationLedger(lambda: PgUnitOfWork(pg_url, durable=False), p, FirewallPolicy(tz=UTC), ahead=0)
               for p in probes]
    admitted: list[Decimal] = []
    refused: list[BudgetExceeded] = []
    errors: list[BaseException] = []

    def process(ledger: ReservationLedger) -> None:
        try:
            for _ in range(5):
                try:
                    admitted.append(ledger.admit(session_id=sid, model="m", amount=Decimal("0.1"), now=T0).amount)
                except BudgetExceeded as exc:
                    refused.append(exc)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=process, args=(ledger,)) for ledger in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in probes:
        p.close()
    assert errors == []
    assert (len(admitted), sum(admitted), len(refused)) == (10, Decimal("1.0"), 10)
    with PgUnitOfWork(pg_url, read_only=True) as uow:
        assert uow.budgets.reserved(SpendFilter(session_id=sid), now=T0) == Decimal("1.0")


def test_the_long_running_front_ends_share_one_bounded_pool_of_connections(pg_url: str, tmp_path: Path) -> None:
    """The proxy and the dashboard serve from many threads: on a team database their units of work
    come from one psycopg-pool of at most POOL_MAX connections, not a connection kept per thread."""
    import psycopg

    from costhq.adapters.persistence.postgres.db import POOL_MAX
    from costhq.bootstrap.main import build_container

    core = build_container({"COSTHQ_DATABASE_URL": pg_url, "COSTHQ_DATA_DIR": str(tmp_path / "data"),
                            "HOME": str(tmp_path), "USER": "ann"})
    core.front_ends()  # a server starts: the graph's units of work come from the pool from now on
    barrier, errors, backends = threading.Barrier(24), [], set()

    def work(i: int) -> None:
        try:
            barrier.wait(30)
            with core.uow()() as uow:
                uow.audit.append(AuditEvent(event="note", actor="pool", payload={"i": i}, at=T0))
                backends.add(uow.db.rows("SELECT pg_backend_pid() AS pid")[0]["pid"])
            with core.read_uow()() as uow:
                assert uow.audit.head() is not None
        except Exception as exc:
            errors.append((i, exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        (notes,) = conn.execute("SELECT count(*) FROM audit_log WHERE event = 'note'").fetchone()
    assert 1 <= len(backends) <= POOL_MAX and notes == 24  # 24 threads, at most 8 connections, every append kept


def test_machines_adding_one_sessions_costs_at_once_keep_its_running_totals_exact(pg_url: str) -> None:
    """Cost events of one session from 4 connections at once, many back-dated: the per-session
    advisory lock makes each read the running total the previous one committed."""
    import random

    from costhq.domain.runaway import ActivityEvent, EventKind, RunawayConfig, window_facts

    with PgUnitOfWork(pg_url):
        pass
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(25):
                with PgUnitOfWork(pg_url) as uow:
                    uow.runaway.add_event(ActivityEvent(session_id=1, kind=EventKind.COST, at=T0 + timedelta(
                        seconds=rng.randrange(0, 600)), cost=Decimal(rng.randrange(1, 10**6)) / 10**4))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    cfg = RunawayConfig(velocity_window_s=120)
    with PgUnitOfWork(pg_url, read_only=True) as uow:
        events = uow.runaway.events(1, since=T0 - timedelta(days=1))
        assert len(events) == 100
        for s in range(0, 721, 30):
            now = T0 + timedelta(seconds=s)
            assert uow.runaway.window_facts(1, cfg, now=now).spent == window_facts(cfg, events, now).spent, now
