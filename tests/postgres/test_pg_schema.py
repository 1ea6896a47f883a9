"""The PostgreSQL schema ladder: migrated on first use, idempotent, newer databases refused,
and no error ever shows the password."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import attrs
import psycopg
import pytest

from costhq.adapters.persistence.errors import StorageError
from costhq.adapters.persistence.postgres import schema
from costhq.adapters.persistence.postgres.db import PgDb, connect
from costhq.adapters.persistence.postgres.uow import PgUnitOfWork, _migrated
from costhq.application.errors import IncompatibleStorage
from costhq.domain.audit import verify
from costhq.domain.audit_coverage import aggregate_digest
from costhq.domain.sessions import NewSession
from tests.postgres.cluster import Cluster

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _version(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version FROM costhq_schema").fetchone()
        assert row is not None
        return int(row[0])


@contextlib.contextmanager
def _old_database(pg_url: str, version: int) -> Iterator[PgDb]:
    """A database left at `version` by this ladder's first steps; the body adds its rows in the same
    transaction."""
    conn = connect(pg_url)
    try:
        db = PgDb(conn, None, url=pg_url)  # type: ignore[arg-type]
        with conn.transaction():
            db.run("CREATE TABLE costhq_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL,"
                   " migrated_at TEXT NOT NULL)")
            db.run("INSERT INTO costhq_schema (id, version, migrated_at) VALUES (1, %s, '')", (version,))
            for step in schema.STEPS[:version]:
                step(db)
            yield db
    finally:
        conn.close()


def test_first_unit_of_work_migrates_an_empty_database_and_records_it_in_the_audit_chain(pg_url: str) -> None:
    with PgUnitOfWork(pg_url) as uow:
        s = uow.sessions.add(NewSession(name="first", start_time=T0, working_directory="/w"))
        entries = list(uow.audit.entries())
    assert s.id == 1
    assert _version(pg_url) == schema.CURRENT_VERSION == 5
    assert [(e.seq, e.event, e.payload["version"]) for e in entries] == [(v, "migration", v) for v in range(1, 6)]
    assert entries[2].payload["usage"] == {"through": 0, "count": 0, "digest": aggregate_digest([])}
    assert verify(entries).ok


def test_migrate_is_idempotent(pg_url: str) -> None:
    conn = connect(pg_url)
    try:
        db = PgDb(conn, None, url=pg_url)  # type: ignore[arg-type]
        assert schema.migrate(db) == 0
        assert schema.migrate(db) == schema.CURRENT_VERSION
        assert schema.current_version(db) == schema.CURRENT_VERSION
        assert db.rows("SELECT COUNT(*) AS n FROM audit_log")[0]["n"] == 5  # one entry per step, not two
    finally:
        conn.close()


def test_a_database_newer_than_the_program_is_refused_untouched(pg_url: str) -> None:
    with PgUnitOfWork(pg_url):
        pass
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE costhq_schema SET version = 99")
    _migrated.discard(pg_url)  # a new process would check again
    with pytest.raises(IncompatibleStorage, match=r"schema version 99, newer than this CostHQ knows \(5\)"), \
            PgUnitOfWork(pg_url):
        pass
    assert _version(pg_url) == 99


def test_a_foreign_database_with_a_sessions_table_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE sessions (id int)")
    with pytest.raises(IncompatibleStorage, match="not a CostHQ database"), PgUnitOfWork(pg_url):
        pass


def test_connection_errors_never_show_the_password(pg_cluster: Cluster) -> None:
    wrong = pg_cluster.url().replace(pg_cluster.password, "Wr0ng-s3cret-pw")
    with pytest.raises(StorageError) as caught, PgUnitOfWork(wrong):
        pass
    message = str(caught.value)
    assert "password authentication failed" in message
    assert "Wr0ng-s3cret-pw" not in message and pg_cluster.password not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


_V1_USAGE = ("INSERT INTO ai_usage (session_id, provider, model, input_tokens, output_tokens, total_tokens, cost_units,"
             " price_source, origin, request_id, timestamp) VALUES (1, 'anthropic', 'm', 10, 2, 12, %s, 'built-in',"
             " %s, %s, '2026-01-05T09:00:00.000000Z')")


def test_a_version_1_database_upgrades_in_place_keys_old_ids_and_its_rows_stay_covered(pg_url: str) -> None:
    """Steps 2 and 3 on a team database with calls: old request ids become keys and upstream ids
    (as SQLite's step 8), the unique request id goes, and step 3's baseline covers the old rows."""
    from costhq.application.audit import VerifyAudit
    from costhq.application.errors import Conflict
    from costhq.domain.usage import Origin

    with _old_database(pg_url, 1) as db:
        db.run("INSERT INTO sessions (name, status, start_time, working_directory) VALUES"
               " ('old', 'active', '2026-01-05T09:00:00.000000Z', '/w')")
        for units, origin, rid in [(100, "proxy", "req_A"), (200, "proxy", "msg_B"), (300, "import", "codex:r:1"),
                                   (400, "cli", None)]:
            db.run(_V1_USAGE, (units, origin, rid))
    assert _version(pg_url) == 1
    _migrated.discard(pg_url)
    with PgUnitOfWork(pg_url) as uow:
        rows = uow.usage.for_session(1)
        assert [(r.call_key, r.upstream_request_id, r.response_id) for r in rows] == [
            ("legacy:req_A", "req_A", None), ("legacy:msg_B", None, "msg_B"), ("import:codex:r:1", None, None),
            (None, None, None)]
        baseline = next(e for e in uow.audit.entries() if e.payload.get("version") == 3).payload["usage"]
        assert (baseline["through"], baseline["count"]) == (4, 4)
        uow.usage.add(attrs.evolve(rows[0], id=None, call_key="proxy:new"))  # the same request id: kept
    assert _version(pg_url) == schema.CURRENT_VERSION
    with pytest.raises(Conflict), PgUnitOfWork(pg_url) as uow:
        uow.usage.add(attrs.evolve(rows[1], id=None))  # its key is stored: a replay
    with PgUnitOfWork(pg_url) as uow:
        assert uow.usage.identities([]).keys == {} and len(uow.usage.for_session(1)) == 5
        assert uow.usage.add_alias("import:x", 1, Origin.IMPORT) is None
    result = VerifyAudit(lambda: PgUnitOfWork(pg_url, read_only=True))()
    # The new call was added by the repository alone (no use case audited it): the only gap.
    assert (result.ok, result.reason, result.table, result.row_id) == (False, "unaudited", "ai_usage", 5)


_ROLLUP = ("SELECT hour, session_id, provider, model, served_model, calls, cost_units, unpriced, input, cache_read,"
           " cache_write, output, total FROM spend_hourly ORDER BY 1, 2, 3, 4, 5")
_GROUPED = ("SELECT substr(timestamp, 1, 13) AS hour, session_id, provider, model, COALESCE(served_model, '')"
            " AS served_model, COUNT(*) AS calls, COALESCE(SUM(cost_units), 0)::bigint AS cost_units,"
            " COUNT(*) FILTER (WHERE cost_units IS NULL) AS unpriced, SUM(input_tokens)::bigint AS input,"
            " SUM(cache_read_tokens)::bigint AS cache_read,"
            " SUM(cache_write_5m_tokens + cache_write_1h_tokens)::bigint AS cache_write,"
            " SUM(output_tokens)::bigint AS output, SUM(total_tokens)::bigint AS total FROM ai_usage"
            " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5")
_V3_USAGE = ("INSERT INTO ai_usage (session_id, provider, model, served_model, input_tokens, cache_read_tokens,"
             " cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, total_tokens, cost_units, price_source,"
             " origin, timestamp) VALUES (%s, %s, %s, %s, %s, 1, 2, 3, 4, %s, %s, 'built-in', 'cli', %s)")


def test_a_version_3_database_gets_the_hourly_rollup_backfilled_and_kept_exact(pg_url: str) -> None:
    """Step 4 on a database with calls: `spend_hourly` equals a GROUP BY of `ai_usage` after the
    backfill and after the trigger's insert, cost update, move to another hour, and delete."""
    with _old_database(pg_url, 3) as db:
        for name in ("a", "b"):
            db.run("INSERT INTO sessions (name, status, start_time, working_directory) VALUES"
                   " (%s, 'active', '2026-01-05T09:00:00.000000Z', '/w')", (name,))
        for row in [(1, "anthropic", "m", None, 10, 20, 100, "2026-01-05T09:00:00.000000Z"),
                    (1, "anthropic", "m", None, 11, 21, 200, "2026-01-05T09:59:59.999999Z"),
                    (1, "anthropic", "m", "m-2", 12, 22, None, "2026-01-05T09:30:00.000000Z"),
                    (2, "anthropic", "m", None, 13, 23, 400, "2026-01-05T09:10:00.000000Z"),
                    (2, "openai", "g", None, 14, 24, 500, "2026-01-05T10:00:00.000000Z")]:
            db.run(_V3_USAGE, row)
        assert db.rows("SELECT to_regclass('spend_hourly') IS NULL AS absent")[0]["absent"]
    assert _version(pg_url) == 3
    _migrated.discard(pg_url)
    with PgUnitOfWork(pg_url) as uow:
        entry = next(e for e in uow.audit.entries() if e.payload.get("version") == 4)
        assert entry.payload["note"] == "hourly spend rollup (spend_hourly)"
    assert _version(pg_url) == schema.CURRENT_VERSION
    with psycopg.connect(pg_url) as conn:
        rollup = lambda: conn.execute(_ROLLUP).fetchall()  # noqa: E731
        grouped = lambda: conn.execute(_GROUPED).fetchall()  # noqa: E731
        assert rollup() == grouped() == [
            ("2026-01-05T09", 1, "anthropic", "m", "", 2, 300, 0, 21, 2, 10, 8, 41),
            ("2026-01-05T09", 1, "anthropic", "m", "m-2", 1, 0, 1, 12, 1, 5, 4, 22),
            ("2026-01-05T09", 2, "anthropic", "m", "", 1, 400, 0, 13, 1, 5, 4, 23),
            ("2026-01-05T10", 2, "openai", "g", "", 1, 500, 0, 14, 1, 5, 4, 24)]
        conn.execute(_V3_USAGE, (2, "openai", "g", None, 15, 25, 600, "2026-01-05T10:20:00.000000Z"))
        conn.execute("UPDATE ai_usage SET cost_units = 250 WHERE id = 2")  # a re-priced call
        conn.execute("UPDATE ai_usage SET cost_units = 7 WHERE id = 3")  # an unpriced call gets a price
        conn.execute("UPDATE ai_usage SET timestamp = '2026-01-05T11:00:00.000000Z' WHERE id = 4")
        conn.execute("DELETE FROM ai_usage WHERE id = 5")
        assert rollup() == grouped() == [
            ("2026-01-05T09", 1, "anthropic", "m", "", 2, 350, 0, 21, 2, 10, 8, 41),
            ("2026-01-05T09", 1, "anthropic", "m", "m-2", 1, 7, 0, 12, 1, 5, 4, 22),
            ("2026-01-05T10", 2, "openai", "g", "", 1, 600, 0, 15, 1, 5, 4, 25),
            ("2026-01-05T11", 2, "anthropic", "m", "", 1, 400, 0, 13, 1, 5, 4, 23)]
        conn.execute("DELETE FROM sessions WHERE id = 1")  # its calls go by cascade, and their rollup rows
        assert rollup() == grouped() == [
            ("2026-01-05T10", 2, "openai", "g", "", 1, 600, 0, 15, 1, 5, 4, 25),
            ("2026-01-05T11", 2, "anthropic", "m", "", 1, 400, 0, 13, 1, 5, 4, 23)]


def test_a_version_4_database_gets_running_totals_of_its_cost_events_in_place(pg_url: str) -> None:
    """Step 5 on a database with runaway events stored out of time order: each cost event's
    `cum_units` is its session's running total in (at, id) order; the window's spend stays exact."""
    from decimal import Decimal

    from costhq.domain.runaway import RunawayConfig

    with _old_database(pg_url, 4) as db:
        for sid, kind, units, sec in [(1, "cost", 200, 3), (1, "cost", 100, 1), (1, "call", 0, 2),
                                      (1, "cost", 300, 2), (1, "cost", 400, 1), (2, "cost", 7, 5)]:
            db.run("INSERT INTO runaway_events (session_id, kind, cost_units, at) VALUES (%s, %s, %s, %s)",
                   (sid, kind, units, f"2026-12-01T10:00:0{sec}.000000Z"))
    _migrated.discard(pg_url)
    with PgUnitOfWork(pg_url) as uow:
        entry = next(e for e in uow.audit.entries() if e.payload.get("version") == 5)
        assert entry.payload["note"] == "runaway running totals (runaway_events.cum_units)"
        spent = uow.runaway.window_facts(1, RunawayConfig(velocity_window_s=2),
                                         now=datetime(2026, 12, 1, 10, 0, 3, tzinfo=UTC)).spent
    assert spent == Decimal("0.00000005") and _version(pg_url) == 5
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id, cum_units FROM runaway_events ORDER BY id").fetchall() == [
            (1, 1000), (2, 100), (3, 0), (4, 800), (5, 500), (6, 7)]
