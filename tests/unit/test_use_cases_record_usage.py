"""RecordUsage (the recording pipeline, batched) on the in-memory fakes and on a real SQLite file: one
unit of work per batch, and for every call exactly what LogUsage stores (records, totals, audit
entries, firewall verdicts); replays of a stored call key are skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import attrs
import pytest

from costhq.adapters._shared.clock import FixedClock
from costhq.adapters.persistence.memory.prices import InMemoryCatalog, InMemoryCustomPriceStore
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.adapters.persistence.price_book import CatalogPriceBook
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.adapters.watchers.fake_git import FakeGitMetadata
from costhq.application.audit import VerifyAudit
from costhq.application.budgets import FirewallPolicy, SetBudget
from costhq.application.errors import Conflict, StorageBusy
from costhq.application.firewall import UsageFirewall
from costhq.application.ports.storage import UnitOfWork
from costhq.application.runaway import RunawayStatus
from costhq.application.sessions import StartSession
from costhq.application.usage import BACKGROUND_SESSION_NAME, LogUsage, QueuedUsage, RecordUsage, UsageInput
from costhq.domain.errors import BudgetExceeded, InvalidArgument, NoActiveSession, SessionNotFound
from costhq.domain.identity import Verdict
from costhq.domain.usage import Origin, TokenCounts
from tests.unit.core_world import REPO, SONNET, T0

OTHER = "/work/elsewhere"  # a directory outside any repo, with no active session


class Rig:
    """One storage with LogUsage, RecordUsage and the firewall hook wired as bootstrap does."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self.uow, self.clock, self.git = uow, FixedClock(T0), FakeGitMetadata()
        self.git.add_repo(REPO, branch="main")
        prices = CatalogPriceBook(InMemoryCatalog({("anthropic", "claude-sonnet-4"): SONNET}),
                                  InMemoryCustomPriceStore(), now=self.clock.now)
        firewall = UsageFirewall(FirewallPolicy(tz=UTC))
        self.log = LogUsage(uow, self.clock, self.git, prices, firewall)
        self.batch = RecordUsage(uow, self.clock, self.git, prices, firewall)
        self.sid = StartSession(uow, self.clock, self.git)(name="s", cwd=REPO).session.id

    def audit(self) -> list[tuple[Any, ...]]:
        """Entries after the schema's own, without the hashes and times (two files' migration entries differ,
        and an entry's time never precedes its predecessor's)."""
        with self.uow() as uow:
            return [(e.event, e.actor, dict(e.payload)) for e in uow.audit.entries() if e.event != "migration"]

    def records(self) -> list[tuple[Any, ...]]:
        with self.uow() as uow:
            return [(r.id, r.session_id, r.cost, r.total_tokens, r.price_source, r.call_key, r.timestamp)
                    for r in uow.usage.for_session(self.sid)]


@pytest.fixture(params=["in_memory", "apsw"])
def make_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Rig]]:
    def make(name: str) -> Rig:
        if request.param == "in_memory":
            store = InMemoryStore()
            return Rig(lambda: InMemoryUnitOfWork(store))
        return Rig(lambda: ApswUnitOfWork(str(tmp_path / f"{name}.db")))

    yield make


def _call(n: int, rid: str | None = None) -> UsageInput:
    # 500k input x $3 + 20k output x $15 per 1M = $1.80 a call
    return UsageInput(provider="anthropic", model="claude-sonnet-4", tokens=TokenCounts(input=500_000, output=20_000),
                      origin=Origin.LIBRARY, call_key=rid or f"req-{n}", timestamp=T0 - timedelta(seconds=30 - n))


