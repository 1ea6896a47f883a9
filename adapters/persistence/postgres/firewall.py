"""PostgreSQL BudgetRepository and RunawayRepository (ports of issue 4), enforced across machines.

Assumptions: runs inside a PgUnitOfWork transaction (READ COMMITTED: each statement sees what
committed before it). Team budgets never race: in a writing unit of work `all()` takes a row
lock (SELECT ... FOR UPDATE) on every budget rule, and the firewall reads the rules before it
sums spend and reserves. A second machine checking the same rules waits for the first one's
commit, then its sums include the first one's reservation or call: "sum, compare, insert" is
atomic across machines, never a read-then-write race. Spend sums are SQL aggregates on the
session totals (no model, no window) or, in a window, on the hourly rollup (schema v4) plus
indexed `ai_usage` ranges for partial edge hours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.adapters.persistence.postgres.db import PgDb, connect, translate_errors
from costhq.adapters.persistence.rows import budget_rule_from_row, config_from_json, config_to_json, trip_from_row
from costhq.adapters.persistence.sql.reservations import SqlReservations
from costhq.adapters.persistence.sql.rollup import ROLLUP, hour_spans
from costhq.adapters.persistence.sql.runaway import SqlRunawayEvents
from costhq.domain.budgets import BudgetRule, NewBudgetRule, SpendFilter
from costhq.domain.estimates import SAMPLE_WINDOW, CostSample
from costhq.domain.money import from_units, to_units
from costhq.domain.runaway import ActivityEvent, EventKind, RunawayAction, RunawayConfig, Trip

T = TypeVar("T")

_RULE_COLS = "id, scope, limit_units, action, model, session_id, project, created_at"
_TRIP_COLS = "id, session_id, detector, action, message, at, until, cleared_at"


def _conds(where: SpendFilter, tag: str, params: dict[str, Any], **sql: str) -> str:
    """AND of the predicates whose filter field is set (keys: sid, proj, model, start, end); `{t}`
    in a predicate is replaced by the parameter tag, so several filters share one statement."""
    values = {"sid": where.session_id, "proj": where.project, "model": where.model,
              "start": time_text(where.start) if where.start else None,
              "end": time_text(where.end) if where.end else None}
    out = []
    for key, pred in sql.items():
        if values[key] is not None:
            params[f"{key}{tag}"] = values[key]
            out.append(pred.format(t=tag))
    return " AND ".join(out or ["TRUE"])


def _spent_sql(where: SpendFilter, tag: str, params: dict[str, Any]) -> str:
    """A scalar SQL expression of the filter's recorded spend (units); adds its parameters."""
    if where.model is None and where.start is None and where.end is None:
        conds = _conds(where, tag, params, sid="id = %(sid{t})s", proj="working_directory = %(proj{t})s")
        return f"(SELECT COALESCE(SUM(ai_cost_units), 0) FROM sessions WHERE {conds})"
    # Whole UTC hours come from the v4 rollup (`spend_hourly`), partial edge hours from raw calls
    # (the served model is '' in the rollup where `ai_usage` has NULL; a rule's model is never '').
    conds = _conds(where, tag, params, sid="session_id = %(sid{t})s",
                   proj="session_id IN (SELECT id FROM sessions WHERE working_directory = %(proj{t})s)",
                   model="(model = %(model{t})s OR served_model = %(model{t})s)")
    parts = []
    for i, (table, lo, hi) in enumerate(hour_spans(where.start, where.end)):
        col = "hour" if table == ROLLUP else "timestamp"
        bounds = []
        for name, value, op in ((f"lo{i}{tag}", lo, ">="), (f"hi{i}{tag}", hi, "<")):
            if value is not None:
                params[name] = value
                bounds.append(f"{col} {op} %({name})s")
        parts.append(f"(SELECT COALESCE(SUM(cost_units), 0) FROM {table} WHERE {' AND '.join([conds, *bounds])})")
    return f"({' + '.join(parts)})"


def _reserved_sql(where: SpendFilter, tag: str, params: dict[str, Any]) -> str:
    """A scalar SQL expression of the filter's unexpired reservations (units; needs `%(now)s` and
    `%(exclude)s`, the caller's own lease, or -1)."""
    conds = _conds(where, tag, params, sid="session_id = %(sid{t})s", proj="project = %(proj{t})s",
                   model="model = %(model{t})s", start="created_at >= %(start{t})s", end="created_at < %(end{t})s")
    return ("(SELECT COALESCE(SUM(amount_units), 0) FROM budget_reservations WHERE expires_at > %(now)s"
            f" AND id != %(exclude)s AND {conds})")


