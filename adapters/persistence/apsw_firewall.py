"""APSW BudgetRepository and RunawayRepository (ports of issue 4).

Assumptions: runs inside an ApswUnitOfWork IMMEDIATE transaction, so a reservation's
"sum, compare, insert" is atomic across processes. Spend sums are SQL aggregates on
denormalised session totals where possible (total/session/project without a model) and on
indexed `ai_usage` ranges otherwise; money is INTEGER 1e-10 USD.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from costhq.adapters.persistence.apsw_db import Db
from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.domain.budgets import BudgetAction, BudgetRule, BudgetScope, NewBudgetRule, SpendFilter
from costhq.domain.money import from_units, to_units
from costhq.domain.runaway import ActivityEvent, Detector, EventKind, RunawayAction, RunawayConfig, Trip

_RULE_COLS = "id AS id, scope AS scope, limit_units AS limit_units, action AS action, model AS model, " \
             "session_id AS session_id, project AS project, created_at AS created_at"


def _rule(row: dict[str, Any]) -> BudgetRule:
    return BudgetRule(id=row["id"], scope=BudgetScope(row["scope"]), limit=from_units(row["limit_units"]),
                      action=BudgetAction(row["action"]), model=row["model"], session_id=row["session_id"],
                      project=row["project"], created_at=parse_time(row["created_at"]))


def _sum(db: Db, sql: str, params: dict[str, Any]) -> Decimal:
    rows = db.rows(sql, params)
    return from_units(int(rows[0]["total"] or 0))


def _params(where: SpendFilter) -> dict[str, Any]:
    return {"sid": where.session_id, "proj": where.project, "model": where.model,
            "start": time_text(where.start) if where.start else None,
            "end": time_text(where.end) if where.end else None}


def _conds(where: SpendFilter, **sql: str) -> str:
    """AND of the given predicates whose filter field is set (keys: sid, proj, model, start, end)."""
    present = {"sid": where.session_id, "proj": where.project, "model": where.model, "start": where.start,
               "end": where.end}
    return " AND ".join([sql[k] for k, v in present.items() if v is not None and k in sql] or ["1"])


class ApswBudgetRepository:
    """BudgetRepository on `budgets`, `budget_reservations`, `sessions` and `ai_usage`."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, rule: NewBudgetRule, *, at: datetime) -> BudgetRule:
        if rule.session_id is not None:
            self._db.require_session(rule.session_id)
        rid = self._db.insert(
            "INSERT INTO budgets (scope, limit_units, action, model, session_id, project, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rule.scope.value, to_units(rule.limit), rule.action.value, rule.model, rule.session_id,
             rule.project, time_text(at)))
        found = self.get(rid or 0)
        assert found is not None
        return found

    def get(self, rule_id: int) -> BudgetRule | None:
        rows = self._db.rows(f"SELECT {_RULE_COLS} FROM budgets WHERE id = ?", (rule_id,))
        return _rule(rows[0]) if rows else None

    def all(self) -> list[BudgetRule]:
        return [_rule(r) for r in self._db.rows(f"SELECT {_RULE_COLS} FROM budgets ORDER BY id")]

    def remove(self, rule_id: int) -> bool:
        return self._db.run("DELETE FROM budgets WHERE id = ?", (rule_id,)) > 0

    def spent(self, where: SpendFilter) -> Decimal:
        # Only the needed predicates are emitted: `(:x IS NULL OR col = :x)` would stop SQLite
        # from using the timestamp / model indexes (the proxy runs this on every request).
        p = _params(where)
        if where.model is None and where.start is None:
            # Denormalised totals: one row per session instead of one per call.
            conds = _conds(where, sid="id = :sid", proj="working_directory = :proj")
            return _sum(self._db, f"SELECT SUM(ai_cost_units) AS total FROM sessions WHERE {conds}", p)
        conds = _conds(where, sid="u.session_id = :sid", proj="u.session_id IN (SELECT id FROM sessions"
                       " WHERE working_directory = :proj)", model="(u.model = :model OR u.served_model = :model)",
                       start="u.timestamp >= :start", end="u.timestamp < :end")
        return _sum(self._db, f"SELECT SUM(u.cost_units) AS total FROM ai_usage u WHERE {conds}", p)

    def reserved(self, where: SpendFilter, *, now: datetime) -> Decimal:
        conds = _conds(where, sid="session_id = :sid", proj="project = :proj", model="model = :model",
                       start="created_at >= :start", end="created_at < :end")
        return _sum(self._db, "SELECT SUM(amount_units) AS total FROM budget_reservations"
                    f" WHERE expires_at > :now AND {conds}", {**_params(where), "now": time_text(now)})

    def reserve(self, *, session_id: int | None, project: str | None, model: str, amount: Decimal,
                at: datetime, expires_at: datetime) -> int:
        rid = self._db.insert(
            "INSERT INTO budget_reservations (session_id, project, model, amount_units, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, project, model, to_units(amount), time_text(at), time_text(expires_at)))
        assert rid is not None
        return rid

    def release(self, reservation_id: int) -> bool:
        return self._db.run("DELETE FROM budget_reservations WHERE id = ?", (reservation_id,)) > 0

    def expire(self, now: datetime) -> int:
        return self._db.run("DELETE FROM budget_reservations WHERE expires_at <= ?", (time_text(now),))


_TRIP_COLS = "id AS id, session_id AS session_id, detector AS detector, action AS action, message AS message, " \
             "at AS at, until AS until, cleared_at AS cleared_at"


def _trip(row: dict[str, Any]) -> Trip:
    return Trip(id=row["id"], session_id=row["session_id"], detector=Detector(row["detector"]),
                action=RunawayAction(row["action"]), message=row["message"], at=parse_time(row["at"]),
                until=parse_time(row["until"]),
                cleared_at=parse_time(row["cleared_at"]) if row["cleared_at"] else None)


def config_to_json(cfg: RunawayConfig) -> str:
    """Stored form of the detector config (also used by the in-memory fake)."""
    return json.dumps({"action": cfg.action.value, "velocity_usd_per_min": str(cfg.velocity_usd_per_min),
                       **{k: getattr(cfg, k) for k in ("velocity_window_s", "identical_k", "identical_window_s",
                                                      "loop_repeats", "loop_window_s", "churn_n",
                                                      "churn_window_s")}}, sort_keys=True)


def config_from_json(text: str) -> RunawayConfig:
    raw = json.loads(text)
    return RunawayConfig(action=RunawayAction(raw.pop("action")),
                         velocity_usd_per_min=Decimal(raw.pop("velocity_usd_per_min")), **raw)


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

    def prune(self, before: datetime) -> int:
        return self._db.run("DELETE FROM runaway_events WHERE at <= ?", (time_text(before),))

    def add_trip(self, trip: Trip) -> Trip:
        tid = self._db.insert(
            "INSERT INTO runaway_trips (session_id, detector, action, message, at, until) VALUES (?, ?, ?, ?, ?, ?)",
            (trip.session_id, trip.detector.value, trip.action.value, trip.message, time_text(trip.at),
             time_text(trip.until)))
        return _trip(self._db.rows(f"SELECT {_TRIP_COLS} FROM runaway_trips WHERE id = ?", (tid,))[0])

    def trips(self, *, session_id: int | None = None, open_at: datetime | None = None) -> list[Trip]:
        at = time_text(open_at) if open_at else None
        rows = self._db.rows(
            f"SELECT {_TRIP_COLS} FROM runaway_trips WHERE (:sid IS NULL OR session_id = :sid)"
            " AND (:at IS NULL OR (cleared_at IS NULL AND until > :at)) ORDER BY at DESC, id DESC",
            {"sid": session_id, "at": at})
        return [_trip(r) for r in rows]

    def clear(self, *, session_id: int | None, at: datetime) -> int:
        # Forget the episode's events too, or the next call would trip on the same history.
        self._db.run("DELETE FROM runaway_events WHERE (:sid IS NULL OR session_id = :sid)", {"sid": session_id})
        return self._db.run("UPDATE runaway_trips SET cleared_at = :at WHERE cleared_at IS NULL"
                            " AND (:sid IS NULL OR session_id = :sid)", {"at": time_text(at), "sid": session_id})
