"""Schema step v8 (issue 17): call identity columns and the absorbed-observation table.

- `ai_usage.call_key`: the record's own key, UNIQUE where set: a second record with it is a replay.
- `ai_usage.upstream_request_id` / `response_id`: indexed, never unique (servers repeat ids).
- `ai_usage.usage_missing` / `input_estimated`: flags of a call answered without usage / of a cut
  stream whose input was estimated from the request.
- `ai_usage_aliases`: the key of each observation another path made of a stored call (importer
  line, library call...), so a re-import is a replay and a record absorbs one observation per path.
- The old UNIQUE index on `request_id` goes: a repeated upstream id must never drop a call.
  Existing `request_id` values become keys and ids (`legacy_identity`), so re-imports of old
  transcripts and leftover spools of an older proxy stay replays, and old proxy rows still
  match a later import of the same call.
"""

from __future__ import annotations

import apsw

from costhq.domain.identity import legacy_identity
from costhq.domain.usage import Origin

V8_SQL = """
ALTER TABLE ai_usage ADD COLUMN call_key TEXT;
ALTER TABLE ai_usage ADD COLUMN upstream_request_id TEXT;
ALTER TABLE ai_usage ADD COLUMN response_id TEXT;
ALTER TABLE ai_usage ADD COLUMN usage_missing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ai_usage ADD COLUMN input_estimated INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS ai_usage_request_id;
CREATE UNIQUE INDEX ai_usage_call_key ON ai_usage(call_key) WHERE call_key IS NOT NULL;
CREATE INDEX ai_usage_upstream_request_id ON ai_usage(upstream_request_id) WHERE upstream_request_id IS NOT NULL;
CREATE INDEX ai_usage_response_id ON ai_usage(response_id) WHERE response_id IS NOT NULL;
-- Codex rollouts carry no upstream ids: such imports are matched by token classes and time.
CREATE INDEX ai_usage_idless_imports ON ai_usage(provider, input_tokens, output_tokens, timestamp)
    WHERE origin = 'import' AND upstream_request_id IS NULL AND response_id IS NULL;
CREATE TABLE ai_usage_aliases (
    call_key TEXT PRIMARY KEY,
    usage_id INTEGER NOT NULL REFERENCES ai_usage(id) ON DELETE CASCADE,
    origin TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX ai_usage_aliases_usage ON ai_usage_aliases(usage_id);
"""


def v8_call_identity(conn: apsw.Connection) -> None:
    """Add the identity columns and table, then give old rows their keys and ids."""
    conn.execute(V8_SQL)
    rows = conn.execute("SELECT id, origin, request_id FROM ai_usage WHERE request_id IS NOT NULL").fetchall()
    if not rows:
        return
    updates = [(*legacy_identity(Origin(origin), rid), uid) for uid, origin, rid in rows]
    # The rollup triggers re-count a row on every UPDATE, and these columns feed no rollup: set
    # them aside while the rows are keyed (restored verbatim, in this same transaction).
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ai_usage'").fetchall()
    for name, _sql in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    # OR IGNORE: two old values mapping to one key (never seen, but a migration must not fail)
    # leave the later row without a key rather than stop the upgrade.
    conn.executemany("UPDATE OR IGNORE ai_usage SET call_key = ?, upstream_request_id = ?, response_id = ?"
                     " WHERE id = ?", updates)
    for _name, sql in triggers:
        conn.execute(sql)
