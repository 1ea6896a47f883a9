"""The SQLite schema as a `PRAGMA user_version` ladder (persistence adapter, DESIGN §5).

Each step takes the database from version N to N+1; later features append steps and never
edit earlier ones. The whole ladder runs in one write transaction (`with WriteTransaction(conn):`), so a crash leaves
the file at its old version. Times are fixed-width ISO-8601 UTC text
('YYYY-MM-DDTHH:MM:SS.ffffffZ', lexically sortable); money is INTEGER 1e-10 USD.
"""

from __future__ import annotations

from collections.abc import Callable

import apsw

from costhq.adapters.persistence.sqlite.transaction import WriteTransaction
from costhq.application.errors import IncompatibleStorage

# 'CsHQ' marks the file as ours in `PRAGMA application_id`.
APPLICATION_ID = int.from_bytes(b"CsHQ", "big")

_V1 = """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT,
    working_directory TEXT NOT NULL,
    git_root TEXT,
    start_git_head TEXT,
    branch TEXT,
    notes TEXT,
    files_changed INTEGER NOT NULL DEFAULT 0,
    commits INTEGER NOT NULL DEFAULT 0,
    ai_cost_units INTEGER NOT NULL DEFAULT 0,
    ai_tokens INTEGER NOT NULL DEFAULT 0,
    ai_calls INTEGER NOT NULL DEFAULT 0,
    unpriced_calls INTEGER NOT NULL DEFAULT 0,
    last_activity TEXT
);
CREATE INDEX sessions_scope_active ON sessions(working_directory, status, last_activity);
CREATE INDEX sessions_status ON sessions(status, last_activity);
CREATE INDEX sessions_start_time ON sessions(start_time);
CREATE INDEX sessions_name ON sessions(name);

CREATE TABLE ai_usage (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    served_model TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_units INTEGER,
    price_source TEXT NOT NULL,
    rates TEXT NOT NULL DEFAULT '{}',
    origin TEXT NOT NULL,
    agent_name TEXT,
    request_id TEXT,
    duration_ms INTEGER,
    stream INTEGER NOT NULL DEFAULT 0,
    partial INTEGER NOT NULL DEFAULT 0,
    error INTEGER NOT NULL DEFAULT 0,
    timestamp TEXT NOT NULL
);
CREATE INDEX ai_usage_session_time ON ai_usage(session_id, timestamp);
CREATE INDEX ai_usage_time ON ai_usage(timestamp);
CREATE INDEX ai_usage_model ON ai_usage(model);
CREATE UNIQUE INDEX ai_usage_request_id ON ai_usage(request_id) WHERE request_id IS NOT NULL;

CREATE TABLE file_changes (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    file_path TEXT NOT NULL,
    change_type TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    UNIQUE (session_id, file_path, change_type)
);
CREATE INDEX file_changes_session ON file_changes(session_id);
CREATE INDEX file_changes_path ON file_changes(file_path);

CREATE TABLE commits (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    message TEXT NOT NULL,
    author TEXT,
    timestamp TEXT NOT NULL,
    UNIQUE (session_id, hash)
);
CREATE INDEX commits_session ON commits(session_id);

CREATE TABLE annotations (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    message TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX annotations_session ON annotations(session_id);

CREATE TABLE today_projects (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT,
    added_at TEXT NOT NULL
);
"""


def _v1_core_tables(conn: apsw.Connection) -> None:
    conn.execute(_V1)


def _v2_firewall_audit_runaway(conn: apsw.Connection) -> None:
    # issue 4: budgets + reservations, the append-only audit chain, runaway state/config.
    from costhq.adapters.persistence.sqlite.audit import V2_SQL, append_migration_entry

    conn.execute(V2_SQL)
    append_migration_entry(conn, version=2, note="budgets, audit chain, runaway detection")


def _v3_import_cursors(conn: apsw.Connection) -> None:
    # issue 7: per-transcript cursors of `cs auto-log` (byte offset past the last imported line).
    from costhq.adapters.persistence.sqlite.integrations import V3_SQL

    conn.execute(V3_SQL)


def _v4_dashboard_rollup(conn: apsw.Connection) -> None:
    # issue 6: hourly usage rollup kept exact by triggers (dashboard totals without full scans).
    from costhq.adapters.persistence.sqlite.dashboard_schema import v4_dashboard_rollup

    v4_dashboard_rollup(conn)


def _v5_local_models(conn: apsw.Connection) -> None:
    # issue 8: hardware presets (built-ins seeded as editable rows), local models, compute per call.
    from costhq.adapters.persistence.sqlite.local_schema import v5_local_models

    v5_local_models(conn)


