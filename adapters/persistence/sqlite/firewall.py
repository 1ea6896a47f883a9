"""APSW BudgetRepository (port of issues 4 and 14) and the firewall's request-path probe.

Assumptions: runs inside an ApswUnitOfWork IMMEDIATE transaction, so a reservation's (or a
lease's) "sum, compare, write" is atomic across processes. Spend sums are SQL aggregates on
denormalised session totals where possible (total/session/project without a model) and on
indexed `ai_usage` ranges otherwise; money is INTEGER 1e-10 USD. `ApswFirewallProbe` answers
the request path's reads on one persistent connection (see its docstring).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from costhq.adapters.persistence.converter import RowConverter, parse_time, time_text
from costhq.adapters.persistence.rows import RULE_COLUMNS, budget_rule_from_row, config_from_json
from costhq.adapters.persistence.sql.reservations import SqlReservations
from costhq.adapters.persistence.sql.rollup import hour_spans
from costhq.adapters.persistence.sqlite.connection import DataVersion, open_connection
from costhq.adapters.persistence.sqlite.db import Db
from costhq.adapters.persistence.sqlite.transaction import translate_errors
from costhq.domain.budgets import BudgetRule, NewBudgetRule, SpendFilter
from costhq.domain.estimates import SAMPLE_WINDOW, CostSample
from costhq.domain.money import from_units, to_units
from costhq.domain.runaway import RunawayAction


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
    for i, (table, lo, hi) in enumerate(hour_spans(where.start, where.end)):
        col = "hour" if table == "spend_hourly" else "timestamp"
        params[f"lo{i}{tag}"], params[f"hi{i}{tag}"] = lo, hi
        bounds = [f"{col} >= :lo{i}{tag}" if lo else "", f"{col} < :hi{i}{tag}" if hi else ""]
        where_sql = " AND ".join([conds, *[b for b in bounds if b]])
        parts.append(f"(SELECT COALESCE(SUM(cost_units), 0) FROM {table} WHERE {where_sql})")
    return f"({' + '.join(parts)})"


def _reserved_sql(where: SpendFilter, tag: str, params: dict[str, Any]) -> str:
    """A scalar SQL expression of the filter's unexpired reservations (units; needs `:now` and
    `:exclude`, the caller's own lease, or -1)."""
    params.update(_params(where, tag))
    conds = _conds(where, tag, sid="session_id = :sid{t}", proj="project = :proj{t}", model="model = :model{t}",
                   start="created_at >= :start{t}", end="created_at < :end{t}")
    return ("(SELECT COALESCE(SUM(amount_units), 0) FROM budget_reservations WHERE expires_at > :now"
            f" AND id != :exclude AND {conds})")