class PgBudgetRepository(SqlReservations):
    """BudgetRepository on `budgets`, `budget_reservations`, `sessions` and `ai_usage`."""

    def __init__(self, db: PgDb) -> None:
        self._db, self._sql = db, db.portable()

    def add(self, rule: NewBudgetRule, *, at: datetime) -> BudgetRule:
        if rule.session_id is not None:
            self._db.require_session(rule.session_id)
        rows = self._db.rows(
            "INSERT INTO budgets (scope, limit_units, action, model, session_id, project, created_at)"
            f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_RULE_COLS}",
            (rule.scope.value, to_units(rule.limit), rule.action.value, rule.model, rule.session_id,
             rule.project, time_text(at)))
        return budget_rule_from_row(rows[0])

    def get(self, rule_id: int) -> BudgetRule | None:
        rows = self._db.rows(f"SELECT {_RULE_COLS} FROM budgets WHERE id = %s", (rule_id,))
        return budget_rule_from_row(rows[0]) if rows else None

    def all(self) -> list[BudgetRule]:
        # The team-budget lock (module docstring): held until this unit of work commits.
        lock = "" if self._db.read_only else " FOR UPDATE"
        return [budget_rule_from_row(r) for r in self._db.rows(f"SELECT {_RULE_COLS} FROM budgets ORDER BY id{lock}")]

    def remove(self, rule_id: int) -> bool:
        return self._db.run("DELETE FROM budgets WHERE id = %s", (rule_id,)) > 0

    def _scalar(self, sql: str, params: dict[str, Any]) -> Decimal:
        return from_units(int(self._db.rows(f"SELECT {sql} AS total", params)[0]["total"]))

    def spent(self, where: SpendFilter) -> Decimal:
        params: dict[str, Any] = {}
        return self._scalar(_spent_sql(where, "", params), params)

    def reserved(self, where: SpendFilter, *, now: datetime) -> Decimal:
        params: dict[str, Any] = {"now": time_text(now), "exclude": -1}
        return self._scalar(_reserved_sql(where, "", params), params)

    def standing(self, wheres: list[SpendFilter], *, now: datetime, with_reserved: bool = True,
                 exclude: int | None = None) -> list[tuple[Decimal, Decimal]]:
        if not wheres:
            return []
        params: dict[str, Any] = {"now": time_text(now), "exclude": -1 if exclude is None else exclude}
        cols = []
        for i, where in enumerate(wheres):
            cols.append(f"{_spent_sql(where, f'_{i}s', params)} AS s{i}")
            cols.append(f"{_reserved_sql(where, f'_{i}r', params) if with_reserved else '0'} AS r{i}")
        row = self._db.rows(f"SELECT {', '.join(cols)}", params)[0]
        return [(from_units(int(row[f"s{i}"])), from_units(int(row[f"r{i}"]))) for i in range(len(wheres))]

    def add_samples(self, samples: list[tuple[str, str, CostSample, datetime]]) -> None:
        with translate_errors(self._db.url), self._db.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO budget_samples (model, client, estimated_units, input_units, output_tokens, at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [(m, c, to_units(s.estimated_input), to_units(s.input_cost), s.output_tokens, time_text(at))
                 for m, c, s, at in samples])
            for model, client in sorted({(m, c) for m, c, _s, _at in samples}):  # keep the newest window
                cur.execute(
                    "DELETE FROM budget_samples WHERE model = %(m)s AND client = %(c)s AND id <= (SELECT id FROM"
                    " budget_samples WHERE model = %(m)s AND client = %(c)s ORDER BY id DESC LIMIT 1 OFFSET %(n)s)",
                    {"m": model, "c": client, "n": 4 * SAMPLE_WINDOW})

    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]:
        only = " AND client = %(c)s" if client is not None else ""
        rows = self._db.rows("SELECT estimated_units AS e, input_units AS i, output_tokens AS o FROM budget_samples"
                             f" WHERE model = %(m)s{only} ORDER BY id DESC LIMIT %(n)s",
                             {"m": model, "c": client, "n": n})
        return [CostSample(estimated_input=from_units(r["e"]), input_cost=from_units(r["i"]), output_tokens=r["o"])
                for r in reversed(rows)]

    def response_tokens(self, response_id: str) -> int | None:
        # The response body's id (indexed, not unique: the newest record with it answers).
        rows = self._db.rows(
            "SELECT input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens"
            " + output_tokens AS n FROM ai_usage WHERE response_id = %s ORDER BY id DESC LIMIT 1", (response_id,))
        return int(rows[0]["n"]) if rows else None


_RUNAWAY_SQL = ("SELECT (SELECT config FROM runaway_config WHERE id = 1) AS config,"
                " EXISTS (SELECT 1 FROM runaway_trips WHERE action = 'block' AND cleared_at IS NULL"
                " AND until > %s) AS open_block")


