"""BudgetRepository on both SQL back ends (ports of issues 4 and 14): rules, spend sums, reservations,
learned samples. The statements are the same on SQLite and PostgreSQL (see the package doc); what
differs stays in the back end's subclass: PostgreSQL locks the rules it reads in a writing unit of
work (`all`, postgres/firewall.py).

Spend sums are one SQL statement: the denormalised session totals where possible (a scope with no
model and no window), else the hourly rollup (`spend_hourly`) for whole UTC hours plus indexed
`ai_usage` ranges for the partial edge hours. Only the predicates a filter needs are emitted:
`(:x IS NULL OR col = :x)` would stop SQLite from using its indexes. Money is integer 1e-10 USD.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.rows import RULE_COLUMNS, budget_rule_from_row
from costhq.adapters.persistence.sql.reservations import SqlReservations
from costhq.adapters.persistence.sql.rollup import ROLLUP, hour_spans
from costhq.domain.budgets import BudgetRule, NewBudgetRule, SpendFilter
from costhq.domain.errors import SessionNotFound
from costhq.domain.estimates import SAMPLE_WINDOW, CostSample
from costhq.domain.money import from_units, to_units


def _conds(where: SpendFilter, tag: str, params: dict[str, Any], **sql: str) -> str:
    """AND of the predicates whose filter field is set (keys: sid, proj, model, start, end), their
    parameters added to `params`; `{t}` in a predicate is the parameter-name tag, so several filters
    share one statement."""
    values = {"sid": where.session_id, "proj": where.project, "model": where.model,
              "start": time_text(where.start) if where.start else None,
              "end": time_text(where.end) if where.end else None}
    out = []
    for key, pred in sql.items():
        if values[key] is not None:
            params[f"{key}{tag}"] = values[key]
            out.append(pred.format(t=tag))
    return " AND ".join(out or ["1 = 1"])


def spent_sql(where: SpendFilter, tag: str, params: dict[str, Any]) -> str:
    """A scalar SQL expression of the filter's recorded spend (units); adds its parameters."""
    if where.model is None and where.start is None and where.end is None:
        conds = _conds(where, tag, params, sid="id = :sid{t}", proj="working_directory = :proj{t}")
        return f"(SELECT COALESCE(SUM(ai_cost_units), 0) FROM sessions WHERE {conds})"
    # The rollup's served model is '' where `ai_usage` has NULL; a rule's model is never ''.
    conds = _conds(where, tag, params, sid="session_id = :sid{t}",
                   proj="session_id IN (SELECT id FROM sessions WHERE working_directory = :proj{t})",
                   model="(model = :model{t} OR served_model = :model{t})")
    parts = []
    for i, (table, lo, hi) in enumerate(hour_spans(where.start, where.end)):
        col = "hour" if table == ROLLUP else "timestamp"
        bounds = []
        for name, value, op in ((f"lo{i}{tag}", lo, ">="), (f"hi{i}{tag}", hi, "<")):
            if value is not None:
                params[name] = value
                bounds.append(f"{col} {op} :{name}")
        parts.append(f"(SELECT COALESCE(SUM(cost_units), 0) FROM {table} WHERE {' AND '.join([conds, *bounds])})")
    return f"({' + '.join(parts)})"


def reserved_sql(where: SpendFilter, tag: str, params: dict[str, Any]) -> str:
    """A scalar SQL expression of the filter's unexpired reservations (units; needs `:now` and
    `:exclude`, the caller's own lease, or -1)."""
    conds = _conds(where, tag, params, sid="session_id = :sid{t}", proj="project = :proj{t}",
                   model="model = :model{t}", start="created_at >= :start{t}", end="created_at < :end{t}")
    return f"(SELECT COALESCE(SUM(amount_units), 0) FROM budget_reservations WHERE expires_at > :now" \
           f" AND id != :exclude AND {conds})"


