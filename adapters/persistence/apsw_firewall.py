"""APSW BudgetRepository and RunawayRepository (ports of issue 4).

Assumptions: runs inside an ApswUnitOfWork IMMEDIATE transaction, so a reservation's
"sum, compare, insert" is atomic across processes. Spend sums are SQL aggregates on
denormalised session totals where possible (total/session/project without a model) and on
indexed `ai_usage` ranges otherwise; money is INTEGER 1e-10 USD.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from costhq.adapters.persistence.apsw_db import Db
from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.adapters.persistence.transaction import translate_errors
from costhq.domain.budgets import BudgetAction, BudgetRule, BudgetScope, NewBudgetRule, SpendFilter
from costhq.domain.money import from_units, to_units
from costhq.domain.runaway import (
    ActivityEvent,
    Detector,
    EventKind,
    RunawayAction,
    RunawayConfig,
    Trip,
    WindowFacts,
)

_RULE_COLS = "id AS id, scope AS scope, limit_units AS limit_units, action AS action, model AS model, " \
             "session_id AS session_id, project AS project, created_at AS created_at"


def _rule(row: dict[str, Any]) -> BudgetRule:
    return BudgetRule(id=row["id"], scope=BudgetScope(row["scope"]), limit=from_units(row["limit_units"]),
                      action=BudgetAction(row["action"]), model=row["model"], session_id=row["session_id"],
                      project=row["project"], created_at=parse_time(row["created_at"]))


def _sum(db: Db, sql: str, params: dict[str, Any]) -> Decimal:
    rows = db.rows(sql, params)
    return from_units(int(rows[0]["total"] or 0))


def _params(where: SpendFilter, tag: str = "") -> dict[str, Any]:
    return {f"sid{tag}": where.session_id, f"proj{tag}": where.project, f"model{tag}": where.model,
            f"start{tag}": time_text(where.start) if where.start else None,
            f"end{tag}": time_text(where.end) if where.end else None}


def _conds(where: SpendFilter, tag: str = "", **sql: str) -> str:
    """AND of the given predicates whose filter field is set (keys: sid, proj, model, start, end);
    `{t}` in a predicate is the parameter-name tag, so several filters can share one statement."""
    present = {"sid": where.session_id, "proj": where.project, "model": where.model, "start": where.start,
               "end": where.end}
    return " AND ".join([sql[k].format(t=tag) for k, v in present.items() if v is not None and k in sql] or ["1"])


_PROJECT = "session_id IN (SELECT id FROM sessions WHERE working_directory = :proj{t})"
_MODEL = "(model = :model{t} OR served_model = :model{t})"


def _spent_sql(where: SpendFilter, tag: str, params: dict[str, Any]) -> str:
    """A scalar SQL expression of the filter's recorded spend (units); adds its parameters."""
    # Only the needed predicates are emitted: `(:x IS NULL OR col = :x)` would stop SQLite
    # from using the indexes (the proxy runs this on every request).
    params.update(_params(where, tag))
    if where.model is None and where.start is None:
        # Denormalised totals: one row per session instead of one per call.
        conds = _conds(where, tag, sid="id = :sid{t}", proj="working_directory = :proj{t}")
        return f"(SELECT COALESCE(SUM(ai_cost_units), 0) FROM sessions WHERE {conds})"
    # Whole UTC hours come from the v6 rollup (`spend_hourly`), partial edge hours from raw calls.
    parts = []
    conds = _conds(where, tag, sid="session_id = :sid{t}", proj=_PROJECT, model=_MODEL)
    for i, (table, lo, hi) in enumerate(_spans(where)):
        col = "hour" if table == "spend_hourly" else "timestamp"
        params[f"lo{i}{tag}"], params[f"hi{i}{tag}"] = lo, hi
        bounds = [f"{col} >= :lo{i}{tag}" if lo else "", f"{col} < :hi{i}{tag}" if hi else ""]
        where_sql = " AND ".join([conds, *[b for b in bounds if b]])
        parts.append(f"(SELECT COALESCE(SUM(cost_units), 0) FROM {table} WHERE {where_sql})")
    return f"({' + '.join(parts)})"


def _reserved_sql(where: SpendFilter, tag: str, params: dict[str, Any]) -> str:
    """A scalar SQL expression of the filter's unexpired reservations (units; needs `:now`)."""
    params.update(_params(where, tag))
    conds = _conds(where, tag, sid="session_id = :sid{t}", proj="project = :proj{t}", model="model = :model{t}",
                   start="created_at >= :start{t}", end="created_at < :end{t}")
    return f"(SELECT COALESCE(SUM(amount_units), 0) FROM budget_reservations WHERE expires_at > :now AND {conds})"


def _spans(where: SpendFilter) -> list[tuple[str, str | None, str | None]]:
    """[start, end) as (table, lo, hi) parts: whole UTC hours ('YYYY-MM-DDTHH' bounds) from the
    rollup and the partial hours at either edge (time-text bounds) from `ai_usage`."""
    start, end = where.start, where.end
    lo = None if start is None else start.replace(minute=0, second=0, microsecond=0)
    if start is not None and lo is not None and lo < start:
        lo += timedelta(hours=1)
    hi = None if end is None else end.replace(minute=0, second=0, microsecond=0)
    if start is not None and end is not None and lo is not None and hi is not None and lo >= hi:
        return [("ai_usage", time_text(start), time_text(end))]  # inside one hour
    spans: list[tuple[str, str | None, str | None]] = [
        ("spend_hourly", lo and time_text(lo)[:13], hi and time_text(hi)[:13])]
    if start is not None and lo is not None and start < lo:
        spans.append(("ai_usage", time_text(start), time_text(lo)))
    if end is not None and hi is not None and hi < end:
        spans.append(("ai_usage", time_text(hi), time_text(end)))
    return spans


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
        params: dict[str, Any] = {}
        return _sum(self._db, f"SELECT {_spent_sql(where, '', params)} AS total", params)

    def reserved(self, where: SpendFilter, *, now: datetime) -> Decimal:
        params: dict[str, Any] = {"now": time_text(now)}
        return _sum(self._db, f"SELECT {_reserved_sql(where, '', params)} AS total", params)

    def standing(self, wheres: list[SpendFilter], *, now: datetime,
                 with_reserved: bool = True) -> list[tuple[Decimal, Decimal]]:
        if not wheres:
            return []
        # Every rule in ONE statement: the proxy evaluates all rules on each request, and each
        # statement costs more than the few index reads it does.
        params: dict[str, Any] = {"now": time_text(now)}
        cols = []
        for i, where in enumerate(wheres):
            cols.append(_spent_sql(where, f"_{i}s", params))
            cols.append(_reserved_sql(where, f"_{i}r", params) if with_reserved else "0")
        with translate_errors():
            row = self._db.conn.execute(f"SELECT {', '.join(cols)}", params).fetchall()[0]
        return [(from_units(row[2 * i]), from_units(row[2 * i + 1])) for i in range(len(wheres))]

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
