"""Schema step for the dashboard (ladder version 4): an hourly usage rollup kept by triggers.

Why: per-model totals over 1,000,000 calls take ~2 s as a scan (0.55 s even with a covering
index); the rollup holds one row per (UTC hour, provider, served model), so all-time and
windowed totals read a few thousand rows. Triggers keep it exact on insert, update and
delete, inside the writer's own transaction. Queries add raw rows for partial edge hours,
so windows that do not start on a UTC hour (UTC+5:30...) stay exact.
"""

from __future__ import annotations

import apsw

ROLLUP_TABLE = "usage_hourly"
_COLS = "calls, cost_units, unpriced, input, cache_read, cache_write, output, total"
_NEW = (
    "1, COALESCE(NEW.cost_units, 0), NEW.cost_units IS NULL, NEW.input_tokens, NEW.cache_read_tokens,"
    " NEW.cache_write_5m_tokens + NEW.cache_write_1h_tokens, NEW.output_tokens, NEW.total_tokens"
)
_KEY_OLD = (
    "hour = substr(OLD.timestamp, 1, 13) AND provider = OLD.provider AND model = COALESCE(OLD.served_model, OLD.model)"
)
_ADD = ", ".join(f"{c} = {c} + excluded.{c}" for c in _COLS.split(", "))
_SUB = (
    "calls = calls - 1, cost_units = cost_units - COALESCE(OLD.cost_units, 0),"
    " unpriced = unpriced - (OLD.cost_units IS NULL), input = input - OLD.input_tokens,"
    " cache_read = cache_read - OLD.cache_read_tokens,"
    " cache_write = cache_write - OLD.cache_write_5m_tokens - OLD.cache_write_1h_tokens,"
    " output = output - OLD.output_tokens, total = total - OLD.total_tokens"
)
_INSERT_NEW = (
    f"INSERT INTO usage_hourly (hour, provider, model, {_COLS}) VALUES (substr(NEW.timestamp, 1, 13),"
    f" NEW.provider, COALESCE(NEW.served_model, NEW.model), {_NEW})"
    f" ON CONFLICT (hour, provider, model) DO UPDATE SET {_ADD};"
)
_REMOVE_OLD = (
    f"UPDATE usage_hourly SET {_SUB} WHERE {_KEY_OLD}; DELETE FROM usage_hourly WHERE {_KEY_OLD} AND calls = 0;"
)

SQL = f"""
CREATE TABLE usage_hourly (
    hour TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    calls INTEGER NOT NULL,
    cost_units INTEGER NOT NULL,
    unpriced INTEGER NOT NULL,
    input INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    output INTEGER NOT NULL,
    total INTEGER NOT NULL,
    PRIMARY KEY (hour, provider, model)
) WITHOUT ROWID;
INSERT INTO usage_hourly (hour, provider, model, {_COLS})
    SELECT substr(timestamp, 1, 13), provider, COALESCE(served_model, model), COUNT(*),
           COALESCE(SUM(cost_units), 0), SUM(cost_units IS NULL), SUM(input_tokens), SUM(cache_read_tokens),
           SUM(cache_write_5m_tokens + cache_write_1h_tokens), SUM(output_tokens), SUM(total_tokens)
    FROM ai_usage GROUP BY 1, 2, 3;
CREATE TRIGGER usage_hourly_insert AFTER INSERT ON ai_usage BEGIN {_INSERT_NEW} END;
CREATE TRIGGER usage_hourly_delete AFTER DELETE ON ai_usage BEGIN {_REMOVE_OLD} END;
CREATE TRIGGER usage_hourly_update AFTER UPDATE ON ai_usage BEGIN {_REMOVE_OLD} {_INSERT_NEW} END;
CREATE INDEX file_changes_path_session ON file_changes(file_path, session_id);
CREATE INDEX sessions_cost ON sessions(ai_cost_units);
"""


def v4_dashboard_rollup(conn: apsw.Connection) -> None:
    """Ladder step 4 (issue 6): the hourly usage rollup, its triggers and two dashboard indexes."""
    conn.execute(SQL)