class SqlBudgets(SqlReservations):
    """BudgetRepository on `budgets`, `budget_reservations`, `budget_samples`, `sessions`, `ai_usage`
    and `spend_hourly`; a back end sets `_sql`, its `SqlDb`."""

    def add(self, rule: NewBudgetRule, *, at: datetime) -> BudgetRule:
        if rule.session_id is not None and not self._sql.rows("SELECT id AS id FROM sessions WHERE id = ?",
                                                                (rule.session_id,)):
            raise SessionNotFound(f"Session {rule.session_id} not found", session_id=rule.session_id)
        rid = self._sql.insert(
            "INSERT INTO budgets (scope, limit_units, action, model, session_id, project, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rule.scope.value, to_units(rule.limit), rule.action.value, rule.model, rule.session_id,
             rule.project, time_text(at)))
        found = self.get(rid)
        assert found is not None
        return found

    def get(self, rule_id: int) -> BudgetRule | None:
        rows = self._sql.rows(f"SELECT {RULE_COLUMNS} FROM budgets WHERE id = ?", (rule_id,))
        return budget_rule_from_row(rows[0]) if rows else None

    def all(self) -> list[BudgetRule]:
        return [budget_rule_from_row(r) for r in self._sql.rows(f"SELECT {RULE_COLUMNS} FROM budgets ORDER BY id")]

    def remove(self, rule_id: int) -> bool:
        return self._sql.run("DELETE FROM budgets WHERE id = ?", (rule_id,)) > 0

    def _scalar(self, expression: str, params: dict[str, Any]) -> Decimal:
        return from_units(int(self._sql.rows(f"SELECT {expression} AS total", params)[0]["total"] or 0))

    def spent(self, where: SpendFilter) -> Decimal:
        params: dict[str, Any] = {}
        return self._scalar(spent_sql(where, "", params), params)

    def reserved(self, where: SpendFilter, *, now: datetime) -> Decimal:
        params: dict[str, Any] = {"now": time_text(now), "exclude": -1}
        return self._scalar(reserved_sql(where, "", params), params)

    def standing(self, wheres: list[SpendFilter], *, now: datetime, with_reserved: bool = True,
                 exclude: int | None = None) -> list[tuple[Decimal, Decimal]]:
        if not wheres:
            return []
        # Every rule in ONE statement: a lease renewal evaluates all rules at once, and each
        # statement costs more than the few index reads it does.
        params: dict[str, Any] = {"now": time_text(now), "exclude": -1 if exclude is None else exclude}
        cols = []
        for i, where in enumerate(wheres):
            cols.append(f"{spent_sql(where, f'_{i}s', params)} AS s{i}")
            cols.append(f"{reserved_sql(where, f'_{i}r', params) if with_reserved else '0'} AS r{i}")
        row = self._sql.rows(f"SELECT {', '.join(cols)}", params)[0]
        return [(from_units(int(row[f"s{i}"])), from_units(int(row[f"r{i}"]))) for i in range(len(wheres))]

    def add_samples(self, samples: list[tuple[str, str, CostSample, datetime]]) -> None:
        for m, c, s, at in samples:
            self._sql.run(
                "INSERT INTO budget_samples (model, client, estimated_units, input_units, output_tokens, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (m, c, to_units(s.estimated_input), to_units(s.input_cost), s.output_tokens, time_text(at)))
        for model, client in sorted({(m, c) for m, c, _s, _at in samples}):  # keep the newest window of each
            self._sql.run(
                "DELETE FROM budget_samples WHERE model = :m AND client = :c AND id <= (SELECT id FROM"
                " budget_samples WHERE model = :m AND client = :c ORDER BY id DESC LIMIT 1 OFFSET :n)",
                {"m": model, "c": client, "n": 4 * SAMPLE_WINDOW})

    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]:
        only = " AND client = :c" if client is not None else ""
        rows = self._sql.rows("SELECT estimated_units AS e, input_units AS i, output_tokens AS o FROM budget_samples"
                              f" WHERE model = :m{only} ORDER BY id DESC LIMIT :n", {"m": model, "c": client, "n": n})
        return [CostSample(estimated_input=from_units(r["e"]), input_cost=from_units(r["i"]), output_tokens=r["o"])
                for r in reversed(rows)]

    def response_tokens(self, response_id: str) -> int | None:
        # The response body's id (indexed, not unique: the newest record with it answers).
        rows = self._sql.rows(
            "SELECT input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens"
            " + output_tokens AS n FROM ai_usage WHERE response_id = ? ORDER BY id DESC LIMIT 1", (response_id,))
        return int(rows[0]["n"]) if rows else None
