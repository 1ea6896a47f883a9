"""Issue 15: what the proxy decides on its event loop — the guard's in-memory admission, the lease's
pace, the session look-up cached on storage changes — gives the same answers as the full path."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from costhq.application.budgets import FirewallPolicy, SetBudget
from costhq.application.firewall import FirewallGuard, Ticket
from costhq.application.proxy import CurrentProxySession, ProxySessionLookup
from costhq.application.runaway import ConfigureRunaway
from costhq.domain.estimates import RequestShape
from tests.unit.core_world import REPO, World, make_world
from tests.unit.test_reservations import _ledger, _reserved

D = Decimal


def _budget(w: World, limit: str, action: str = "block") -> int:
    sid = w.start()(name="t", cwd=REPO).session.id
    SetBudget(w.uow, w.clock)(scope="session", limit=D(limit), session_id=sid, action=action)
    return sid


def test_try_admit_admits_what_the_lease_covers_and_otherwise_asks_for_the_full_path_without_writing() -> None:
    w = make_world()
    sid = _budget(w, "1")
    ledger = _ledger(w)
    now = w.clock.now()
    assert ledger.try_admit(session_id=sid, model="m", amount=D("0.1"), now=now) is None  # no lease yet
    assert _reserved(w) == []
    ledger.admit(session_id=sid, model="m", amount=D("0.1"), now=now)  # renews: the call + 4 ahead
    assert _reserved(w) == [D("0.5")]
    holds = [ledger.try_admit(session_id=sid, model="m", amount=D("0.1"), now=now) for _ in range(5)]
    assert [h is not None and h.lease is not None for h in holds] == [True, True, True, True, False]
    assert _reserved(w) == [D("0.5")]  # admitted in memory: nothing written
    assert ledger.release(holds[0], None) is True  # type: ignore[arg-type]
    assert ledger.try_admit(session_id=sid, model="m", amount=D("0.1"), now=now) is not None  # its room is back


def test_without_a_blocking_rule_try_admit_holds_nothing() -> None:
    w = make_world()
    sid = _budget(w, "0.01", action="warn")
    hold = _ledger(w).try_admit(session_id=sid, model="m", amount=D(5), now=w.clock.now())
    assert hold is not None and (hold.lease, _reserved(w)) == (None, [])


def test_a_lease_takes_as_many_calls_ahead_as_it_admitted_over_the_last_second() -> None:
    w = make_world()
    sid = _budget(w, "1000")
    ledger = _ledger(w, ahead=4)

    def admit_all(n: int) -> None:
        for _ in range(n):
            ledger.admit(session_id=sid, model="m", amount=D("0.01"), now=w.clock.now())

    admit_all(1)
    assert _reserved(w) == [D("0.05")]  # the first renewal: the call + 4 ahead
    admit_all(4)
    w.clock.advance(seconds=10)
    admit_all(1)  # 5 calls in 10 s: a slow pace keeps 4 ahead (5 held + this one + 4)
    assert _reserved(w) == [D("0.10")]
    admit_all(4)
    w.clock.advance(seconds=0.05)
    admit_all(1)  # 5 calls in 50 ms: 100 a second, so 100 ahead (10 held + this one + 100)
    assert _reserved(w) == [D("1.11")]


def test_before_now_admits_in_memory_and_leaves_writes_and_refusals_to_before() -> None:
    w = make_world()
    sid = _budget(w, "1")
    guard = FirewallGuard(w.uow, w.clock, w.prices, FirewallPolicy(tz=UTC, block_unpriced=True), _ledger(w))
    shape = RequestShape(text_bytes=400, max_output_tokens=100)
    call = {"session_id": sid, "provider": "anthropic", "model": "claude-sonnet-4", "shape": shape, "client": "c"}
    assert guard.before_now(**call) is None  # the lease must be taken first (a write)
    guard.before(**call, fingerprint="f1")
    ticket = guard.before_now(**call)
    assert isinstance(ticket, Ticket) and ticket.observed is False  # the writer feeds the detector later
    assert guard.before_now(**{**call, "model": "mystery"}) is None  # unpriced and blocked: `before` refuses
    ConfigureRunaway(w.uow, w.clock)(changes={"action": "block"})
    assert guard.before_now(**call) is None  # the detector must see the request before it goes


def test_the_session_look_up_is_answered_from_memory_until_storage_changes() -> None:
    w = make_world()
    token = [0]
    find = ProxySessionLookup(CurrentProxySession(w.uow), lambda: token[0])
    assert find(None, None) is None  # nothing active: the background session is created elsewhere
    sid = w.start()(name="t", cwd=REPO).session.id
    assert find(None, None) is None  # the token did not change: the answer is kept
    token[0] += 1
    assert (find(None, None), find(None, sid), find(sid + 1, None)) == (sid, sid, sid)


def test_the_kept_connection_sees_every_commit_of_another_connection(tmp_path: Path) -> None:
    from costhq.adapters.persistence.sqlite.proxy import kept_session_lookup
    from costhq.bootstrap.main import build_container

    core = build_container({"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")})
    _resolve, find = kept_session_lookup(str(core.settings().db_path), core.background_session())
    try:
        assert find(None, None) is None
        started = core.start_session()(name="t", cwd=str(tmp_path))  # its own connection, committed
        assert find(None, None) == started.session.id
        core.end_session()(session_id=started.session.id, cwd=str(tmp_path))
        assert find(None, None) is None
    finally:
        find.close()


def test_one_shared_change_token_keeps_every_request_path_cache_exact(tmp_path: Path) -> None:
    """The arming, the probe and the session look-up key their caches on one `DataVersion` (issue 15):
    each still follows every commit of another connection; `held()` reuses the token on its thread only."""
    import threading

    from costhq.adapters.persistence.sqlite.firewall import ApswFirewallProbe
    from costhq.adapters.persistence.sqlite.proxy import ApswFirewallArming, kept_session_lookup
    from costhq.bootstrap.main import build_container

    core = build_container({"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")})
    db = str(core.settings().db_path)
    probe = ApswFirewallProbe(db)
    version = probe.version
    armed = ApswFirewallArming(db, version=version)
    _resolve, find = kept_session_lookup(db, core.background_session(), version)
    try:
        assert (armed(), find(None, None), probe.rules_version(), probe.blocking_rules()) == (False, None, 0, False)
        started = core.start_session()(name="t", cwd=str(tmp_path))  # other connections, committed
        sid = started.session.id
        core.set_budget()(scope="session", limit=D("1"), session_id=sid, action="block")
        assert (armed(), find(None, None), probe.rules_version(), probe.blocking_rules()) == (True, sid, 1, True)
        with version.held():
            before = version()
            core.end_session()(session_id=sid, cwd=str(tmp_path))
            assert version() == before  # held on this thread: one pragma for the request's checks
            other: list[int] = []
            thread = threading.Thread(target=lambda: other.append(version()))
            thread.start()
            thread.join()
            assert other != [before]  # another thread reads afresh
        assert version() != before
        assert find(None, None) is None  # the end is seen once the block is left
        budget = core.list_budgets()()[0]
        core.remove_budget()(rule_id=budget.id)
        assert (armed(), probe.rules_version(), probe.blocking_rules()) == (False, 2, False)
    finally:
        find.close()
        armed.close()
        probe.close()


def test_what_crosses_the_recorder_pipe_is_plain_tuples_that_rebuild_the_same_record() -> None:
    """Issue 15: the recorder child gets tuples (no attrs objects, no hook, no body), and unpacks
    exactly the call, attribution and spool segment the writer queued."""
    import pickle
    from datetime import datetime

    from costhq.adapters.proxy.spool import PendingUsage, pack, unpack
    from costhq.application.usage import UsageInput
    from costhq.domain.usage import Origin, TokenCounts

    call = UsageInput(provider="openai", model="gpt-4o", served_model="gpt-4o-2024-08-06", origin=Origin.PROXY,
                      call_key="proxy:" + "a" * 32, upstream_request_id="req_1", response_id="chatcmpl-1",
                      tokens=TokenCounts(input=12, cache_read=3, output=30, reasoning=7), cost=D("0.0000125"),
                      duration_ms=4, stream=True, partial=True, error=False, usage_missing=False,
                      input_estimated=True, timestamp=datetime(2026, 12, 4, 21, 0, 1, 5, tzinfo=UTC))
    item = PendingUsage(call=call, header_session=7, pinned_session=None, session_id=9, fingerprint="f" * 64,
                        after=lambda cost: None, body=b"{}", segment=3)
    packed = pack(item)
    assert {type(v) for v in packed[:2]} == {tuple}
    back = unpack(pickle.loads(pickle.dumps(packed, pickle.HIGHEST_PROTOCOL)))
    assert back == PendingUsage(call=call, header_session=7, pinned_session=None, session_id=9,
                                fingerprint="f" * 64, segment=3)


def test_the_writer_warms_the_request_path_after_each_commit_and_never_after_a_failed_one(tmp_path: Path) -> None:
    """Issue 15: the proxy's writer re-reads the caches its own commit made stale (`after_commit`),
    so the next request answers from memory; a batch that did not commit warms nothing."""
    from datetime import datetime

    from costhq.adapters.proxy.converter import make_converter
    from costhq.adapters.proxy.spool import PendingUsage, UsageWriter
    from costhq.application.errors import StorageBusy
    from costhq.application.usage import UsageInput
    from costhq.domain.usage import Origin

    stored: list[str] = []
    warmed: list[int] = []  # how many calls were stored when the caches were warmed
    fail = [True]

    def record(item: PendingUsage) -> str:
        stored.append(item.call.call_key)
        return item.call.call_key

    class Batch:
        def __enter__(self) -> None:
            if fail[0]:
                fail[0] = False
                raise StorageBusy("busy")  # the first transaction cannot begin: retried, nothing committed

        def __exit__(self, *exc: object) -> None:
            pass

    def warm() -> None:
        warmed.append(len(stored))
        if len(warmed) == 2:
            raise RuntimeError("the probe's connection broke")  # a failed warm-up never stops the writer

    writer = UsageWriter(record, tmp_path, make_converter(), batch=Batch, after_commit=warm)
    writer.start()
    try:
        assert writer.wait_idle(10) and warmed == []  # nothing replayed, nothing committed
        call = UsageInput(provider="openai", model="gpt-4o", origin=Origin.PROXY, call_key="proxy:1",
                          timestamp=datetime(2026, 12, 4, 22, 0, tzinfo=UTC))
        writer.submit(PendingUsage(call=call, header_session=None, pinned_session=None, session_id=1))
        assert writer.wait_idle(10)
        assert stored == ["proxy:1"] and warmed == [1]  # warmed once, after the retried batch committed
        for n in (2, 3):
            writer.submit(PendingUsage(call=attrs.evolve(call, call_key=f"proxy:{n}"), header_session=None,
                                       pinned_session=None, session_id=1))
            assert writer.wait_idle(10)
        assert stored == ["proxy:1", "proxy:2", "proxy:3"] and warmed == [1, 2, 3]
    finally:
        writer.stop()


def test_the_session_look_up_refresh_answers_again_every_question_asked_before_the_change() -> None:
    asked: list[tuple[int | None, int | None]] = []
    token = [1]

    def current(*, header_session: int | None, pinned_session: int | None) -> None:
        asked.append((header_session, pinned_session))

    lookup = ProxySessionLookup(current, lambda: token[0])  # type: ignore[arg-type]
    assert (lookup(None, None), lookup(5, None), lookup(None, None)) == (None, None, None)
    assert asked == [(None, None), (5, None)]  # the third was answered from memory
    token[0] = 2  # another connection committed
    lookup.refresh()  # the writer, right after its commit
    assert asked[2:] == [(None, None), (5, None)]
    assert (lookup(None, None), lookup(5, None)) == (None, None)
    assert len(asked) == 4  # the requests after it read nothing


def test_the_batch_keeps_its_connection_between_commits_and_a_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    """Issue 15: the recorder's `ApswBatch` keeps one connection from batch to batch; a batch that
    raises is rolled back whole and drops it, and the next batch commits on a fresh one."""
    import json

    import apsw
    import pytest

    from costhq.adapters.persistence.sqlite.proxy import ApswBatch
    from costhq.bootstrap.main import build_container
    from costhq.domain.runaway import RunawayConfig

    core = build_container({"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")})
    db = str(core.settings().db_path)
    core.runaway_status()()  # creates the file

    def stored() -> int | None:  # the committed identical_k, read on another connection
        conn = apsw.Connection(db)
        try:
            rows = conn.execute("SELECT config FROM runaway_config WHERE id = 1").fetchall()
            return None if not rows else int(json.loads(rows[0][0])["identical_k"])
        finally:
            conn.close()

    batch = ApswBatch(db)
    for k in (3, 4):
        with batch(), batch.uow() as uow:
            uow.runaway.save_config(RunawayConfig(identical_k=k))
        assert stored() == k
    with pytest.raises(RuntimeError), batch(), batch.uow() as uow:
        uow.runaway.save_config(RunawayConfig(identical_k=9))
        raise RuntimeError("the recorder died mid-batch")
    assert stored() == 4
    with batch(), batch.uow() as uow:
        uow.runaway.save_config(RunawayConfig(identical_k=5))
    assert stored() == 5
    batch.close()


def _recorder_rig(home: Path) -> tuple[Any, Any, Any, str]:
    """A data dir with a session, a blocking budget, and the proxy recorder's (record, batch)."""
    import subprocess

    from costhq.bootstrap.container import _proxy_storage
    from costhq.bootstrap.main import build_container

    work = home / "w"
    work.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    core = build_container({"HOME": str(home), "COSTHQ_HOME": str(home / "data")})
    sid = core.start_session()(name="t", cwd=str(work)).session.id
    core.set_budget()(scope="session", limit=D("100"), session_id=sid, action="block")
    record, batch, *_ = _proxy_storage(core)
    return record, batch, sid, str(core.settings().db_path)


