"""The APSW connection factory and schema ladder: pragmas, version checks, error translation."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from costhq.adapters.persistence.errors import StorageError
from costhq.adapters.persistence.sqlite import schema
from costhq.adapters.persistence.sqlite.connection import open_connection
from costhq.adapters.persistence.sqlite.transaction import WriteTransaction, translate_errors
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.application.errors import Conflict, IncompatibleStorage, StorageBusy


def test_a_new_file_gets_the_schema_wal_and_a_long_busy_timeout(tmp_path: Path) -> None:
    conn = open_connection(str(tmp_path / "nested" / "dir" / "costhq.db"))
    try:
        assert conn.pragma("user_version") == schema.CURRENT_VERSION
        assert conn.pragma("application_id") == schema.APPLICATION_ID
        assert (conn.pragma("journal_mode"), conn.pragma("foreign_keys"), conn.pragma("busy_timeout")) == (
            "wal", 1, 5000)
        assert conn.transaction_mode == "IMMEDIATE"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"sessions", "ai_usage", "file_changes", "commits", "annotations", "today_projects"} <= tables
    finally:
        conn.close()


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    conn = open_connection(str(tmp_path / "costhq.db"))
    try:
        assert schema.migrate(conn) == schema.CURRENT_VERSION
        assert conn.pragma("user_version") == schema.CURRENT_VERSION
    finally:
        conn.close()


def test_a_readonly_connection_refuses_writes(tmp_path: Path) -> None:
    path = str(tmp_path / "costhq.db")
    open_connection(path).close()
    conn = open_connection(path, readonly=True)
    try:
        with pytest.raises(StorageError), translate_errors():
            conn.execute("INSERT INTO today_projects (path, added_at) VALUES ('p', 't')")
    finally:
        conn.close()


def _raw(path: Path, *pragmas: tuple[str, int]) -> None:
    conn = apsw.Connection(str(path))
    for name, value in pragmas:
        conn.pragma(name, value)
    conn.close()


def test_a_file_from_a_newer_costhq_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    _raw(path, ("application_id", schema.APPLICATION_ID), ("user_version", schema.CURRENT_VERSION + 1))
    with pytest.raises(IncompatibleStorage, match="newer than this CostHQ knows"):
        open_connection(str(path))


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    _raw(path, ("application_id", 12345))
    with pytest.raises(IncompatibleStorage, match="not a CostHQ database"):
        open_connection(str(path))


def test_a_held_write_lock_is_reported_as_storage_busy(tmp_path: Path) -> None:
    path = str(tmp_path / "costhq.db")
    holder = open_connection(path)
    waiter = open_connection(path)
    waiter.set_busy_timeout(0)  # fail at once rather than wait 5 s in a test
    try:
        with WriteTransaction(holder), pytest.raises(StorageBusy), WriteTransaction(waiter):
            pass
    finally:
        holder.close()
        waiter.close()


def test_constraint_violations_become_conflicts_and_roll_back(tmp_path: Path) -> None:
    conn = open_connection(str(tmp_path / "costhq.db"))
    insert = "INSERT INTO today_projects (path, added_at) VALUES ('/p', '2025-01-01T00:00:00.000000Z')"
    try:
        with pytest.raises(Conflict), WriteTransaction(conn), translate_errors():
            conn.execute(insert)
            conn.execute(insert)
        assert conn.execute("SELECT COUNT(*) FROM today_projects").get == 0
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("table", "query"),
    [
        ("sessions", "SELECT id FROM sessions WHERE working_directory = '/w' AND status = 'active'"),
        ("sessions", "SELECT id FROM sessions ORDER BY start_time DESC LIMIT 5"),
        ("ai_usage", "SELECT id FROM ai_usage WHERE session_id = 1 ORDER BY timestamp"),
        ("ai_usage", "SELECT id FROM ai_usage WHERE timestamp >= '2025'"),
        ("ai_usage", "SELECT id FROM ai_usage WHERE model = 'm'"),
        ("ai_usage", "SELECT id FROM ai_usage WHERE call_key = 'k'"),
        ("ai_usage", "SELECT id FROM ai_usage WHERE upstream_request_id IN ('r', 's')"),
        ("ai_usage", "SELECT id FROM ai_usage WHERE response_id IN (SELECT value FROM json_each('[\"x\"]'))"),
        ("ai_usage", "SELECT id FROM ai_usage WHERE origin = 'import' AND upstream_request_id IS NULL"
                     " AND response_id IS NULL AND provider = 'openai' AND input_tokens = 1 AND output_tokens = 2"
                     " AND timestamp BETWEEN 'a' AND 'b'"),
        ("ai_usage_aliases", "SELECT origin FROM ai_usage_aliases WHERE usage_id IN (1, 2)"),
        ("file_changes", "SELECT id FROM file_changes WHERE file_path = 'a'"),
        ("commits", "SELECT id FROM commits WHERE session_id = 1"),
        ("file_changes", "SELECT id FROM file_changes WHERE session_id = 1"),
        ("annotations", "SELECT id FROM annotations WHERE session_id = 1"),
    ],
)
def test_dashboard_and_repository_queries_use_an_index(tmp_path: Path, table: str, query: str) -> None:
    conn = open_connection(str(tmp_path / "costhq.db"))
    try:
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {query}"))
    finally:
        conn.close()
    assert plan.startswith((f"SEARCH {table} USING", f"SCAN {table} USING")) and "INDEX" in plan, plan


def test_the_identity_look_ups_read_indexes_only(tmp_path: Path) -> None:
    """One look-up per batch (issue 17) must never scan `ai_usage`: the proxy asks it for every call."""
    from costhq.adapters.persistence.sqlite.identity import _CANDIDATES, _KEYS

    conn = open_connection(str(tmp_path / "costhq.db"))
    try:
        empty = {"rids": "[]", "resps": "[]", "idless": "[]", "prints": "[]", "keys": "[]"}
        plans = [str(row[-1]) for q in (_CANDIDATES, _KEYS) for row in conn.execute(f"EXPLAIN QUERY PLAN {q}", empty)]
    finally:
        conn.close()
    scans = [p for p in plans if p.startswith("SCAN") and "VIRTUAL TABLE" not in p]
    assert scans == [] and sum(("USING" in p and "INDEX" in p) or "PRIMARY KEY" in p for p in plans) == 6, plans


def test_upgrading_to_step_9_anchors_the_usage_rows_stored_before_the_chain_covered_them(tmp_path: Path) -> None:
    """An old database's rows (no digest in their entries) are covered by the step's baseline:
    verify passes after the upgrade, and a cost edited later is reported at the migration entry."""
    import sqlite3

    from costhq.application.audit import VerifyAudit

    db = tmp_path / "old.db"
    con = apsw.Connection(str(db))
    with con:
        for step in schema.STEPS[:7]:
            step(con)
        con.pragma("user_version", 7)
        con.execute("INSERT INTO sessions (name, status, start_time, working_directory) VALUES"
                    " ('old', 'ended', '2025-01-01T00:00:00.000000Z', '/p')")
        for i in range(3):
            con.execute("INSERT INTO ai_usage (session_id, provider, model, input_tokens, output_tokens,"
                        " total_tokens, cost_units, price_source, origin, timestamp) VALUES"
                        " (1, 'openai', 'gpt-4o', 10, 5, 15, ?, 'built-in', 'import', '2025-01-01T00:00:00.000000Z')",
                        (1000 + i,))
    con.close()
    verify = VerifyAudit(lambda: ApswUnitOfWork(str(db)))
    result = verify()
    assert (result.ok, result.count) == (True, 2)  # migration entries of steps 2 and 9
    with ApswUnitOfWork(str(db)) as uow:
        baseline = list(uow.audit.entries())[-1].payload["usage"]
    assert (baseline["through"], baseline["count"]) == (3, 3)
    raw = sqlite3.connect(db)
    raw.execute("UPDATE ai_usage SET cost_units = 1 WHERE id = 2")
    raw.commit()
    raw.close()
    found = verify()
    assert (found.bad_seq, found.reason, found.table) == (2, "edited", "ai_usage")
