"""UnitOfWork contract: the in-memory fake and the APSW adapter behave the same."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.application.errors import Conflict
from costhq.application.ports.storage import UnitOfWork
from costhq.domain.errors import SessionNotFound
from costhq.domain.identity import Sighting, StoredIdentities
from costhq.domain.pricing import PriceSource
from costhq.domain.sessions import (
    Annotation,
    ChangeType,
    Commit,
    FileChange,
    NewSession,
    Session,
    SessionStatus,
    Stats,
)
from costhq.domain.usage import Origin, TokenCounts, UsageRecord

D = Decimal
T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
MakeUow = Callable[[], UnitOfWork]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_session(uow_factory: MakeUow, name: str = "task", *, start: float = 0, scope: str = "/repo") -> Session:
    with uow_factory() as uow:
        return uow.sessions.add(NewSession(name=name, start_time=at(start), working_directory=scope))


def record(session_id: int, *, cost: Decimal | None = D("0.0123456789"), ts: float = 1,
           request_id: str | None = None, total: int = 150, call_key: str | None = None,
           upstream_request_id: str | None = None) -> UsageRecord:
    return UsageRecord(
        session_id=session_id,
        provider="anthropic",
        model="claude-sonnet-4-5",
        served_model="claude-sonnet-4-5-20250929",
        tokens=TokenCounts(input=100, cache_read=20, cache_write_5m=5, cache_write_1h=3, output=50, reasoning=7),
        total_tokens=total,
        cost=cost,
        price_source=PriceSource.BUILT_IN if cost is not None else PriceSource.UNPRICED,
        rates={"inputPer1M": D("3"), "outputPer1M": D("15.000001")} if cost is not None else {},
        origin=Origin.PROXY,
        agent="coder",
        request_id=request_id,
        call_key=call_key,
        upstream_request_id=upstream_request_id,
        response_id="msg_1",
        usage_missing=True,
        input_estimated=True,
        duration_ms=812,
        stream=True,
        partial=True,
        error=False,
        timestamp=at(ts),
    )


# --- sessions ---------------------------------------------------------------------------------


def test_added_session_is_active_with_zero_totals_and_reads_back_equal(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    assert s == Session(id=1, name="task", status=SessionStatus.ACTIVE, start_time=T0,
                        working_directory="/repo", last_activity=T0)
    with make_uow() as uow:
        assert uow.sessions.get(1) == s
        assert uow.sessions.get(2) is None


def test_session_git_fields_and_non_utc_times_round_trip_as_utc(make_uow: MakeUow) -> None:
    start = datetime(2025, 6, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))
    with make_uow() as uow:
        s = uow.sessions.add(NewSession(name="n", start_time=start, working_directory="/r", git_root="/r",
                                        start_git_head="abc123", branch="main"))
    with make_uow() as uow:
        got = uow.sessions.get(s.id)
    assert got is not None
    assert (got.git_root, got.start_git_head, got.branch) == ("/r", "abc123", "main")
    assert got.start_time == start and got.start_time.tzinfo == UTC
    assert got.start_time.hour == 10 and got.start_time.microsecond == 1


def test_active_in_scope_is_most_recently_active_first_and_excludes_other_scopes(make_uow: MakeUow) -> None:
    a = new_session(make_uow, "a", start=0)
    b = new_session(make_uow, "b", start=10)
    c = new_session(make_uow, "c", start=20)
    new_session(make_uow, "other", start=30, scope="/elsewhere")
    with make_uow() as uow:
        uow.sessions.touch(a.id, at(40))
        uow.sessions.end(c.id, end_time=at(50), notes=None)
    with make_uow() as uow:
        assert [s.name for s in uow.sessions.active_in_scope("/repo")] == ["a", "b"]
        assert [s.name for s in uow.sessions.all_active()] == ["a", "other", "b"]
        assert uow.sessions.active_in_scope("/nowhere") == []
    assert b.id == 2


def test_touch_never_moves_last_activity_backwards(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    with make_uow() as uow:
        uow.sessions.touch(s.id, at(30))
        uow.sessions.touch(s.id, at(20))
    with make_uow() as uow:
        assert uow.sessions.get(s.id).last_activity == at(30)  # type: ignore[union-attr]


def test_find_by_name_returns_the_newest_match_with_optional_status(make_uow: MakeUow) -> None:
    first = new_session(make_uow, "bg", start=0)
    second = new_session(make_uow, "bg", start=10, scope="/x")
    with make_uow() as uow:
        uow.sessions.end(second.id, end_time=at(11), notes=None)
    with make_uow() as uow:
        assert uow.sessions.find_by_name("bg").id == second.id  # type: ignore[union-attr]
        assert uow.sessions.find_by_name("bg", status="active").id == first.id  # type: ignore[union-attr]
        assert uow.sessions.find_by_name("bg", status="completed").id == second.id  # type: ignore[union-attr]
        assert uow.sessions.find_by_name("nope") is None


def test_end_then_reopen(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    with make_uow() as uow:
        ended = uow.sessions.end(s.id, end_time=at(60.5), notes="done")
    assert (ended.status, ended.end_time, ended.notes) == (SessionStatus.COMPLETED, at(60.5), "done")
    with make_uow() as uow:
        reopened = uow.sessions.reopen(s.id, at=at(90))
    assert (reopened.status, reopened.end_time, reopened.last_activity) == (SessionStatus.ACTIVE, None, at(90))
    assert reopened.notes == "done"


@pytest.mark.parametrize("action", ["end", "reopen", "touch"])
def test_changing_a_missing_session_raises_session_not_found(make_uow: MakeUow, action: str) -> None:
    with pytest.raises(SessionNotFound), make_uow() as uow:
        if action == "end":
            uow.sessions.end(9, end_time=T0, notes=None)
        elif action == "reopen":
            uow.sessions.reopen(9, at=T0)
        else:
            uow.sessions.touch(9, T0)


def test_recent_is_newest_start_first_and_limited(make_uow: MakeUow) -> None:
    for i, start in enumerate([5, 1, 9, 3]):
        new_session(make_uow, f"s{i}", start=start)
    with make_uow() as uow:
        assert [s.name for s in uow.sessions.recent(3)] == ["s2", "s0", "s3"]
        assert len(uow.sessions.recent(10)) == 4


def test_stats_of_an_empty_store_are_zero(make_uow: MakeUow) -> None:
    with make_uow() as uow:
        assert uow.sessions.stats(T0) == Stats(total_sessions=0, active_sessions=0, total_seconds=0,
                                               files_changed=0, commits=0, ai_cost=D(0), ai_tokens=0,
                                               ai_calls=0, unpriced_calls=0)


def test_stats_sum_whole_second_durations_and_exact_totals(make_uow: MakeUow) -> None:
    a = new_session(make_uow, "a", start=0)  # ends at 100.5 -> 100 s
    b = new_session(make_uow, "b", start=10)  # active; now = 70.0 -> 59.876544 s -> 59
    c = new_session(make_uow, "c", start=20)  # ends before it starts -> 0 s
    with make_uow() as uow:
        uow.sessions.end(a.id, end_time=at(100.5), notes=None)
        uow.sessions.end(c.id, end_time=at(19), notes=None)
        uow.usage.add(record(a.id, cost=D("1.0000000001")))
        uow.usage.add(record(b.id, cost=None, total=40))
        uow.activity.add_file_change(FileChange(session_id=b.id, file_path="x", change_type=ChangeType.CREATED,
                                                timestamp=at(2)))
        uow.activity.add_commit(Commit(session_id=a.id, hash="h1", message="m", timestamp=at(3)))
    now = datetime(2025, 1, 2, 3, 5, 15, tzinfo=UTC)  # T0 + 69.876544 s
    with make_uow() as uow:
        stats = uow.sessions.stats(now)
    assert stats == Stats(total_sessions=3, active_sessions=1, total_seconds=100 + 59, files_changed=1,
                          commits=1, ai_cost=D("1.0000000001"), ai_tokens=190, ai_calls=2, unpriced_calls=1)


# --- usage ------------------------------------------------------------------------------------


def test_usage_reads_back_exactly_and_bumps_session_totals(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    rec = record(s.id, ts=7)
    with make_uow() as uow:
        stored = uow.usage.add(rec)
        assert uow.sessions.get(s.id).ai_calls == 1  # type: ignore[union-attr]
    assert stored == attrs.evolve(rec, id=1)
    with make_uow() as uow:
        assert uow.usage.for_session(s.id) == [stored]
        after = uow.sessions.get(s.id)
    assert after is not None
    assert (after.ai_cost, after.ai_tokens, after.ai_calls, after.unpriced_calls, after.last_activity) == (
        D("0.0123456789"), 150, 1, 0, at(7))


def test_three_records_sum_exactly(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    with make_uow() as uow:
        for i in range(3):
            uow.usage.add(record(s.id, ts=i))
    with make_uow() as uow:
        assert uow.sessions.get(s.id).ai_cost == D("0.0370370367")  # type: ignore[union-attr]
        assert uow.sessions.stats(at(10)).ai_cost == D("0.0370370367")


def test_costs_are_stored_at_1e_10_precision_with_bankers_rounding(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    with make_uow() as uow:
        stored = uow.usage.add(record(s.id, cost=D("0.00000000005")))
        uow.usage.add(record(s.id, cost=D("0.00000000015")))
    assert stored.cost == D(0)
    with make_uow() as uow:
        assert [u.cost for u in uow.usage.for_session(s.id)] == [D(0), D("0.0000000002")]


def test_unpriced_records_keep_a_null_cost_and_are_counted(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    with make_uow() as uow:
        stored = uow.usage.add(record(s.id, cost=None))
    assert (stored.cost, stored.price_source, stored.rates) == (None, PriceSource.UNPRICED, {})
    with make_uow() as uow:
        after = uow.sessions.get(s.id)
    assert (after.ai_cost, after.ai_calls, after.unpriced_calls) == (D(0), 1, 1)  # type: ignore[union-attr]


def test_usage_for_session_is_in_time_order(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    other = new_session(make_uow, "o", scope="/o")
    with make_uow() as uow:
        uow.usage.add(record(s.id, ts=5, request_id="late"))
        uow.usage.add(record(other.id, ts=1, request_id="other"))
        uow.usage.add(record(s.id, ts=2, request_id="early"))
    with make_uow() as uow:
        assert [u.request_id for u in uow.usage.for_session(s.id)] == ["early", "late"]


def test_a_repeated_call_key_is_a_conflict_that_changes_nothing(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    with make_uow() as uow:
        uow.usage.add(record(s.id, call_key="proxy:1", upstream_request_id="req_1"))
        uow.usage.add(record(s.id))
        uow.usage.add(record(s.id))  # many records lack a key (`cs log-ai`)
    with make_uow() as uow, pytest.raises(Conflict):
        uow.usage.add(record(s.id, call_key="proxy:1", cost=D(5)))
    with make_uow() as uow:
        after = uow.sessions.get(s.id)
        assert len(uow.usage.for_session(s.id)) == 3
    assert (after.ai_cost, after.ai_calls) == (D("0.0370370367"), 3)  # type: ignore[union-attr]


def test_repeated_upstream_ids_and_request_ids_never_conflict(make_uow: MakeUow) -> None:
    """Servers repeat ids (`chatcmpl-123`, a gateway's `x-request-id`): every distinct call is kept."""
    s = new_session(make_uow)
    with make_uow() as uow:
        for n in range(3):
            uow.usage.add(record(s.id, call_key=f"proxy:{n}", upstream_request_id="req_same", request_id="r"))
    with make_uow() as uow:
        rows = uow.usage.for_session(s.id)
        assert [(u.call_key, u.upstream_request_id, u.response_id, u.request_id) for u in rows] == [
            (f"proxy:{n}", "req_same", "msg_1", "r") for n in range(3)]
        assert (rows[0].usage_missing, rows[0].input_estimated) == (True, True)
        assert uow.usage.get(rows[1].id) == rows[1]  # type: ignore[arg-type]
        assert uow.usage.get(999) is None


def test_usage_for_a_missing_session_is_refused(make_uow: MakeUow) -> None:
    with pytest.raises(SessionNotFound), make_uow() as uow:
        uow.usage.add(record(42))


# --- activity ---------------------------------------------------------------------------------


def change(session_id: int, path: str, kind: ChangeType = ChangeType.MODIFIED, ts: float = 1) -> FileChange:
    return FileChange(session_id=session_id, file_path=path, change_type=kind, timestamp=at(ts))


def test_file_changes_skip_duplicates_and_count_distinct_paths(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    with make_uow() as uow:
        first = uow.activity.add_file_change(change(s.id, "a.py", ts=3))
        assert uow.activity.add_file_change(change(s.id, "a.py", ts=4)) is None
        uow.activity.add_file_change(change(s.id, "a.py", ChangeType.DELETED, ts=5))
        uow.activity.add_file_change(change(s.id, "b.py", ChangeType.CREATED, ts=2))
    assert first == attrs.evolve(change(s.id, "a.py", ts=3), id=1)
    with make_uow() as uow:
        assert [(f.file_path, f.change_type) for f in uow.activity.files(s.id)] == [
            ("b.py", ChangeType.CREATED), ("a.py", ChangeType.MODIFIED), ("a.py", ChangeType.DELETED)]
        after = uow.sessions.get(s.id)
    assert (after.files_changed, after.last_activity) == (2, at(5))  # type: ignore[union-attr]


def test_commits_skip_a_hash_already_in_the_session(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    other = new_session(make_uow, "o", scope="/o")
    c1 = Commit(session_id=s.id, hash="abc", message="fix", timestamp=at(9), author="Ann <a@x>")
    with make_uow() as uow:
        assert uow.activity.add_commit(c1) == attrs.evolve(c1, id=1)
        assert uow.activity.add_commit(attrs.evolve(c1, message="again")) is None
        assert uow.activity.add_commit(attrs.evolve(c1, session_id=other.id)) is not None
        uow.activity.add_commit(Commit(session_id=s.id, hash="def", message="feat", timestamp=at(4)))
    with make_uow() as uow:
        assert [c.hash for c in uow.activity.commits(s.id)] == ["def", "abc"]
        assert (uow.sessions.get(s.id).commits, uow.sessions.get(other.id).commits) == (2, 1)  # type: ignore[union-attr]
        assert uow.sessions.get(s.id).last_activity == at(9)  # type: ignore[union-attr]


def test_annotations_read_back_in_time_order(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    with make_uow() as uow:
        late = uow.activity.add_annotation(Annotation(session_id=s.id, message="tests pass", timestamp=at(8)))
        uow.activity.add_annotation(Annotation(session_id=s.id, message="start", timestamp=at(2)))
    assert late == Annotation(session_id=s.id, message="tests pass", timestamp=at(8), id=1)
    with make_uow() as uow:
        assert [n.message for n in uow.activity.annotations(s.id)] == ["start", "tests pass"]
        assert uow.activity.annotations(99) == []


@pytest.mark.parametrize("kind", ["file", "commit", "note"])
def test_activity_for_a_missing_session_is_refused(make_uow: MakeUow, kind: str) -> None:
    with pytest.raises(SessionNotFound), make_uow() as uow:
        if kind == "file":
            uow.activity.add_file_change(change(7, "a"))
        elif kind == "commit":
            uow.activity.add_commit(Commit(session_id=7, hash="h", message="m", timestamp=T0))
        else:
            uow.activity.add_annotation(Annotation(session_id=7, message="m", timestamp=T0))


# --- transactions -----------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_an_exception_rolls_back_everything_in_the_unit_of_work(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    with pytest.raises(Boom), make_uow() as uow:
        added = uow.usage.add(record(s.id, call_key="proxy:r"))
        uow.usage.add_alias("import:x:r", added.id, Origin.IMPORT)  # type: ignore[arg-type]
        uow.activity.add_file_change(change(s.id, "a"))
        uow.activity.add_commit(Commit(session_id=s.id, hash="h", message="m", timestamp=T0))
        uow.activity.add_annotation(Annotation(session_id=s.id, message="m", timestamp=T0))
        uow.sessions.end(s.id, end_time=at(5), notes="n")
        uow.sessions.add(NewSession(name="ghost", start_time=T0, working_directory="/g"))
        raise Boom
    with make_uow() as uow:
        assert uow.sessions.get(s.id) == s
        assert uow.sessions.get(2) is None
        assert uow.usage.identities([Sighting(origin=Origin.LIBRARY, provider="anthropic", call_key="proxy:r"),
                                     Sighting(origin=Origin.LIBRARY, provider="anthropic", call_key="import:x:r")]
                                    ) == StoredIdentities()
        assert (uow.usage.for_session(s.id), uow.activity.files(s.id)) == ([], [])
        assert (uow.activity.commits(s.id), uow.activity.annotations(s.id)) == ([], [])
    # SQLite (and its fake) reuse a rolled-back id; a PostgreSQL sequence never hands one out twice.
    assert new_session(make_uow, "next").id == (3 if type(make_uow()).__name__ == "PgUnitOfWork" else 2)


def test_a_clean_exit_commits_for_the_next_unit_of_work(make_uow: MakeUow) -> None:
    with make_uow() as uow:
        s = uow.sessions.add(NewSession(name="x", start_time=T0, working_directory="/w"))
        uow.usage.add(record(s.id))
    with make_uow() as uow:
        assert len(uow.usage.for_session(s.id)) == 1


def test_threads_writing_at_once_lose_nothing(make_uow: MakeUow) -> None:
    s = new_session(make_uow)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(25):
                with make_uow() as uow:
                    uow.usage.add(record(s.id, request_id=f"t{worker}-{i}", ts=i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with make_uow() as uow:
        after = uow.sessions.get(s.id)
        assert len(uow.usage.for_session(s.id)) == 200
    assert (after.ai_calls, after.ai_cost) == (200, D("0.0123456789") * 200)  # type: ignore[union-attr]


def _insert_usage(db_path: str, session_id: int, worker: int, count: int) -> None:
    for i in range(count):
        with ApswUnitOfWork(db_path) as uow:
            uow.usage.add(record(session_id, request_id=f"p{worker}-{i}", ts=i))


def test_processes_writing_one_file_at_once_lose_nothing(db_path: Path) -> None:
    s = new_session(lambda: ApswUnitOfWork(str(db_path)))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_insert_usage, args=(str(db_path), s.id, w, 50)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * 8
    with ApswUnitOfWork(str(db_path)) as uow:
        after = uow.sessions.get(s.id)
        rows = uow.usage.for_session(s.id)
    assert len(rows) == 400
    assert sum((r.cost for r in rows if r.cost), D(0)) == D("4.93827156")
    assert (after.ai_calls, after.ai_cost, after.ai_tokens) == (400, D("4.93827156"), 400 * 150)  # type: ignore[union-attr]


def test_naive_times_are_refused(make_uow: MakeUow) -> None:
    with pytest.raises(ValueError, match="timezone-aware"), make_uow() as uow:
        uow.sessions.add(NewSession(name="n", start_time=datetime(2025, 1, 1), working_directory="/w"))
    with make_uow() as uow:
        assert uow.sessions.recent(5) == []
