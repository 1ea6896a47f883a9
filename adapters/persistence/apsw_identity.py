"""The identity look-ups of ApswUsageRepository (port: UsageRepository.identities / add_alias).

Assumptions: schema v8 (identity_schema.py). One statement finds every candidate record of a
batch (by upstream request id, by response id, and by fingerprint through `json_each` joins on
the time index or the partial index of id-less imports), one finds stored keys, one the origins
the candidates absorbed: three indexed reads per batch, whatever its size.
"""

from __future__ import annotations

import json
from typing import Any

from costhq.adapters.persistence.apsw_db import Db
from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.domain.identity import FINGERPRINT_WINDOW, Known, Sighting, StoredIdentities
from costhq.domain.usage import Origin, TokenCounts

_COLS = ("u.id AS id, u.origin AS origin, u.provider AS provider, u.call_key AS call_key,"
         " u.upstream_request_id AS rid, u.response_id AS resp, u.input_tokens AS input,"
         " u.cache_read_tokens AS cache_read, u.cache_write_5m_tokens AS w5, u.cache_write_1h_tokens AS w1h,"
         " u.output_tokens AS output, u.reasoning_tokens AS reasoning, u.timestamp AS ts")
_PRINT_JOIN = (" FROM json_each(:{name}) j CROSS JOIN ai_usage u ON u.provider = j.value ->> 0"
               " AND u.input_tokens = j.value ->> 1 AND u.cache_read_tokens = j.value ->> 2"
               " AND u.cache_write_5m_tokens = j.value ->> 3 AND u.cache_write_1h_tokens = j.value ->> 4"
               " AND u.output_tokens = j.value ->> 5 AND u.reasoning_tokens = j.value ->> 6"
               " AND u.timestamp BETWEEN j.value ->> 7 AND j.value ->> 8")
_CANDIDATES = (
    f"SELECT {_COLS} FROM ai_usage u WHERE u.upstream_request_id IN (SELECT value FROM json_each(:rids))"
    f" UNION SELECT {_COLS} FROM ai_usage u WHERE u.response_id IN (SELECT value FROM json_each(:resps))"
    # an id-less import meets a record of another origin by fingerprint, and the other way round
    f" UNION SELECT {_COLS}{_PRINT_JOIN.format(name='idless')} WHERE u.origin IN ('proxy', 'library')"
    " AND u.call_key IS NOT NULL"
    f" UNION SELECT {_COLS}{_PRINT_JOIN.format(name='prints')} WHERE u.origin = 'import'"
    " AND u.upstream_request_id IS NULL AND u.response_id IS NULL")
_KEYS = ("SELECT call_key AS k, id AS id FROM ai_usage WHERE call_key IN (SELECT value FROM json_each(:keys))"
         " UNION ALL SELECT call_key, usage_id FROM ai_usage_aliases"
         " WHERE call_key IN (SELECT value FROM json_each(:keys))")


def _fingerprint(p: Sighting) -> list[Any]:
    t, at = p.tokens, p.timestamp
    assert at is not None
    return [p.provider, t.input, t.cache_read, t.cache_write_5m, t.cache_write_1h, t.output, t.reasoning,
            time_text(at - FINGERPRINT_WINDOW), time_text(at + FINGERPRINT_WINDOW)]


def _sighting(row: dict[str, Any]) -> Sighting:
    return Sighting(
        origin=Origin(row["origin"]), provider=row["provider"], call_key=row["call_key"],
        upstream_request_id=row["rid"], response_id=row["resp"], timestamp=parse_time(row["ts"]),
        tokens=TokenCounts(input=row["input"], cache_read=row["cache_read"], cache_write_5m=row["w5"],
                           cache_write_1h=row["w1h"], output=row["output"], reasoning=row["reasoning"]))


def stored_identities(db: Db, probes: list[Sighting]) -> StoredIdentities:
    """UsageRepository.identities on SQLite."""
    printable = [p for p in probes if not p.tokens.is_empty and p.timestamp is not None]
    params = {
        "rids": json.dumps(sorted({p.upstream_request_id for p in probes if p.upstream_request_id})),
        "resps": json.dumps(sorted({p.response_id for p in probes if p.response_id})),
        "idless": json.dumps([_fingerprint(p) for p in printable if p.idless_import]),
        "prints": json.dumps([_fingerprint(p) for p in printable if p.capture]),
        "keys": json.dumps(sorted({p.call_key for p in probes if p.call_key})),
    }
    keys = {r["k"]: r["id"] for r in db.rows(_KEYS, {"keys": params["keys"]})} if params["keys"] != "[]" else {}
    rows = db.rows(_CANDIDATES, {k: params[k] for k in ("rids", "resps", "idless", "prints")})
    claimed: dict[int, set[Origin]] = {}
    if rows:
        ids = json.dumps([r["id"] for r in rows])
        for r in db.rows("SELECT usage_id AS id, origin AS origin FROM ai_usage_aliases"
                         " WHERE usage_id IN (SELECT value FROM json_each(?))", (ids,)):
            claimed.setdefault(r["id"], set()).add(Origin(r["origin"]))
    known = [Known(usage_id=r["id"], sighting=_sighting(r), claimed=frozenset(claimed.get(r["id"], ())))
             for r in rows]
    return StoredIdentities(known=known, keys=keys)


def add_alias(db: Db, call_key: str, usage_id: int, origin: Origin) -> None:
    """UsageRepository.add_alias on SQLite (a Conflict when the key is already an alias)."""
    db.run("INSERT INTO ai_usage_aliases (call_key, usage_id, origin) VALUES (?, ?, ?)",
           (call_key, usage_id, origin.value))