def test_the_recorders_savepoints_share_their_firewall_reads_and_store_what_one_batch_per_call_would(
        tmp_path: Path) -> None:
    """Issue 15: the savepoints of one recorder batch share read-once firewall reads (config, rules,
    open trips); the result is the one of a transaction per call, a rejected call included."""
    from datetime import datetime

    import apsw

    from costhq.adapters.proxy.spool import PendingUsage, _Rejected, record_batch
    from costhq.application.usage import UsageInput
    from costhq.domain.usage import Origin, TokenCounts

    def items(sid: int) -> list[PendingUsage]:
        out = []
        for n in range(9):
            call = UsageInput(provider="openai", model="gpt-4o", origin=Origin.PROXY, call_key=f"proxy:{n:032x}",
                              tokens=TokenCounts(input=1000, output=100), timestamp=datetime.now(UTC))
            # the 5th names a session that does not exist: refused, its savepoint rolled back
            out.append(PendingUsage(call=call, header_session=None, pinned_session=None,
                                    session_id=999 if n == 4 else sid, fingerprint="f" * 64))
        return out

    def state(db: str) -> tuple[Any, ...]:
        conn = apsw.Connection(db)
        try:
            return tuple(conn.execute(sql).fetchall() for sql in (
                "SELECT call_key, cost_units FROM ai_usage ORDER BY id",
                "SELECT detector, action, message FROM runaway_trips ORDER BY id",
                "SELECT kind, key, cost_units FROM runaway_events ORDER BY id",
                "SELECT event FROM audit_log ORDER BY seq"))
        finally:
            conn.close()

    record, batch, sid, one_db = _recorder_rig(tmp_path / "one")
    outcomes = record_batch(items(sid), record, batch, seconds=600)  # one transaction, a savepoint per call
    assert [type(o).__name__ for o in outcomes].count("_Rejected") == 1
    assert outcomes[4] == _Rejected("session_not_found")
    record, batch, sid2, each_db = _recorder_rig(tmp_path / "each")
    for item in items(sid2):
        record_batch([item], record, batch)  # a transaction per call: nothing shared
    one, each = state(one_db), state(each_db)
    assert one == each
    assert len(one[0]) == 8 and [t[0] for t in one[1]] == ["identical"]  # 8 stored; the 5th identical trips
