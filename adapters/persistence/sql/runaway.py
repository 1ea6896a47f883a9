"""The runaway detectors' event writes and window reads on both SQL back ends (written once, see
the package doc); each back end's repository adds its serialisation of a session's cost events.

Rules (the cost of `window_facts` must not grow with the window's event count):
- velocity: a cost event stores `cum_units`, the running total of its session's cost events in
  `(at, id)` order up to and including itself. For consecutive cost events a < b of a session
  `cum(b) = cum(a) + cost(b)`, so the spend over `(lo, now]` is cum(last event at <= now) minus
  cum(first event at > lo) plus that event's cost: two index seeks (0 when the window is empty:
  the two events are then neighbours). Only differences matter, so deleting a session's oldest
  events (`prune`) or all of them (`clear`, Start Fresh) keeps it exact.
  A new event continues its predecessor's total (or its successor's, minus that one's cost);
  a back-dated one (older than the session's newest) also adds its cost to every later event.
- identical / churn: the newest key's count only decides `count >= threshold`, so it is counted
  with `LIMIT threshold` and counted in full only when it reaches the threshold (the trip's
  message shows the exact figure); below it the capped count is the exact one.
- loop: the last `2 * loop_repeats` calls, newest first by `(at, id)`.
- `skip`: detectors with an open trip are not computed (their fields keep the WindowFacts defaults).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.sql import SqlDb
from costhq.domain.money import from_units, to_units
from costhq.domain.runaway import ActivityEvent, Detector, EventKind, RunawayConfig, WindowFacts


def _hint(dialect: str, index: str) -> str:
    # SQLite only: left alone, its planner walks (session_id, at) backwards past every other kind.
    return f" INDEXED BY {index}" if dialect == "sqlite" else ""


def _cost_seek(dialect: str, column: str, where: str, order: str) -> str:
    """One cost event of the session, first in `order`, by the `(session_id, at, id)` cost index."""
    return (f"SELECT {column} FROM runaway_events{_hint(dialect, 'runaway_events_cum')}"
            f" WHERE session_id = :sid AND kind = 'cost' AND {where} ORDER BY {order} LIMIT 1")


def _running_total(dialect: str, where: str, *, newest: bool) -> str:
    """`cum_units` of the newest event matching `where`, or the total just before the oldest one."""
    if newest:
        return _cost_seek(dialect, "cum_units", where, "at DESC, id DESC")
    return _cost_seek(dialect, "cum_units - cost_units", where, "at, id")


def _in(kind: str, detector: Detector) -> str:
    return f"session_id = :sid AND kind = '{kind}' AND at > :lo_{detector.value} AND at <= :now"


def _newest_key(dialect: str, kind: str, detector: Detector, extra: str = "") -> str:
    return (f"SELECT key FROM runaway_events{_hint(dialect, 'runaway_events_kind_time')}"
            f" WHERE {_in(kind, detector)}{extra} ORDER BY at DESC, id DESC")


def _capped_count(kind: str, detector: Detector, key: str, cap: str) -> str:
    """How often `key` occurs in the window: exact below `:cap`, and counted in full from it."""
    match = f"FROM runaway_events WHERE {_in(kind, detector)} AND key = ({key})"
    return (f"(SELECT CASE WHEN n < :{cap} THEN n ELSE (SELECT COUNT(*) {match}) END"
            f" FROM (SELECT COUNT(*) AS n FROM (SELECT 1 AS one {match} LIMIT :{cap}) AS capped) AS m)")


@functools.lru_cache(maxsize=64)
def _facts_sql(dialect: str, skip: frozenset[Detector]) -> str | None:
    cols = []
    if Detector.VELOCITY not in skip:
        spent = (f"({_running_total(dialect, 'at <= :now', newest=True)})"
                 f" - ({_running_total(dialect, 'at > :lo_velocity', newest=False)})")
        cols.append(f"COALESCE({spent}, 0) AS spent")
    for detector, kind, extra, name, cap in ((Detector.IDENTICAL, "call", " AND key != ''", "repeated", "k"),
                                             (Detector.CHURN, "file", "", "churned", "churn_n")):
        if detector not in skip:
            key = _newest_key(dialect, kind, detector, extra) + " LIMIT 1"
            cols.append(f"({key}) AS {name}")
            cols.append(f"{_capped_count(kind, detector, key, cap)} AS {name}_n")
    return f"SELECT {', '.join(cols)}" if cols else None


@functools.lru_cache(maxsize=4)
def _tail_sql(dialect: str) -> str:
    return _newest_key(dialect, "call", Detector.LOOP) + " LIMIT :n"


@functools.lru_cache(maxsize=4)
def _add_cost_sql(dialect: str) -> tuple[str, str]:
    """Insert a cost event with its running total; then shift the later ones (back-dated only)."""
    before = _running_total(dialect, "at <= :at", newest=True)
    after = _running_total(dialect, "at > :at", newest=False)
    insert = ("INSERT INTO runaway_events (session_id, kind, key, cost_units, at, cum_units)"
              f" VALUES (:sid, 'cost', :key, :cost, :at, :cost + COALESCE(({before}), ({after}), 0))")
    shift = ("UPDATE runaway_events SET cum_units = cum_units + :cost"
             " WHERE session_id = :sid AND kind = 'cost' AND at > :at")
    return insert, shift


class SqlRunawayEvents:
    """`add_event` and `window_facts` of RunawayRepository; `_serialise_costs` is the back end's."""

    _sql: SqlDb

    def _serialise_costs(self, session_id: int) -> None:
        """Hold, until the transaction ends, the right to add `session_id`'s cost events."""
        raise NotImplementedError

    def add_event(self, event: ActivityEvent) -> None:
        params = {"sid": event.session_id, "kind": event.kind.value, "key": event.key, "cost": to_units(event.cost),
                  "at": time_text(event.at)}
        if event.kind is not EventKind.COST:
            self._sql.run("INSERT INTO runaway_events (session_id, kind, key, cost_units, at)"
                          " VALUES (:sid, :kind, :key, :cost, :at)", params)
            return
        # Reading the neighbour's total and inserting must not interleave with another writer's.
        self._serialise_costs(event.session_id)
        insert, shift = _add_cost_sql(self._sql.dialect)
        self._sql.run(insert, params)
        if params["cost"]:
            self._sql.run(shift, params)  # an index seek that finds nothing unless back-dated

    def window_facts(self, session_id: int, config: RunawayConfig, *, now: datetime,
                     skip: frozenset[Detector] = frozenset()) -> WindowFacts:
        params: dict[str, Any] = {
            "sid": session_id, "now": time_text(now), "k": config.identical_k, "churn_n": config.churn_n,
            "n": 2 * config.loop_repeats, **{f"lo_{d.value}": time_text(now - config.window_of(d)) for d in Detector}}
        facts: dict[str, Any] = {}
        sql = _facts_sql(self._sql.dialect, skip)
        if sql is not None:
            row = self._sql.rows(sql, params)[0]
            if "spent" in row:
                facts["spent"] = from_units(int(row["spent"]))
            for name in ("repeated", "churned"):
                if row.get(name) is not None:
                    facts[name] = (row[name], int(row[f"{name}_n"]))
        if Detector.LOOP not in skip:
            tail = self._sql.rows(_tail_sql(self._sql.dialect), params)
            facts["recent_calls"] = tuple(r["key"] for r in reversed(tail))
        return WindowFacts(**facts)