def test_a_batch_stores_what_log_usage_stores_call_by_call(make_rig: Callable[[str], Rig]) -> None:
    """Budget ($5, blocking) crossed by the 3rd call; the runaway velocity detector ($1/min over 300 s,
    warn) trips on it too. Both storages end with the same records, totals, audit entries and trips."""
    seq, bat = make_rig("sequential"), make_rig("batched")
    for rig in (seq, bat):
        SetBudget(rig.uow, rig.clock)(scope="session", limit=Decimal(5), session_id=rig.sid, actor="library")
    calls = [_call(n) for n in range(4)]
    sequential = []
    for call in calls:
        try:
            sequential.append((seq.log(call=call, cwd=REPO, session_id=seq.sid, allow_unpriced=True), None))
        except BudgetExceeded as exc:
            sequential.append((None, exc))
    outcomes = bat.batch(items=[QueuedUsage(call=c, cwd=REPO, session_id=bat.sid) for c in calls],
                         allow_unpriced=True)

    assert [o.logged.session.ai_cost for o in outcomes if o.logged] == [
        Decimal("1.8"), Decimal("3.6"), Decimal("5.4"), Decimal("7.2")]
    assert [o.logged.record.cost for o in outcomes if o.logged] == [Decimal("1.8")] * 4
    refusals = [o.logged.verdict.refusal for o in outcomes if o.logged and o.logged.verdict]
    assert [(r.code, r.details["spent"], r.details["limit"]) if r else None for r in refusals] == [
        None, None, ("budget_exceeded", "5.4000000000", "5.0000000000"),
        ("budget_exceeded", "7.2000000000", "5.0000000000")]
    assert [exc.details if exc else None for _, exc in sequential] == [
        None, None, refusals[2].details, refusals[3].details]  # type: ignore[union-attr]
    assert [o.logged.session.ai_cost for o in outcomes if o.logged][:2] == [
        logged.session.ai_cost for logged, _ in sequential[:2] if logged]
    assert bat.records() == seq.records()
    assert bat.audit() == seq.audit()
    events = [e[0] for e in bat.audit()]
    assert events == ["session.start", "budget.set", "usage.logged", "usage.logged", "usage.logged",
                      "runaway.trip", "firewall.block", "usage.logged", "firewall.block"]
    trips = RunawayStatus(bat.uow, bat.clock)(session_id=bat.sid).open_trips
    assert [(t.detector.value, t.message) for t in trips] == [
        ("velocity", "spending $1.08/min over the last 300s (threshold $1/min)")]
    assert VerifyAudit(bat.uow)().ok


def test_out_of_order_tied_and_stale_timestamps_feed_the_detector_as_call_by_call(
        make_rig: Callable[[str], Rig]) -> None:
    """The batch keeps a session's recent events in memory: ties, late arrivals and an event
    older than the prune cut-off (2 x the 600 s horizon) must come out as the storage has them."""
    seq, bat = make_rig("sequential"), make_rig("batched")
    ages = [20, 400, 20, 1500, 5, 20, 200]  # seconds before now
    calls = [attrs.evolve(_call(n), timestamp=T0 - timedelta(seconds=age)) for n, age in enumerate(ages)]
    for call in calls:
        seq.log(call=call, cwd=REPO, allow_unpriced=True)
    bat.batch(items=[QueuedUsage(call=c, cwd=REPO) for c in calls], allow_unpriced=True)
    assert bat.audit() == seq.audit()
    assert [e[0] for e in bat.audit()].count("runaway.trip") == 1

    def events(rig: Rig) -> list[tuple[Any, ...]]:
        with rig.uow() as uow:
            return [(e.kind, e.at, e.cost) for e in uow.runaway.events(rig.sid, since=T0 - timedelta(days=1))]

    assert events(bat) == events(seq)
    assert [T0 - at for _, at, _ in events(bat)] == [timedelta(seconds=s) for s in (400, 200, 20, 20, 20, 5)]


def test_each_outcome_carries_the_session_right_after_its_call(make_rig: Callable[[str], Rig]) -> None:
    rig = make_rig("one")
    outcomes = rig.batch(items=[QueuedUsage(call=_call(n), cwd=REPO) for n in range(3)])
    assert [(o.logged.session.ai_calls, o.logged.session.ai_tokens, o.logged.record.id) for o in outcomes
            if o.logged] == [(1, 520_000, 1), (2, 1_040_000, 2), (3, 1_560_000, 3)]
    with rig.uow() as uow:
        session = uow.sessions.get(rig.sid)
    assert session is not None and (session.ai_cost, session.ai_calls) == (Decimal("5.4"), 3)


def test_a_call_key_already_stored_or_repeated_in_the_batch_is_a_replay(make_rig: Callable[[str], Rig]) -> None:
    rig = make_rig("one")
    rig.log(call=_call(0, "req-a"), cwd=REPO)
    outcomes = rig.batch(items=[QueuedUsage(call=_call(n, rid), cwd=REPO)
                                for n, rid in enumerate(["req-a", "req-b", "req-b", None])])
    # A replay is answered with the record that holds the call, and writes nothing.
    assert [(o.identity, o.logged.record.id if o.logged else None, o.error) for o in outcomes] == [
        (Verdict.REPLAY, 1, None), (Verdict.NEW, 2, None), (Verdict.REPLAY, 2, None), (Verdict.NEW, 3, None)]
    assert [o.duplicate for o in outcomes] == [True, False, True, False]
    assert [r[5] for r in rig.records()] == ["req-a", "req-b", "req-3"]
    assert [e[0] for e in rig.audit()].count("usage.logged") == 3


