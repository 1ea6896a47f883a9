"""Schema steps of the spend firewall: the hourly spend rollup (ladder version 6) and the
reservation model and money coverage of issue 14 (ladder version 9, see `v9_reservations_audit`).

Step 6: an hourly spend rollup kept by triggers.

Why: every proxied request evaluates each budget rule's spend in its window; summing
`ai_usage` rows made that a scan of the window's calls (a month of heavy use is 100k rows).
The rollup holds one row per (UTC hour, session, requested model, served model), so a rule's
window reads a few hourly rows plus raw calls only in partial edge hours (zones that are not
a whole number of hours from UTC). Unlike the dashboard's `usage_hourly` it keeps the session
and both model names, which session/project rules and "requested or served" model rules need.
Triggers keep it exact on insert, update and delete inside the writer's transaction.
"""

from __future__ import annotations

import apsw

from costhq.adapters.persistence.rows import USAGE_COLUMNS

_KEY_OLD = (
    "hour = substr(OLD.timestamp, 1, 13) AND session_id = OLD.session_id AND model = OLD.model"
    " AND served_model = COALESCE(OLD.served_model, '')"
)
_INSERT_NEW = (
    "INSERT INTO spend_hourly (hour, session_id, model, served_model, cost_units, calls)"
    " VALUES (substr(NEW.timestamp, 1, 13), NEW.session_id, NEW.model, COALESCE(NEW.served_model, ''),"
    " COALESCE(NEW.cost_units, 0), 1) ON CONFLICT (hour, session_id, model, served_model)"
    " DO UPDATE SET cost_units = cost_units + excluded.cost_units, calls = calls + 1;"
)
_REMOVE_OLD = (
    f"UPDATE spend_hourly SET cost_units = cost_units - COALESCE(OLD.cost_units, 0), calls = calls - 1"
    f" WHERE {_KEY_OLD}; DELETE FROM spend_hourly WHERE {_KEY_OLD} AND calls = 0;"
)

SQL = f"""
CREATE TABLE spend_hourly (
    hour TEXT NOT NULL,
    session_id INTEGER NOT NULL,
    model TEXT NOT NULL,
    served_model TEXT NOT NULL,
    cost_units INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (hour, session_id, model, served_model)
) WITHOUT ROWID;
CREATE INDEX spend_hourly_session ON spend_hourly(session_id, hour);
INSERT INTO spend_hourly (hour, session_id, model, served_model, cost_units, calls)
    SELECT substr(timestamp, 1, 13), session_id, model, COALESCE(served_model, ''),
           COALESCE(SUM(cost_units), 0), COUNT(*)
    FROM ai_usage GROUP BY 1, 2, 3, 4;
CREATE TRIGGER spend_hourly_insert AFTER INSERT ON ai_usage BEGIN {_INSERT_NEW} END;
CREATE TRIGGER spend_hourly_delete AFTER DELETE ON ai_usage BEGIN {_REMOVE_OLD} END;
CREATE TRIGGER spend_hourly_update AFTER UPDATE OF session_id, model, served_model, cost_units, timestamp
    ON ai_usage BEGIN {_REMOVE_OLD} {_INSERT_NEW} END;
"""


def v6_spend_rollup(conn: apsw.Connection) -> None:
    """Ladder step 6 (issue 4): the hourly spend rollup and its triggers."""
    conn.execute(SQL)


V9_SQL = """
CREATE TABLE budget_samples (
    id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    client TEXT NOT NULL,
    estimated_units INTEGER NOT NULL,
    input_units INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX budget_samples_key ON budget_samples(model, client, id);
CREATE TABLE firewall_version (id INTEGER PRIMARY KEY CHECK (id = 1), rules INTEGER NOT NULL);
INSERT INTO firewall_version (id, rules) VALUES (1, 0);
CREATE TRIGGER budgets_version_insert AFTER INSERT ON budgets BEGIN UPDATE firewall_version SET rules = rules + 1; END;
CREATE TRIGGER budgets_version_update AFTER UPDATE ON budgets BEGIN UPDATE firewall_version SET rules = rules + 1; END;
CREATE TRIGGER budgets_version_delete AFTER DELETE ON budgets BEGIN UPDATE firewall_version SET rules = rules + 1; END;
"""


def v9_reservations_audit(conn: apsw.Connection) -> None:
    """Ladder step 9 (issue 14).

    - `budget_samples`: what recent calls of a model and client really cost against their
      estimate (the expected-cost reservations learn from it).
    - `firewall_version`: a counter the triggers bump on every budget rule change, so a process
      that leases headroom notices a new, changed or removed rule with one tiny read.
    - The audit chain's baseline of the usage rows stored before the chain covered each one
      (domain.audit_coverage): their aggregate digest, in the step's migration entry.
    """
    from costhq.adapters.persistence.converter import RowConverter
    from costhq.adapters.persistence.sqlite.audit import append_migration_entry
    from costhq.adapters.persistence.sqlite.db import Db
    from costhq.domain.audit_coverage import aggregate_digest, usage_digest
    from costhq.domain.usage import UsageRecord

    conn.execute(V9_SQL)
    rows = Db(conn, RowConverter()).many(f"SELECT {USAGE_COLUMNS} FROM ai_usage ORDER BY id", (), UsageRecord)
    baseline = {"through": rows[-1].id if rows else 0, "count": len(rows),
                "digest": aggregate_digest(usage_digest(r) for r in rows)}
    append_migration_entry(conn, version=9, note="expected-cost reservations; the chain covers every usage "
                           "record, budget rule and price override", usage=baseline)
