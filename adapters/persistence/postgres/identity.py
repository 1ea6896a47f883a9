"""The identity look-ups of PgUsageRepository (port: UsageRepository.identities), as on SQLite.

Assumptions: schema v2 (schema.py, SQLite's step 8). One statement finds every candidate record
of a batch (by upstream request id, by response id, and by fingerprint through joins of
`jsonb_array_elements` on the time index or the partial index of id-less imports), one finds
stored keys, one the origins the candidates absorbed: three indexed reads per batch.
"""

from __future__ import annotations

import json
from typing import Any

from costhq.adapters.persistence.postgres.db import PgDb
from costhq.adapters.persistence.rows import IDENTITY_COLUMNS, fingerprint_params, sighting_from_row
from costhq.domain.identity import Known, Sighting, StoredIdentities
from costhq.domain.usage import Origin

_PRINT_JOIN = (" FROM jsonb_array_elements(%({name})s::jsonb) j CROSS JOIN ai_usage u"
               " WHERE u.provider = j.value ->> 0"
               " AND u.input_tokens = (j.value ->> 1)::bigint AND u.cache_read_tokens = (j.value ->> 2)::bigint"
               " AND u.cache_write_5m_tokens = (j.value ->> 3)::bigint"
               " AND u.cache_write_1h_tokens = (j.value ->> 4)::bigint"
               " AND u.output_tokens = (j.value ->> 5)::bigint AND u.reasoning_tokens = (j.value ->> 6)::bigint"
               " AND u.timestamp BETWEEN j.value ->> 7 AND j.value ->> 8")
_CANDIDATES = (
    f"SELECT {IDENTITY_COLUMNS} FROM ai_usage u WHERE u.upstream_request_id = ANY(%(rids)s)"
    f" UNION SELECT {IDENTITY_COLUMNS} FROM ai_usage u WHERE u.response_id = ANY(%(resps)s)"
    # an id-less import meets a record of another origin by fingerprint, and the other way round
    f" UNION SELECT {IDENTITY_COLUMNS}{_PRINT_JOIN.format(name='idless')} AND u.origin IN ('proxy', 'library')"
    " AND u.call_key IS NOT NULL"
    f" UNION SELECT {IDENTITY_COLUMNS}{_PRINT_JOIN.format(name='prints')} AND u.origin = 'import'"
    " AND u.upstream_request_id IS NULL AND u.response_id IS NULL")
_KEYS = ("SELECT call_key AS k, id AS id FROM ai_usage WHERE call_key = ANY(%(keys)s)"
         " UNION ALL SELECT call_key, usage_id FROM ai_usage_aliases WHERE call_key = ANY(%(keys)s)")


def stored_identities(db: PgDb, probes: list[Sighting]) -> StoredIdentities:
    """UsageRepository.identities on PostgreSQL (the same candidates as sqlite/identity.py's)."""
    printable = [p for p in probes if not p.tokens.is_empty and p.timestamp is not None]
    keys = sorted({p.call_key for p in probes if p.call_key})
    params: dict[str, Any] = {
        "rids": sorted({p.upstream_request_id for p in probes if p.upstream_request_id}),
        "resps": sorted({p.response_id for p in probes if p.response_id}),
        "idless": json.dumps([fingerprint_params(p) for p in printable if p.idless_import]),
        "prints": json.dumps([fingerprint_params(p) for p in printable if p.capture]),
    }
    found = {r["k"]: r["id"] for r in db.rows(_KEYS, {"keys": keys})} if keys else {}
    rows = db.rows(_CANDIDATES, params)
    claimed: dict[int, set[Origin]] = {}
    if rows:
        for r in db.rows("SELECT usage_id AS id, origin AS origin FROM ai_usage_aliases WHERE usage_id = ANY(%s)",
                         ([r["id"] for r in rows],)):
            claimed.setdefault(r["id"], set()).add(Origin(r["origin"]))
    known = [Known(usage_id=r["id"], sighting=sighting_from_row(r), claimed=frozenset(claimed.get(r["id"], ())))
             for r in rows]
    return StoredIdentities(known=known, keys=found)
