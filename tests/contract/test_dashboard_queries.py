"""DashboardQueries / DataReset contract: the in-memory fake, the APSW adapter (with and without its
hourly rollup) and the PostgreSQL adapter agree, exactly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costhq.adapters.persistence.memory.queries import InMemoryDashboardQueries, InMemoryDataReset
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.adapters.persistence.sqlite.connection import open_connection
from costhq.adapters.persistence.sqlite.queries import ApswDashboardQueries
from costhq.adapters.persistence.sqlite.reset import ApswDataReset
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.application.dashboard import local_day_windows
from costhq.domain.analytics import SessionQuery, SessionSort, Window
from costhq.domain.audit import AuditEvent
from costhq.domain.sessions import Dimension, Who
from costhq.domain.team import TeamFilter
from tests.e2e.helpers_dashboard import NOW, UTC_TZ, at, seed, seed_team

DROP_ROLLUP = (
    "DROP TRIGGER usage_hourly_insert; DROP TRIGGER usage_hourly_delete; DROP TRIGGER usage_hourly_update;"
    " DROP TABLE usage_hourly;"
)


@pytest.fixture(params=["in_memory", "apsw", "apsw_rollup", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, Any, Callable[[], Any]]:
    if request.param == "in_memory":
        store = InMemoryStore()
        uow: Callable[..., Any] = lambda **who: InMemoryUnitOfWork(store, **who)  # noqa: E731
        q, reset = InMemoryDashboardQueries(store), InMemoryDataReset(store)
    elif request.param == "postgres":
        from costhq.adapters.persistence.postgres.queries import PgDashboardQueries
        from costhq.adapters.persistence.postgres.reset import PgDataReset
        from costhq.adapters.persistence.postgres.uow import PgUnitOfWork

        url = request.getfixturevalue("pg_url")
        uow = lambda **who: PgUnitOfWork(url, **who)  # noqa: E731
        q, reset = PgDashboardQueries(url), PgDataReset(url)
    else:
        db = str(tmp_path / "costhq.db")
        uow = lambda **who: ApswUnitOfWork(db, **who)  # noqa: E731
        if request.param == "apsw":  # without schema step 4's rollup, aggregates scan raw rows
            with ApswUnitOfWork(db):  # migrates the file
                pass
            conn = open_connection(db)
            with conn:
                conn.execute(DROP_ROLLUP)
            conn.close()
        q, reset = ApswDashboardQueries(db), ApswDataReset(db)
    seed(uow)
    return q, reset, uow


def test_totals_count_every_session_with_live_durations(world: Any) -> None:
    q, _, _ = world
    t = q.totals(now=NOW)
    assert (t.sessions, t.active, t.seconds, t.files, t.commits) == (3, 1, 12600, 3, 1)
    assert (t.cost, t.tokens, t.calls, t.unpriced_calls) == (Decimal("1.1815"), 35715, 5, 1)
    assert q.totals(now=NOW, start=at("2026-11-22T00:00:00"), end=NOW).sessions == 2


def test_daily_series_buckets_calls_and_session_starts_per_window(world: Any) -> None:
    q, _, _ = world
    points = q.daily(local_day_windows(NOW.date(), 4, UTC_TZ))
    assert [(p.cost, p.prompt_tokens, p.completion_tokens, p.calls, p.sessions) for p in points] == [
        (Decimal("0.0615"), 9000, 2500, 2, 1),
        (Decimal(0), 0, 0, 0, 0),
        (Decimal("0.12"), 20000, 4000, 1, 1),
        (Decimal("1.0"), 110, 105, 2, 1),
    ]


def test_models_are_grouped_by_provider_and_model_most_expensive_first(world: Any) -> None:
    q, _, _ = world
    rows = [
        (m.provider, m.model, m.calls, m.cost, m.prompt_tokens, m.completion_tokens, m.unpriced_calls)
        for m in q.models()
    ]
    assert rows == [
        ("openai", "gpt-4o", 2, Decimal("1.0075"), 1100, 600, 0),
        ("anthropic", "claude-sonnet-4", 2, Decimal("0.174"), 28000, 6000, 0),
        ("mystery", "x-1", 1, Decimal(0), 10, 5, 1),
    ]
    assert [m.calls for m in q.models(start=at("2026-11-23T00:00:00"))] == [1, 1]


def test_sessions_search_filter_sort_and_page(world: Any) -> None:
    q, _, _ = world
    page = q.sessions(SessionQuery(sort=SessionSort.COST, per_page=2), now=NOW)
    assert ([s.id for s in page.items], page.total) == ([3, 2], 3)
    assert [s.id for s in q.sessions(SessionQuery(sort=SessionSort.COST, per_page=2, page=2), now=NOW).items] == [1]
    assert [s.id for s in q.sessions(SessionQuery(search="AUTH"), now=NOW).items] == [1]
    assert q.sessions(SessionQuery(search="repo/b"), now=NOW).total == 1
    assert [
        s.id
        for s in q.sessions(
            SessionQuery(status="completed", sort=SessionSort.DURATION, descending=False), now=NOW
        ).items
    ] == [2, 1]
    assert [s.id for s in q.sessions(SessionQuery(sort=SessionSort.COST_PER_HOUR), now=NOW).items] == [3, 2, 1]
    assert [s.id for s in q.sessions(SessionQuery(sort=SessionSort.NAME, descending=False), now=NOW).items] == [2, 1, 3]
    assert q.sessions(SessionQuery(search="100%_"), now=NOW).total == 0


def test_top_and_recent_sessions(world: Any) -> None:
    q, _, _ = world
    assert [s.id for s in q.top_sessions(2)] == [3, 2]
    assert [s.id for s in q.recent_sessions(5)] == [3, 2, 1]


def test_hotspots_projects_and_hourly_starts(world: Any) -> None:
    q, _, _ = world
    assert [(h.path, h.changes, h.sessions) for h in q.hotspots(10)] == [("src/auth.py", 2, 2), ("README.md", 1, 1)]
    assert [(p.path, p.sessions, p.cost, p.seconds, p.files, p.commits, p.tokens) for p in q.projects(now=NOW)] == [
        ("/repo/a", 2, Decimal("1.0615"), 10800, 2, 1, 11715),
        ("/repo/b", 1, Decimal("0.12"), 1800, 1, 0, 24000),
    ]
    assert q.session_starts_by_hour() == [
        (at("2026-11-20T10:00:00"), 1),
        (at("2026-11-22T09:00:00"), 1),
        (at("2026-11-23T14:00:00"), 1),
    ]


def test_mark_changes_when_anything_is_recorded(world: Any) -> None:
    q, _, uow = world
    before = q.mark()
    assert (before.sessions, before.max_session_id, before.usage_rows) == (3, 3, 5)
    with uow() as u:
        u.sessions.touch(3, NOW + timedelta(seconds=1))
    assert q.mark().changed_since(before)
    assert not q.mark().changed_since(q.mark())


def test_reset_deletes_everything_and_ids_restart(world: Any) -> None:
    q, reset, uow = world
    counts = reset.clear_all()
    assert (counts.sessions, counts.ai_usage, counts.file_changes, counts.commits, counts.annotations) == (
        3,
        5,
        3,
        1,
        1,
    )
    assert q.totals(now=NOW).sessions == 0 and q.models() == [] and q.hotspots(5) == []
    seed(uow)
    assert [s.id for s in q.recent_sessions(3)] == [3, 2, 1]


def test_reset_appends_one_audit_entry_with_the_counts_in_the_same_transaction(world: Any) -> None:
    _, reset, uow = world
    with uow() as u:
        before = u.audit.head()
    reset.clear_all(AuditEvent(event="data.reset", actor="http", payload={"alertThresholds": 2}, at=NOW))
    with uow() as u:
        entry = u.audit.head()
    assert entry is not None and entry.seq == (before.seq if before else 0) + 1
    assert (entry.event, entry.actor) == ("data.reset", "http")
    assert dict(entry.payload) == {"alertThresholds": 2, "sessions": 3, "aiUsage": 5, "fileChanges": 3,
                                   "commits": 1, "annotations": 1}


def test_windows_that_split_an_hour_stay_exact(world: Any) -> None:
    q, _, uow = world
    with uow() as u:  # an update and a delete must keep the rollup exact too
        u.usage.add(_extra(3, "2026-11-23T14:45:00"))
    half = [
        Window(start=at("2026-11-23T14:35:00"), end=at("2026-11-23T14:50:00"), label="a"),
        Window(start=at("2026-11-20T10:30:00"), end=at("2026-11-23T14:31:00"), label="b"),
    ]
    assert [(p.cost, p.calls) for p in q.daily(half)] == [(Decimal("0.25"), 2), (Decimal("1.1815"), 4)]
    assert [(m.model, m.calls) for m in q.models(start=at("2026-11-23T14:35:00"), end=at("2026-11-23T14:50:00"))] == [
        ("gpt-4o", 1),
        ("x-1", 1),
    ]
    assert [(m.model, m.calls) for m in q.models(start=at("2026-11-20T10:45:00"))] == [
        ("gpt-4o", 3),
        ("claude-sonnet-4", 1),
        ("x-1", 1),
    ]


def _extra(sid: int, ts: str) -> Any:
    from tests.e2e.helpers_dashboard import _call

    return _call(sid, "openai", "gpt-4o", 1, 1, "0.25", ts)


def test_export_rows_are_flat_sessions_with_exact_money_and_live_durations(world: Any) -> None:
    q, _, uow = world
    from costhq.domain.sessions import NewSession
    from tests.e2e.helpers_dashboard import _call

    with uow() as u:  # cost-per-hour edge cases: an exact half (rounds to even) and a sub-minute session
        for name, start, end, cost in (('tie "a", b', "2026-11-21T00:00:00", "2026-11-21T02:00:00", "0.0000000003"),
                                       ("even", "2026-11-21T03:00:00", "2026-11-21T05:00:00", "0.0000000001"),
                                       ("short", "2026-11-21T06:00:00", "2026-11-21T06:00:10.999", "0.0000000001")):
            s = u.sessions.add(NewSession(name=name, start_time=at(start), working_directory="/repo/c"))
            u.usage.add(_call(s.id, "openai", "gpt-4o", 1, 1, cost, start))
            u.sessions.end(s.id, end_time=at(end), notes=None)
    rows = q.export_rows(now=NOW)
    assert [r[0] for r in rows] == [3, 2, 6, 5, 4, 1]
    assert rows[0] == (3, "Live run", "active", "2026-11-23T14:00:00.000Z", None, 3600, "/repo/a", None, None,
                       0, 0, 215, 10_000_000_000, 2, 1, 10_000_000_000, None)
    assert rows[-1] == (1, "Fix auth bug", "completed", "2026-11-20T10:00:00.000Z", "2026-11-20T12:00:00.000Z",
                        7200, "/repo/a", "/repo/a", "main", 2, 1, 11500, 615_000_000, 2, 0, 307_500_000, "done")
    assert [(r[1], r[4], r[5], r[12], r[15]) for r in rows[2:5]] == [
        ("short", "2026-11-21T06:00:10.999Z", 10, 1, 60),  # counted as one minute
        ("even", "2026-11-21T05:00:00.000Z", 7200, 1, 0),  # 0.5 unit -> 0 (half to even)
        ('tie "a", b', "2026-11-21T02:00:00.000Z", 7200, 3, 2),  # 1.5 units -> 2
    ]
    assert [r[0] for r in q.export_rows(now=NOW, limit=2)] == [3, 2]
    assert q.export_rows(now=NOW + timedelta(hours=1))[0][5] == 7200  # an active session's duration is live


def test_spend_groups_and_filters_by_user_machine_and_project(world: Any) -> None:
    q, _, uow = world
    seed_team(uow)
    me = Who("me", "box")  # the seed's sessions carry no who: they count as the reader's
    rows = [(g.key, g.totals.sessions, g.totals.active, g.totals.cost, g.totals.calls, g.totals.seconds)
            for g in q.spend(TeamFilter(owner=me), now=NOW, by=Dimension.USER)]
    assert rows == [("bob", 1, 0, Decimal("2"), 1, 1800), ("me", 3, 1, Decimal("1.1815"), 5, 12600),
                    ("ann", 1, 0, Decimal("0.5"), 1, 1800)]
    assert [(g.key, g.totals.cost) for g in q.spend(TeamFilter(owner=me), now=NOW, by=Dimension.MACHINE)] == [
        ("ci-1", Decimal("2")), ("box", Decimal("1.1815")), ("laptop", Decimal("0.5"))]
    by_project = q.spend(TeamFilter(machine="box", owner=me), now=NOW, by=Dimension.PROJECT)
    assert [(g.key, g.totals.sessions, g.totals.cost) for g in by_project] == [
        ("/repo/a", 2, Decimal("1.0615")), ("/repo/b", 1, Decimal("0.12"))]
    assert [(g.key, g.totals.cost) for g in q.spend(TeamFilter(project="/repo/a", owner=me), now=NOW,
                                                      by=Dimension.USER)] == [("me", Decimal("1.0615")),
                                                                              ("ann", Decimal("0.5"))]
    (only,) = q.spend(TeamFilter(user="ann", machine="laptop", owner=me), now=NOW)
    assert (only.key, only.totals.sessions, only.totals.cost, only.totals.tokens) == ("", 1, Decimal("0.5"), 110)
    assert q.spend(TeamFilter(user="me"), now=NOW) != q.spend(TeamFilter(user="me", owner=me), now=NOW)
    assert [g.key for g in q.spend(TeamFilter(), now=NOW, by=Dimension.USER)] == ["bob", "", "ann"]


def test_spend_windows_count_sessions_by_start_and_an_empty_filter_has_zero_totals(world: Any) -> None:
    q, _, uow = world
    seed_team(uow)
    window = TeamFilter(start=at("2026-11-21T00:00:00"), end=at("2026-11-23T00:00:00"))
    assert [(g.key, g.totals.sessions, g.totals.cost) for g in q.spend(window, now=NOW, by=Dimension.USER)] == [
        ("bob", 1, Decimal("2")), ("ann", 1, Decimal("0.5")), ("", 1, Decimal("0.12"))]
    (none,) = q.spend(TeamFilter(user="nobody"), now=NOW)
    assert (none.totals.sessions, none.totals.cost, none.totals.seconds) == (0, Decimal(0), 0)
    assert q.spend(TeamFilter(user="nobody"), now=NOW, by=Dimension.PROJECT) == []
    assert q.totals(now=NOW).sessions == 5