def _v6_spend_rollup(conn: apsw.Connection) -> None:
    # issue 4: hourly spend per session and model, so budget windows read a few rows, not a scan.
    from costhq.adapters.persistence.sqlite.firewall_schema import v6_spend_rollup

    v6_spend_rollup(conn)


def _v7_runaway_window_indexes(conn: apsw.Connection) -> None:
    # issue 4: the runaway detectors read window aggregates (sum, newest key, key count, loop
    # tail) per event; these indexes make each an index range read instead of a window rescan.
    conn.execute(
        "CREATE INDEX runaway_events_kind_time ON runaway_events(session_id, kind, at);"
        "CREATE INDEX runaway_events_kind_key ON runaway_events(session_id, kind, key, at);"
        "CREATE INDEX runaway_events_cost ON runaway_events(session_id, at, cost_units) WHERE kind = 'cost';")


def _v8_call_identity(conn: apsw.Connection) -> None:
    # issue 17: a record's own key (`call_key`, unique), the upstream ids it is matched on (never
    # unique: servers repeat them), and the observations of other paths each record absorbed.
    from costhq.adapters.persistence.sqlite.identity_schema import v8_call_identity

    v8_call_identity(conn)


def _v9_reservations_audit(conn: apsw.Connection) -> None:
    # issue 14: learned expected costs, the rules version counter, and the audit chain's
    # baseline of the usage rows stored before each record carried its digest.
    from costhq.adapters.persistence.sqlite.firewall_schema import v9_reservations_audit

    v9_reservations_audit(conn)


def _v10_who_where(conn: apsw.Connection) -> None:
    # issue 16: who created a session and where, stamped at creation as on PostgreSQL. Older
    # rows stay NULL: they belong to the file's owner, resolved when read (docs/team.md).
    conn.execute("ALTER TABLE sessions ADD COLUMN user_name TEXT; ALTER TABLE sessions ADD COLUMN machine TEXT;"
                 "CREATE INDEX sessions_user_machine ON sessions(user_name, machine);")


def _v11_runaway_running_totals(conn: apsw.Connection) -> None:
    # The velocity window's spend as the difference of two running totals (persistence/sql/
    # runaway.py): two index seeks instead of a sum over every cost event of the window. The new
    # index orders a session's cost events by (at, id) and carries the totals; step 7's cost index
    # (ordered by cost within one `at`) had only served that sum.
    conn.execute(
        "ALTER TABLE runaway_events ADD COLUMN cum_units INTEGER NOT NULL DEFAULT 0;"
        "UPDATE runaway_events SET cum_units = w.total FROM (SELECT id, SUM(cost_units) OVER (PARTITION BY"
        " session_id ORDER BY at, id ROWS UNBOUNDED PRECEDING) AS total FROM runaway_events WHERE kind = 'cost')"
        " AS w WHERE runaway_events.id = w.id;"
        "DROP INDEX runaway_events_cost;"
        "CREATE INDEX runaway_events_cum ON runaway_events(session_id, at, id, cum_units, cost_units)"
        " WHERE kind = 'cost';")


# Append new steps (budgets, audit, local models...) here; never edit a shipped step.
STEPS: tuple[Callable[[apsw.Connection], None], ...] = (
    _v1_core_tables, _v2_firewall_audit_runaway, _v3_import_cursors, _v4_dashboard_rollup,
    _v5_local_models, _v6_spend_rollup, _v7_runaway_window_indexes, _v8_call_identity,
    _v9_reservations_audit, _v10_who_where, _v11_runaway_running_totals)
CURRENT_VERSION = len(STEPS)


def check_compatible(conn: apsw.Connection) -> int:
    """The file's schema version; refuses foreign files and files from a newer CostHQ.

    Raises:
        IncompatibleStorage: unknown application_id, or user_version newer than this code.
    """
    app_id = conn.pragma("application_id")
    if app_id not in (0, APPLICATION_ID):
        raise IncompatibleStorage(
            f"{conn.filename} is not a CostHQ database (application_id {app_id})", path=conn.filename
        )
    version = int(conn.pragma("user_version"))
    if version > CURRENT_VERSION:
        raise IncompatibleStorage(
            f"{conn.filename} has schema version {version}, newer than this CostHQ knows "
            f"({CURRENT_VERSION}); upgrade CostHQ to open it",
            path=conn.filename,
            version=version,
        )
    return version


def migrate(conn: apsw.Connection) -> int:
    """Bring the file to `CURRENT_VERSION` in one transaction; returns the version found."""
    with WriteTransaction(conn):
        found = check_compatible(conn)
        for step in STEPS[found:]:
            step(conn)
        if found < CURRENT_VERSION:
            conn.pragma("user_version", CURRENT_VERSION)
        conn.pragma("application_id", APPLICATION_ID)
    return found
