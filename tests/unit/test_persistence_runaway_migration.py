"""Schema step 11 on a real v10 file: each stored cost event gets its session's running total in
(at, id) order, in place, and the velocity window reads the new index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import apsw

from costhq.adapters.persistence.sqlite import schema
from costhq.adapters.persistence.sqlite.connection import open_connection
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.domain.runaway import ActivityEvent, EventKind, RunawayConfig, WindowFacts, window_facts

T = "2026-12-01T10:00:0{}.000000Z"
# (session, kind, key, cost units, second): inserted in this (id) order, out of time order.
OLD = [(1, "cost", "", 200, 3), (1, "cost", "", 100, 1), (1, "call", "fp", 0, 2), (1, "cost", "", 300, 2),
       (1, "cost", "", 400, 1), (2, "cost", "", 7, 5), (1, "file", "x.py", 0, 4)]


def _v10_file(path: Path) -> None:
    conn = apsw.Connection(str(path))
    with conn:
        for step in schema.STEPS[:10]:
            step(conn)
        conn.pragma("user_version", 10)
        conn.pragma("application_id", schema.APPLICATION_ID)
        conn.executemany("INSERT INTO runaway_events (session_id, kind, key, cost_units, at) VALUES (?, ?, ?, ?, ?)",
                         [(sid, kind, key, units, T.format(sec)) for sid, kind, key, units, sec in OLD])
    conn.close()


def test_a_v10_file_gets_running_totals_in_place_and_stays_exact(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    _v10_file(path)
    conn = open_connection(str(path))
    try:
        assert conn.pragma("user_version") == schema.CURRENT_VERSION == 11
        rows = conn.execute("SELECT id, cum_units FROM runaway_events ORDER BY id").fetchall()
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()
    # session 1's costs by (at, id): id 2 (100), id 5 (400), id 4 (300), id 1 (200); other kinds stay 0
    assert rows == [(1, 1000), (2, 100), (3, 0), (4, 800), (5, 500), (6, 7), (7, 0)]
    assert "runaway_events_cum" in indexes and "runaway_events_cost" not in indexes
    cfg = RunawayConfig(velocity_window_s=2)
    now = datetime(2026, 12, 1, 10, 0, 3, tzinfo=UTC)
    with ApswUnitOfWork(str(path)) as uow:
        assert uow.runaway.window_facts(1, cfg, now=now).spent == Decimal("0.00000005")  # 300 + 200 units
        uow.runaway.add_event(ActivityEvent(session_id=1, kind=EventKind.COST, cost=Decimal("0.0000001"),
                                            at=now - timedelta(seconds=1, microseconds=1)))  # back-dated
        facts = uow.runaway.window_facts(1, cfg, now=now)
        assert facts == window_facts(cfg, uow.runaway.events(1, since=now - cfg.horizon), now)
        assert facts == WindowFacts(spent=Decimal("0.00000015"), repeated=("fp", 1), recent_calls=("fp",),
                                    churned=None)
