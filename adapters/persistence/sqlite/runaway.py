"""APSW RunawayRepository (port of issue 4): activity events, trips and the detector config.

Assumptions: runs inside an ApswUnitOfWork transaction; the detectors' window reads and the
event writes are persistence/sql/runaway.py's (indexes of schema steps 7 and 11).
"""

from __future__ import annotations

from datetime import datetime

from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.adapters.persistence.rows import TRIP_COLUMNS, config_from_json, config_to_json, trip_from_row
from costhq.adapters.persistence.sql.runaway import SqlRunawayEvents
from costhq.adapters.persistence.sqlite.db import Db
from costhq.domain.money import from_units
from costhq.domain.runaway import ActivityEvent, EventKind, RunawayConfig, Trip


class ApswRunawayRepository(SqlRunawayEvents):
    """RunawayRepository on `runaway_events`, `runaway_trips` and `runaway_config`."""

    def __init__(self, db: Db) -> None:
        self._db = self._sql = db

    def _serialise_costs(self, session_id: int) -> None:
        """Nothing to do: a unit of work that writes holds the file's write lock (IMMEDIATE)."""

    def config(self) -> RunawayConfig:
        rows = self._db.rows("SELECT config AS config FROM runaway_config WHERE id = 1")
        return config_from_json(rows[0]["config"]) if rows else RunawayConfig()

    def save_config(self, config: RunawayConfig) -> None:
        self._db.run("INSERT INTO runaway_config (id, config) VALUES (1, ?)"
                     " ON CONFLICT (id) DO UPDATE SET config = excluded.config", (config_to_json(config),))

    def events(self, session_id: int, *, since: datetime) -> list[ActivityEvent]:
        rows = self._db.rows("SELECT session_id AS session_id, kind AS kind, key AS key, cost_units AS cost_units,"
                             " at AS at FROM runaway_events WHERE session_id = ? AND at > ? ORDER BY at, id",
                             (session_id, time_text(since)))
        return [ActivityEvent(session_id=r["session_id"], kind=EventKind(r["kind"]), key=r["key"],
                              cost=from_units(r["cost_units"]), at=parse_time(r["at"])) for r in rows]

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