class PgFirewallProbe:
    """FirewallProbe on PostgreSQL: every answer is a fresh read (no cache), one statement each.

    SQLite's probe answers from memory until `PRAGMA data_version` says another connection
    committed; PostgreSQL has no such cheap signal across machines, so this one reads on every
    call, on one autocommit connection (a lock serialises the worker threads on it): one
    statement, one round trip per question (three per proxied request with a block rule: the
    runaway arming, the block rules, the rules version). Never a stale answer.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._conn: Any = None

    def _read(self, read: Callable[[PgDb], T]) -> T:
        from costhq.adapters.persistence.postgres.uow import _default_converter, ensure_schema

        with self._lock:
            if self._conn is None or self._conn.closed:
                ensure_schema(self._url)
                self._conn = connect(self._url)
            return read(PgDb(self._conn, _default_converter(), url=self._url, read_only=True))

    def rules_version(self) -> int:
        return self._read(lambda db: PgBudgetRepository(db).rules_version())

    def blocking_rules(self) -> bool:
        return self._read(lambda db: bool(db.rows("SELECT EXISTS (SELECT 1 FROM budgets WHERE action = 'block')"
                                                  " AS x")[0]["x"]))

    def runaway_blocking(self, now: datetime) -> bool:
        row = self._read(lambda db: db.rows(_RUNAWAY_SQL, (time_text(now),))[0])
        config = config_from_json(row["config"]) if row["config"] is not None else RunawayConfig()
        return config.action is RunawayAction.BLOCK or bool(row["open_block"])

    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]:
        return self._read(lambda db: PgBudgetRepository(db).samples(model, client, n))

    def response_tokens(self, response_id: str) -> int | None:
        return self._read(lambda db: PgBudgetRepository(db).response_tokens(response_id))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


RUNAWAY_COSTS_LOCK = 0x43734852 << 32  # + the session id (low 32 bits): pg_advisory_xact_lock key ('CsHR')


class PgRunawayRepository(SqlRunawayEvents):
    """RunawayRepository on `runaway_events`, `runaway_trips` and `runaway_config`."""

    def __init__(self, db: PgDb) -> None:
        self._db, self._sql = db, db.portable()

    def _serialise_costs(self, session_id: int) -> None:
        """A transaction-level advisory lock per session: machines adding the same session's cost
        events at once take turns, so each reads the running total the previous one committed
        (READ COMMITTED: the next statement sees it). Ids of the session's cost events then also
        follow commit order. Sessions sharing the low 32 bits only wait for each other. A unit of
        work adding costs of several sessions could take these in opposite orders; LogUsage takes
        the audit chain's lock first (its `usage.logged` entry), which already orders them."""
        self._db.run("SELECT pg_advisory_xact_lock(%s)", (RUNAWAY_COSTS_LOCK | (session_id & 0xFFFFFFFF),))

    def config(self) -> RunawayConfig:
        rows = self._db.rows("SELECT config FROM runaway_config WHERE id = 1")
        return config_from_json(rows[0]["config"]) if rows else RunawayConfig()

    def save_config(self, config: RunawayConfig) -> None:
        self._db.run("INSERT INTO runaway_config (id, config) VALUES (1, %s)"
                     " ON CONFLICT (id) DO UPDATE SET config = excluded.config", (config_to_json(config),))

    def events(self, session_id: int, *, since: datetime) -> list[ActivityEvent]:
        rows = self._db.rows("SELECT session_id, kind, key, cost_units, at FROM runaway_events"
                             " WHERE session_id = %s AND at > %s ORDER BY at, id", (session_id, time_text(since)))
        return [ActivityEvent(session_id=r["session_id"], kind=EventKind(r["kind"]), key=r["key"],
                              cost=from_units(r["cost_units"]), at=parse_time(r["at"])) for r in rows]

    def prune(self, before: datetime) -> int:
        return self._db.run("DELETE FROM runaway_events WHERE at <= %s", (time_text(before),))

    def add_trip(self, trip: Trip) -> Trip:
        rows = self._db.rows(
            "INSERT INTO runaway_trips (session_id, detector, action, message, at, until)"
            f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_TRIP_COLS}",
            (trip.session_id, trip.detector.value, trip.action.value, trip.message, time_text(trip.at),
             time_text(trip.until)))
        return trip_from_row(rows[0])

    def trips(self, *, session_id: int | None = None, open_at: datetime | None = None) -> list[Trip]:
        conds: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if session_id is not None:
            conds.append("session_id = %(sid)s")
            params["sid"] = session_id
        if open_at is not None:
            conds.append("cleared_at IS NULL AND until > %(at)s")
            params["at"] = time_text(open_at)
        rows = self._db.rows(f"SELECT {_TRIP_COLS} FROM runaway_trips WHERE {' AND '.join(conds)}"
                             " ORDER BY at DESC, id DESC", params)
        return [trip_from_row(r) for r in rows]

    def clear(self, *, session_id: int | None, at: datetime) -> int:
        # Forget the episode's events too, or the next call would trip on the same history.
        only = "" if session_id is None else " AND session_id = %(sid)s"
        self._db.run(f"DELETE FROM runaway_events WHERE TRUE{only}", {"sid": session_id})
        return self._db.run(f"UPDATE runaway_trips SET cleared_at = %(at)s WHERE cleared_at IS NULL{only}",
                            {"at": time_text(at), "sid": session_id})

