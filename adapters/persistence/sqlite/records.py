"""APSW UsageRepository and ActivityRepository (ports: UsageRepository, ActivityRepository).

Assumptions: runs inside an ApswUnitOfWork transaction; each add is one SAVEPOINT that
inserts the row and bumps the owning session's denormalised totals by integer increments,
so a failed call leaves nothing half-done (a stored `call_key` is a Conflict). Duplicate file
changes / commits are skipped. Identity look-ups live in sqlite/identity.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TypeVar

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.rows import USAGE_COLUMNS, USAGE_FIELDS
from costhq.adapters.persistence.sql.activity import SqlActivity
from costhq.adapters.persistence.sqlite.db import TOUCH, Db
from costhq.adapters.persistence.sqlite.identity import add_alias, stored_identities
from costhq.adapters.persistence.sqlite.transaction import translate_errors
from costhq.domain.errors import SessionNotFound
from costhq.domain.identity import Sighting, StoredIdentities
from costhq.domain.money import to_units
from costhq.domain.usage import Origin, UsageRecord

T = TypeVar("T")
_INSERT = f"INSERT INTO ai_usage ({', '.join(USAGE_FIELDS)}) VALUES ({', '.join(f':{f}' for f in USAGE_FIELDS)})"
_INSERT_POSITIONAL = f"INSERT INTO ai_usage ({', '.join(USAGE_FIELDS)}) VALUES ({', '.join('?' * len(USAGE_FIELDS))})"


def _bulk_rows(records: list[UsageRecord]) -> Iterator[tuple[Any, ...]]:
    """USAGE_FIELDS-ordered tuples, the same values as the converter's `_unstructure_usage` (the
    contract suite checks), without its per-record dict; a batch shares a few rate tables, so
    their JSON is rendered once each."""
    rates_json: dict[tuple[Any, ...], str] = {}
    for r in records:
        t, key = r.tokens, tuple(r.rates.items())
        rates = rates_json.get(key)
        if rates is None:
            rates = rates_json[key] = json.dumps({k: str(v) for k, v in r.rates.items()}, sort_keys=True)
        yield (r.session_id, r.provider, r.model, r.served_model, t.input, t.cache_read, t.cache_write_5m,
               t.cache_write_1h, t.output, t.reasoning, r.total_tokens, None if r.cost is None else to_units(r.cost),
               r.price_source.value, rates, r.origin.value, r.agent, r.request_id, r.duration_ms, int(r.stream),
               int(r.partial), int(r.error), time_text(r.timestamp), r.call_key, r.upstream_request_id,
               r.response_id, int(r.usage_missing), int(r.input_estimated))

class ApswUsageRepository:
    """UsageRepository on `ai_usage`; each add bumps the session's totals in the same transaction."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, record: UsageRecord) -> UsageRecord:
        params = self._db.conv.unstructure(record)
        with self._db.savepoint():
            # The totals UPDATE doubles as the existence check (no separate SELECT): 0 rows -> not found.
            if not self._db.run(
                "UPDATE sessions SET ai_cost_units = ai_cost_units + COALESCE(:units, 0),"
                " ai_tokens = ai_tokens + :tokens, ai_calls = ai_calls + 1,"
                f" unpriced_calls = unpriced_calls + (:units IS NULL), {TOUCH} WHERE id = :id",
                {"units": params["cost_units"], "tokens": record.total_tokens, "at": params["timestamp"],
                 "id": record.session_id},
            ):
                raise SessionNotFound(f"Session {record.session_id} not found", session_id=record.session_id)
            uid = self._db.insert(_INSERT, params)
        # The stored row is exactly `params` plus its id (no trigger rewrites ai_usage rows), so
        # it is structured from them instead of read back; the contract suite compares with a read.
        return self._db.conv.structure({**params, "id": uid}, UsageRecord)

    def for_session(self, session_id: int) -> list[UsageRecord]:
        return self._db.many(
            f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE session_id = ? ORDER BY timestamp, id",
            (session_id,),
            UsageRecord,
        )

    def get(self, usage_id: int) -> UsageRecord | None:
        return self._db.one(f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE id = ?", (usage_id,), UsageRecord)

    def identities(self, probes: list[Sighting]) -> StoredIdentities:
        return stored_identities(self._db, probes)

    def add_alias(self, call_key: str, usage_id: int, origin: Origin) -> None:
        add_alias(self._db, call_key, usage_id, origin)

    def add_many(self, records: list[UsageRecord]) -> int:
        # Imports: one prepared INSERT run by executemany, then one totals UPDATE per session
        # (not per call), and no read-back: ~5x fewer statements than `add` in a loop.
        params = list(_bulk_rows(records))
        totals: dict[int, list[Any]] = {}
        for p in params:
            t = totals.setdefault(p[0], [0, 0, 0, 0, ""])
            units = p[11]
            t[0] += units or 0
            t[1] += p[10]
            t[2] += 1
            t[3] += units is None
            t[4] = max(t[4], p[21])
        with self._db.savepoint():
            for sid in totals:
                self._db.require_session(sid)
            with translate_errors():
                self._db.conn.executemany(_INSERT_POSITIONAL, params)
                self._db.conn.executemany(
                    "UPDATE sessions SET ai_cost_units = ai_cost_units + ?, ai_tokens = ai_tokens + ?,"
                    " ai_calls = ai_calls + ?, unpriced_calls = unpriced_calls + ?,"
                    " last_activity = MAX(COALESCE(last_activity, ''), ?) WHERE id = ?",
                    [(*t, sid) for sid, t in totals.items()])
        return len(records)


class ApswActivityRepository(SqlActivity):
    """ActivityRepository on `file_changes`, `commits` and `annotations` (persistence/sql/activity.py)."""
