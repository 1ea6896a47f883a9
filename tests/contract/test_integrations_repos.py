"""Issue-7 repositories (imports, reports, today): the in-memory fakes behave like APSW."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.domain.errors import InvalidArgument
from costhq.domain.imports import ImportCursor
from costhq.domain.pricing import PriceSource
from costhq.domain.reports import ReportFilter, ReportKind
from costhq.domain.sessions import Dimension, NewSession, Who
from costhq.domain.today import TodayProject
from costhq.domain.usage import Origin, TokenCounts, UsageRecord

D = Decimal


def t(h: int, m: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, h, m, tzinfo=UTC)


@pytest.fixture(params=["in_memory", "apsw", "postgres"])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    if request.param == "in_memory":
        store = InMemoryStore()
        return lambda **who: InMemoryUnitOfWork(store, **who)
    if request.param == "postgres":
        from costhq.adapters.persistence.postgres.uow import PgUnitOfWork

        url = request.getfixturevalue("pg_url")
        return lambda **who: PgUnitOfWork(url, **who)
    return lambda **who: ApswUnitOfWork(str(tmp_path / "costhq.db"), **who)


def _usage(sid: int, ts: datetime, model: str, cost: Decimal | None, inp: int, out: int) -> UsageRecord:
    return UsageRecord(session_id=sid, provider="anthropic", model=model, tokens=TokenCounts(input=inp, output=out),
                       total_tokens=inp + out, cost=cost, timestamp=ts, origin=Origin.IMPORT,
                       price_source=PriceSource.CUSTOM if cost is not None else PriceSource.UNPRICED)


def _world(uow: Callable[[], Any]) -> None:
    with uow() as u:
        a = u.sessions.add(NewSession(name="a", start_time=t(1), working_directory="/a"))
        b = u.sessions.add(NewSession(name="b", start_time=t(1), working_directory="/b"))
        u.usage.add(_usage(a.id, t(2, 30), "sonnet", D("0.10"), 10, 1))
        u.usage.add(_usage(a.id, t(23, 30), "sonnet", D("0.25"), 20, 2))  # 08:30 on the 21st in Tokyo
        u.usage.add(_usage(b.id, t(3, 15), "opus", None, 5, 5))
        u.usage.add(_usage(b.id, t(9, 0), "opus", D("1.5"), 7, 3))


def test_daily_buckets_follow_the_timezone(uow: Callable[[], Any]) -> None:
    _world(uow)
    with uow() as u:
        utc = u.reports.rows(ReportKind.DAILY, ReportFilter(timezone="UTC"))
        tokyo = u.reports.rows(ReportKind.DAILY, ReportFilter(timezone="Asia/Tokyo"))
    assert [(r.key, r.calls, r.cost, r.unpriced_calls) for r in utc] == [("2026-11-20", 4, D("1.85"), 1)]
    assert [(r.key, r.calls, r.cost) for r in tokyo] == [("2026-11-20", 3, D("1.60")), ("2026-11-21", 1, D("0.25"))]


def test_models_projects_and_filters(uow: Callable[[], Any]) -> None:
    _world(uow)
    with uow() as u:
        models = u.reports.rows(ReportKind.MODELS, ReportFilter())
        projects = u.reports.rows(ReportKind.PROJECTS, ReportFilter(since=t(3), until=t(23)))
        only = u.reports.rows(ReportKind.MONTHLY, ReportFilter(project="/a", model="SON"))
        # a substring, never a LIKE pattern: `_` and `%` match only themselves on every back end
        patterns = [u.reports.rows(ReportKind.MODELS, ReportFilter(model=m)) for m in ("s_nnet", "%", "us")]
        hours = u.reports.hours(ReportFilter())
    assert [(r.key, r.calls, r.input, r.output, r.cost) for r in models] == [
        ("opus", 2, 12, 8, D("1.5")), ("sonnet", 2, 30, 3, D("0.35"))]
    assert [(r.key, r.calls) for r in projects] == [("/b", 2)]
    assert [(r.key, r.calls, r.total_tokens) for r in only] == [("2026-11", 2, 33)]
    assert [[r.key for r in rows] for rows in patterns] == [[], [], ["opus"]]
    assert [r.key for r in hours] == ["2026-11-20T02", "2026-11-20T03", "2026-11-20T09", "2026-11-20T23"]


def test_unknown_timezone_is_invalid_argument(uow: Callable[[], Any]) -> None:
    with uow() as u, pytest.raises(InvalidArgument):
        u.reports.rows(ReportKind.DAILY, ReportFilter(timezone="Nowhere/Land"))


def test_cursors_round_trip_and_roll_back_with_the_unit_of_work(uow: Callable[[], Any]) -> None:
    cur = ImportCursor(path="/t.jsonl", offset=10, size=20, inode=7, mtime_ns=99)
    with uow() as u:
        u.imports.save_cursor(cur)
    with pytest.raises(RuntimeError), uow() as u:
        u.imports.save_cursor(ImportCursor(path="/t.jsonl", offset=15, size=20, inode=7, mtime_ns=99))
        raise RuntimeError
    with uow() as u:
        assert u.imports.cursor("/t.jsonl") == cur and u.imports.cursor("/other") is None


def test_covering_and_named_sessions(uow: Callable[[], Any]) -> None:
    with uow() as u:
        done = u.sessions.add(NewSession(name="done", start_time=t(1), working_directory="/a"))
        u.sessions.end(done.id, end_time=t(2), notes=None)
        live = u.sessions.add(NewSession(name="live", start_time=t(5), working_directory="/a"))
        imported = u.sessions.add(NewSession(name="Imported", start_time=t(0), working_directory="/a"))
    with uow() as u:
        assert u.imports.covering_session("/a", t(1, 30)).id == done.id
        assert u.imports.covering_session("/a", t(6)).id == live.id
        assert u.imports.covering_session("/a", t(3)) is None
        assert u.imports.covering_session("/b", t(6)) is None
        assert u.imports.named_session("Imported", "/a").id == imported.id
        assert u.reports.last_session("/a").id == live.id


def test_today_projects_add_is_idempotent_and_remove_reports_misses(uow: Callable[[], Any]) -> None:
    with uow() as u:
        first = u.today.add(TodayProject(path="/p", name="p", added_at=t(1)))
        again = u.today.add(TodayProject(path="/p", name="other", added_at=t(2)))
        u.today.add(TodayProject(path="/q", name="q", added_at=t(3)))
    assert again == first and first.added_at == t(1)
    with uow() as u:
        assert u.today.remove("/p") is True and u.today.remove("/p") is False
        assert [p.path for p in u.today.all()] == ["/q"]


def test_bulk_add_stores_what_add_stores_and_bumps_totals_once_per_session(uow: Callable[[], Any]) -> None:
    import attrs

    from costhq.domain.errors import SessionNotFound

    recs = [
        attrs.evolve(_usage(0, t(9, 5), "claude-sonnet-4", D("0.0123456789"), 100, 20), call_key="r1",
                     rates={"input": D("3"), "output": D("15")}, agent="claude-code", served_model="claude-x",
                     upstream_request_id="req_1", response_id="msg_1", request_id="legacy"),
        attrs.evolve(_usage(0, t(11), "claude-sonnet-4", None, 7, 1), call_key="r2", usage_missing=True,
                     price_source=PriceSource.UNPRICED, partial=True, error=True, stream=True, duration_ms=1500),
        attrs.evolve(_usage(0, t(10), "claude-opus-4", D("2"), 1, 1), call_key="r3", input_estimated=True,
                     rates={"input": D("3"), "output": D("15")}),
    ]
    with uow() as u:
        bulk = u.sessions.add(NewSession(name="bulk", start_time=t(9), working_directory="/b"))
        one = u.sessions.add(NewSession(name="one", start_time=t(9), working_directory="/o"))
        assert u.usage.add_many([attrs.evolve(r, session_id=bulk.id) for r in recs]) == 3
        for r in recs:
            u.usage.add(attrs.evolve(r, session_id=one.id, call_key=f"{r.call_key}-one"))
        assert set(_keys(u, ["r1", "zz", "r3", "r2-one"])) == {"r1", "r3", "r2-one"}
    with uow() as u:
        def strip(rows: list[UsageRecord]) -> list[Any]:
            return [attrs.evolve(r, id=None, session_id=0, call_key=(r.call_key or "")[:2]) for r in rows]

        assert strip(u.usage.for_session(bulk.id)) == strip(u.usage.for_session(one.id))
        b, o = u.sessions.get(bulk.id), u.sessions.get(one.id)
        assert (b.ai_cost, b.ai_tokens, b.ai_calls, b.unpriced_calls) == (D("2.0123456789"), 130, 3, 1)
        assert (b.ai_cost, b.ai_tokens, b.ai_calls, b.unpriced_calls, b.last_activity) == (
            o.ai_cost, o.ai_tokens, o.ai_calls, o.unpriced_calls, o.last_activity)
    with pytest.raises(SessionNotFound), uow() as u:  # nothing half-written: the batch rolls back
        u.usage.add_many([attrs.evolve(recs[0], session_id=bulk.id, call_key="n1"),
                          attrs.evolve(recs[0], session_id=999, call_key="n2")])
    with uow() as u:
        assert _keys(u, ["n1", "n2"]) == {} and u.sessions.get(bulk.id).ai_calls == 3


def _keys(u: Any, keys: list[str]) -> dict[str, int]:
    from costhq.domain.identity import Sighting
    from costhq.domain.usage import Origin

    probes = [Sighting(origin=Origin.IMPORT, provider="anthropic", call_key=k) for k in keys]
    return dict(u.usage.identities(probes).keys)


def test_reports_filter_and_group_by_user_machine_and_project(uow: Callable[..., Any]) -> None:
    _world(uow)  # sessions /a and /b without who: they count as the owner's
    with uow(user="ann", machine="laptop") as u:
        s = u.sessions.add(NewSession(name="c", start_time=t(4), working_directory="/a"))
        u.usage.add(_usage(s.id, t(4, 10), "sonnet", D("0.05"), 1, 1))
        u.usage.add(_usage(s.id, t(5, 10, day=21), "opus", D("2"), 3, 1))
    me = Who("me", "box")

    def rows(kind: ReportKind, by: Dimension | None = None, **where: Any) -> list[tuple[Any, ...]]:
        with uow() as u:
            found = u.reports.rows(kind, ReportFilter(owner=me, **where), by)
        return [(r.key, r.group, r.calls, r.cost) for r in found]

    assert rows(ReportKind.USERS) == [("ann", None, 2, D("2.05")), ("me", None, 4, D("1.85"))]
    assert rows(ReportKind.MACHINES, machine="laptop") == [("laptop", None, 2, D("2.05"))]
    assert rows(ReportKind.DAILY, Dimension.USER) == [("2026-11-20", "ann", 1, D("0.05")),
                                                      ("2026-11-20", "me", 4, D("1.85")),
                                                      ("2026-11-21", "ann", 1, D("2"))]
    assert rows(ReportKind.MODELS, Dimension.PROJECT, user="me") == [("opus", "/b", 2, D("1.5")),
                                                                     ("sonnet", "/a", 2, D("0.35"))]
    assert rows(ReportKind.PROJECTS, Dimension.MACHINE) == [("/a", "box", 2, D("0.35")), ("/a", "laptop", 2, D("2.05")),
                                                            ("/b", "box", 2, D("1.5"))]
    assert rows(ReportKind.USERS, user="nobody") == []
    with uow() as u:  # without an owner, the unstamped sessions have empty names
        assert [r.key for r in u.reports.rows(ReportKind.USERS, ReportFilter())] == ["", "ann"]
