"""PostgreSQL BudgetRepository and RunawayRepository (ports of issue 4), enforced across machines.

Assumptions: runs inside a PgUnitOfWork transaction (READ COMMITTED: each statement sees what
committed before it). Team budgets never race: in a writing unit of work `all()` takes a row
lock (SELECT ... FOR UPDATE) on every budget rule, and the firewall reads the rules before it
sums spend and reserves. A second machine checking the same rules waits for the first one's
commit, then its sums include the first one's reservation or call: "sum, compare, insert" is
atomic across machines, never a read-then-write race. The budget statements are shared with
SQLite (persistence/sql/budgets.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.adapters.persistence.postgres.db import PgDb, connect
from costhq.adapters.persistence.rows import (
    RULE_COLUMNS,
    budget_rule_from_row,
    config_from_json,
    config_to_json,
    trip_from_row,
)
from costhq.adapters.persistence.sql.budgets import SqlBudgets
from costhq.adapters.persistence.sql.runaway import SqlRunawayEvents
from costhq.domain.budgets import BudgetRule
from costhq.domain.estimates import CostSample
from costhq.domain.money import from_units
from costhq.domain.runaway import ActivityEvent, EventKind, RunawayAction, RunawayConfig, Trip

T = TypeVar("T")

_TRIP_COLS = "id, session_id, detector, action, message, at, until, cleared_at"


class PgBudgetRepository(SqlBudgets):
    """BudgetRepository on PostgreSQL (persistence/sql/budgets.py); `all` locks the rules it reads."""

    def __init__(self, db: PgDb) -> None:
        self._db, self._sql = db, db.portable()

    def all(self) -> list[BudgetRule]:
        # The team-budget lock (module docstring): held until this unit of work commits.
        lock = "" if self._db.read_only else " FOR UPDATE"
        rows = self._db.rows(f"SELECT {RULE_COLUMNS} FROM budgets ORDER BY id{lock}")
        return [budget_rule_from_row(r) for r in rows]


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

