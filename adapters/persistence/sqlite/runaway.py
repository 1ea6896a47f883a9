"""APSW RunawayRepository (port of issue 4): activity events, trips and the detector config.

Assumptions: runs inside an ApswUnitOfWork transaction; the detectors' window aggregates are
index range reads (schema step 7), so their cost does not grow with the window's events.
"""

from __future__ import annotations

from datetime import datetime

from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.adapters.persistence.rows import TRIP_COLUMNS, config_from_json, config_to_json, trip_from_row
from costhq.adapters.persistence.sqlite.db import Db
from costhq.adapters.persistence.sqlite.transaction import translate_errors
from costhq.domain.money import from_units, to_units
from costhq.domain.runaway import (
    ActivityEvent,
    Detector,
    EventKind,
    RunawayConfig,
    Trip,
    WindowFacts,
)


def _in(kind: str, detector: Detector) -> str:
    return f"session_id = :sid AND kind = '{kind}' AND at > :lo_{detector.value} AND at <= :now"


# INDEXED BY: left alone, the planner walks (session_id, at) backwards past every other kind.
_NEWEST = "SELECT key FROM runaway_events INDEXED BY runaway_events_kind_time WHERE {where} ORDER BY at DESC, id DESC"


def _latest(kind: str, detector: Detector, extra: str = "") -> str:
    return _NEWEST.format(where=_in(kind, detector) + extra) + " LIMIT 1"


_REPEATED = _latest("call", Detector.IDENTICAL, " AND key != ''")
_CHURNED = _latest("file", Detector.CHURN)
_FACTS_SQL = (
    f"SELECT (SELECT COALESCE(SUM(cost_units), 0) FROM runaway_events WHERE {_in('cost', Detector.VELOCITY)}),"
    f" ({_REPEATED}),"
    f" (SELECT COUNT(*) FROM runaway_events WHERE {_in('call', Detector.IDENTICAL)} AND key = ({_REPEATED})),"
    f" ({_CHURNED}),"
    f" (SELECT COUNT(*) FROM runaway_events WHERE {_in('file', Detector.CHURN)} AND key = ({_CHURNED}))")
_TAIL_SQL = _NEWEST.format(where=_in("call", Detector.LOOP)) + " LIMIT :n"


class ApswRunawayRepository:
    """RunawayRepository on `runaway_events`, `runaway_trips` and `runaway_config`."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def config(self) -> RunawayConfig:
        rows = self._db.rows("SELECT config AS config FROM runaway_config WHERE id = 1")
        return config_from_json(rows[0]["config"]) if rows else RunawayConfig()

    def save_config(self, config: RunawayConfig) -> None:
        self._db.run("INSERT INTO runaway_config (id, config) VALUES (1, ?)"
                     " ON CONFLICT (id) DO UPDATE SET config = excluded.config", (config_to_json(config),))

    def add_event(self, event: ActivityEvent) -> None:
        self._db.run("INSERT INTO runaway_events (session_id, kind, key, cost_units, at) VALUES (?, ?, ?, ?, ?)",
                     (event.session_id, event.kind.value, event.key, to_units(event.cost), time_text(event.at)))

    def events(self, session_id: int, *, since: datetime) -> list[ActivityEvent]:
        rows = self._db.rows("SELECT session_id AS session_id, kind AS kind, key AS key, cost_units AS cost_units,"
                             " at AS at FROM runaway_events WHERE session_id = ? AND at > ? ORDER BY at, id",
                             (session_id, time_text(since)))
        return [ActivityEvent(session_id=r["session_id"], kind=EventKind(r["kind"]), key=r["key"],
                              cost=from_units(r["cost_units"]), at=parse_time(r["at"])) for r in rows]

    def window_facts(self, session_id: int, config: RunawayConfig, *, now: datetime) -> WindowFacts:
        # Each part is an index range read (schema step 7): a sum over the velocity window, the
        # newest key and its count, the loop tail by `at DESC, id DESC LIMIT n`.
        params = {"sid": session_id, "now": time_text(now),
                  **{f"lo_{d.value}": time_text(now - config.window_of(d)) for d in Detector}}
        with translate_errors():
            row = self._db.conn.execute(_FACTS_SQL, params).fetchall()[0]
            tail = self._db.conn.execute(_TAIL_SQL, {**params, "n": 2 * config.loop_repeats}).fetchall()
        return WindowFacts(spent=from_units(int(row[0])),
                           repeated=None if row[1] is None else (row[1], int(row[2])),
                           recent_calls=tuple(r[0] for r in reversed(tail)),
                           churned=None if row[3] is None else (row[3], int(row[4])))

    def prune(self, before: datetime) -> int:
        return self._db.run("DELETE FROM runaway_events WHERE at <= ?", (time_text(before),))

    def add_trip(self, trip: Trip) -> Trip:
        tid = self._db.insert(
            "INSERT INTO runaway_trips (session_id, detector, action, message, at, until) VALUES (?, ?, ?, ?, ?, ?)",
            (trip.session_id, trip.detector.value, trip.action.value, trip.message, time_text(trip.at),
             time_text(trip.until)))
        return trip_from_row(self._db.rows(f"SELECT {TRIP_COLUMNS} FROM runaway_trips WHERE id = ?", (tid,))[0])

    def trips(self, *, session_id: int | None = None, open_at: datetime | None = None) -> list[Trip]:
        at = time_text(open_at) if open_at else None
        rows = self._db.rows(
            f"SELECT {TRIP_COLUMNS} FROM runaway_trips WHERE (:sid IS NULL OR session_id = :sid)"
            " AND (:at IS NULL OR (cleared_at IS NULL AND until > :at)) ORDER BY at DESC, id DESC",
            {"sid": session_id, "at": at})
        return [trip_from_row(r) for r in rows]

    def clear(self, *, session_id: int | None, at: datetime) -> int:
        # Forget the episode's events too, or the next call would trip on the same history.
        self._db.run("DELETE FROM runaway_events WHERE (:sid IS NULL OR session_id = :sid)", {"sid": session_id})
        return self._db.run("UPDATE runaway_trips SET cleared_at = :at WHERE cleared_at IS NULL"
                            " AND (:sid IS NULL OR session_id = :sid)", {"at": time_text(at), "sid": session_id})