def test_a_call_that_cannot_be_stored_gets_its_error_and_the_others_are_stored(
        make_rig: Callable[[str], Rig]) -> None:
    rig = make_rig("one")
    bad = UsageInput(provider=" ", model="claude-sonnet-4", tokens=TokenCounts(input=1), origin=Origin.LIBRARY)
    outcomes = rig.batch(items=[
        QueuedUsage(call=_call(0), cwd=REPO),
        QueuedUsage(call=_call(1), cwd=REPO, session_id=999),
        QueuedUsage(call=_call(2), cwd=OTHER),
        QueuedUsage(call=bad, cwd=REPO),
        QueuedUsage(call=_call(4), cwd=REPO, session_id=rig.sid),
    ], allow_unpriced=True)
    assert [type(o.error) if o.error else o.logged is not None for o in outcomes] == [
        True, SessionNotFound, NoActiveSession, InvalidArgument, True]
    assert [(r[0], r[5]) for r in rig.records()] == [(1, "req-0"), (2, "req-4")]


def test_calls_with_no_active_session_go_to_one_background_session(make_rig: Callable[[str], Rig]) -> None:
    rig = make_rig("one")
    outcomes = rig.batch(items=[QueuedUsage(call=_call(n), cwd=OTHER, background=True) for n in range(2)]
                         + [QueuedUsage(call=_call(2), cwd=REPO, background=True)], allow_unpriced=True)
    targets = [o.logged.session for o in outcomes if o.logged]
    assert [(s.name, s.working_directory, s.ai_calls) for s in targets] == [
        (BACKGROUND_SESSION_NAME, OTHER, 1), (BACKGROUND_SESSION_NAME, OTHER, 2), ("s", REPO, 1)]
    assert [e[0] for e in rig.audit()] == ["session.start", "session.start", "usage.logged", "usage.logged",
                                           "usage.logged"]


class _PoisonedUsage:
    """UsageRepository fake: the in-memory one, except that adding the `poison` request id fails."""

    def __init__(self, inner: Any, poison: str | None) -> None:
        self._inner, self._poison = inner, poison

    def add(self, record: Any) -> Any:
        if record.call_key == self._poison:
            raise Conflict("disk I/O error")  # fails the transaction: the unit of work rolls back whole
        return self._inner.add(record)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _FlakyUnitOfWork:
    """UnitOfWork fake over the in-memory one: refuses to begin while `busy` is positive; its usage
    repository is `_PoisonedUsage`. Counts the units of work begun."""

    def __init__(self, store: InMemoryStore, state: dict[str, Any]) -> None:
        self._inner, self._state = InMemoryUnitOfWork(store), state

    def __enter__(self) -> Self:
        self._state["begins"] += 1
        if self._state["busy"] > 0:
            self._state["busy"] -= 1
            raise StorageBusy("The database is busy")
        self._inner.__enter__()
        self.usage = _PoisonedUsage(self._inner.usage, self._state["poison"])
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._inner.__exit__(exc_type, exc, tb)


def test_a_failed_batch_transaction_is_retried_call_by_call_so_one_bad_call_sinks_alone() -> None:
    store, state = InMemoryStore(), {"begins": 0, "busy": 0, "poison": "req-1"}
    rig = Rig(lambda: _FlakyUnitOfWork(store, state))  # type: ignore[arg-type, return-value]
    state["begins"] = 0
    outcomes = rig.batch(items=[QueuedUsage(call=_call(n), cwd=REPO) for n in range(3)])
    assert [type(o.error) if o.error else o.logged is not None for o in outcomes] == [True, Conflict, True]
    assert state["begins"] == 4  # the batch (rolled back whole), then one unit of work per call
    assert [r[5] for r in rig.records()] == ["req-0", "req-2"]
    assert [e[0] for e in rig.audit()].count("usage.logged") == 2

    state.update(begins=0, busy=1, poison=None)
    outcomes = rig.batch(items=[QueuedUsage(call=_call(n, f"late-{n}"), cwd=REPO) for n in range(2)])
    assert [o.logged is not None for o in outcomes] == [True, True] and state["begins"] == 3


def test_an_empty_batch_opens_no_unit_of_work() -> None:
    store, state = InMemoryStore(), {"begins": 0, "busy": 0, "poison": None}
    rig = Rig(lambda: _FlakyUnitOfWork(store, state))  # type: ignore[arg-type, return-value]
    state["begins"] = 0
    assert rig.batch(items=[]) == [] and state["begins"] == 0