class ApswBudgetRepository(SqlReservations):
    """BudgetRepository on `budgets`, `budget_reservations`, `sessions` and `ai_usage`."""

    def __init__(self, db: Db) -> None:
        self._db, self._sql = db, db.portable()

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
        rows = self._db.rows(f"SELECT {RULE_COLUMNS} FROM budgets WHERE id = ?", (rule_id,))
        return budget_rule_from_row(rows[0]) if rows else None

    def all(self) -> list[BudgetRule]:
        return [budget_rule_from_row(r) for r in self._db.rows(f"SELECT {RULE_COLUMNS} FROM budgets ORDER BY id")]

    def remove(self, rule_id: int) -> bool:
        return self._db.run("DELETE FROM budgets WHERE id = ?", (rule_id,)) > 0

    def spent(self, where: SpendFilter) -> Decimal:
        params: dict[str, Any] = {}
        return _sum(self._db, f"SELECT {_spent_sql(where, '', params)} AS total", params)

    def reserved(self, where: SpendFilter, *, now: datetime) -> Decimal:
        params: dict[str, Any] = {"now": time_text(now), "exclude": -1}
        return _sum(self._db, f"SELECT {_reserved_sql(where, '', params)} AS total", params)

    def standing(self, wheres: list[SpendFilter], *, now: datetime, with_reserved: bool = True,
                 exclude: int | None = None) -> list[tuple[Decimal, Decimal]]:
        if not wheres:
            return []
        # Every rule in ONE statement: a lease renewal evaluates all rules at once, and each
        # statement costs more than the few index reads it does.
        params: dict[str, Any] = {"now": time_text(now), "exclude": -1 if exclude is None else exclude}
        cols = []
        for i, where in enumerate(wheres):
            cols.append(_spent_sql(where, f"_{i}s", params))
            cols.append(_reserved_sql(where, f"_{i}r", params) if with_reserved else "0")
        with translate_errors():
            row = self._db.conn.execute(f"SELECT {', '.join(cols)}", params).fetchall()[0]
        return [(from_units(row[2 * i]), from_units(row[2 * i + 1])) for i in range(len(wheres))]

    def add_samples(self, samples: list[tuple[str, str, CostSample, datetime]]) -> None:
        with translate_errors():
            self._db.conn.executemany(
                "INSERT INTO budget_samples (model, client, estimated_units, input_units, output_tokens, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(m, c, to_units(s.estimated_input), to_units(s.input_cost), s.output_tokens, time_text(at))
                 for m, c, s, at in samples])
            for model, client in {(m, c) for m, c, _s, _at in samples}:  # keep the newest window of each pair
                self._db.conn.execute(
                    "DELETE FROM budget_samples WHERE model = ?1 AND client = ?2 AND id <= (SELECT id FROM"
                    " budget_samples WHERE model = ?1 AND client = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3)",
                    (model, client, 4 * SAMPLE_WINDOW))

    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]:
        rows = self._db.rows(
            "SELECT estimated_units AS e, input_units AS i, output_tokens AS o FROM budget_samples"
            f" WHERE model = ? {'AND client = ?' if client is not None else ''} ORDER BY id DESC LIMIT ?",
            (model, client, n) if client is not None else (model, n))
        return [CostSample(estimated_input=from_units(r["e"]), input_cost=from_units(r["i"]), output_tokens=r["o"])
                for r in reversed(rows)]

    def response_tokens(self, response_id: str) -> int | None:
        # The response body's id (indexed, not unique: the newest record with it answers).
        rows = self._db.rows(
            "SELECT input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens"
            " + output_tokens AS n FROM ai_usage WHERE response_id = ? ORDER BY id DESC LIMIT 1", (response_id,))
        return int(rows[0]["n"]) if rows else None


class ApswFirewallProbe:
    """FirewallProbe on one persistent read connection (autocommit reads, never the write lock).

    The rules version and the runaway arming are answered from memory until `version` (a
    `DataVersion`, shared with the proxy's other request-path caches) says another connection
    committed (or an open block trip's end passes); samples and response look-ups read each time.
    A lock serialises the worker threads on the connection.
    """

    def __init__(self, db_path: str) -> None:
        self._path = str(db_path)
        self.version = DataVersion(self._path)
        self._lock = threading.Lock()
        self._db: Db | None = None
        self._seen: int | None = None
        self._rules, self._any = 0, True
        self._blocking, self._until = False, None  # type: tuple[bool, datetime | None]

    def _repo(self) -> tuple[Db, ApswBudgetRepository]:
        if self._db is None:
            self._db = Db(open_connection(self._path), RowConverter())
        return self._db, ApswBudgetRepository(self._db)

    def _refresh(self, now: datetime) -> None:
        seen = self.version()  # before the read: a commit in between only costs one more read
        db, _repo = self._repo()
        if seen == self._seen and (self._until is None or now < self._until):
            return
        # One statement (one snapshot): after every commit of the recorder this re-reads (issue 15).
        rules, any_block, config, until = db.conn.execute(
            "SELECT (SELECT rules FROM firewall_version WHERE id = 1),"
            " EXISTS (SELECT 1 FROM budgets WHERE action = 'block'),"
            " (SELECT config FROM runaway_config WHERE id = 1),"
            " (SELECT MIN(until) FROM runaway_trips WHERE action = 'block' AND cleared_at IS NULL AND until > ?)",
            (time_text(now),)).get
        self._rules, self._any = int(rules), bool(any_block)
        self._until = parse_time(until) if until is not None else None
        self._blocking = (config is not None and config_from_json(config).action is RunawayAction.BLOCK) \
            or self._until is not None
        self._seen = seen

    def rules_version(self) -> int:
        with self._lock, translate_errors():
            self._refresh(datetime.now(UTC))
            return self._rules

    def blocking_rules(self) -> bool:
        with self._lock, translate_errors():
            self._refresh(datetime.now(UTC))
            return self._any

    def runaway_blocking(self, now: datetime) -> bool:
        with self._lock, translate_errors():
            self._refresh(now)
            return self._blocking

    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]:
        with self._lock:
            return self._repo()[1].samples(model, client, n)

    def response_tokens(self, response_id: str) -> int | None:
        with self._lock:
            return self._repo()[1].response_tokens(response_id)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.conn.close()
                self._db = None
        self.version.close()


