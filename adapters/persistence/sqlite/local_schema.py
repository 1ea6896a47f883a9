"""SQLite schema step v5 (issue 8): hardware presets, local models and compute per call; the
repository over them is shared with PostgreSQL (persistence/sql/local.py).
"""

from __future__ import annotations

import apsw

from costhq.domain.local_models import BUILTIN_PRESETS
from costhq.domain.money import to_units

V5_SQL = """
CREATE TABLE hardware_presets (
    name TEXT PRIMARY KEY,
    usd_per_hour_units INTEGER NOT NULL CHECK (usd_per_hour_units >= 0),
    source TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    builtin INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE local_models (
    name TEXT PRIMARY KEY,
    runtime TEXT NOT NULL,
    hardware TEXT NOT NULL REFERENCES hardware_presets(name) ON DELETE RESTRICT,
    base_url TEXT,
    api_equivalent TEXT,
    added_at TEXT NOT NULL
);
CREATE INDEX local_models_hardware ON local_models(hardware);
CREATE TABLE local_usage (
    usage_id INTEGER PRIMARY KEY REFERENCES ai_usage(id) ON DELETE CASCADE,
    local_model TEXT NOT NULL,
    hardware TEXT NOT NULL,
    usd_per_hour_units INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    cost_units INTEGER NOT NULL,
    api_equivalent_model TEXT,
    api_equivalent_units INTEGER
);
CREATE INDEX local_usage_hardware ON local_usage(hardware);
CREATE INDEX local_usage_model ON local_usage(local_model);
"""


def v5_local_models(conn: apsw.Connection) -> None:
    """Schema step v5: the three tables, and the built-in presets as ordinary (editable) rows."""
    conn.execute(V5_SQL)
    for p in BUILTIN_PRESETS:
        conn.execute("INSERT INTO hardware_presets (name, usd_per_hour_units, source, description, builtin)"
                     " VALUES (?, ?, ?, ?, 1)", (p.name, to_units(p.usd_per_hour), p.source, p.description))
