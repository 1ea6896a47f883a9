"""The PostgreSQL schema ladder: migrated on first use, idempotent, newer databases refused,
and no error ever shows the password."""

from __future__ import annotations

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


def test_first_unit_of_work_migrates_an_empty_database_and_records_it_in_the_audit_chain(pg_url: str) -> None:
    with PgUnitOfWork(pg_url) as uow:
        s = uow.sessions.add(NewSession(name="first", start_time=T0, working_directory="/w"))
        entries = list(uow.audit.entries())
    assert s.id == 1
    assert _version(pg_url) == schema.CURRENT_VERSION == 3
    assert [(e.seq, e.event, e.payload["version"]) for e in entries] == [(1, "migration", 1), (2, "migration", 2),
                                                                       (3, "migration", 3)]
    assert entries[2].payload["usage"] == {"through": 0, "count": 0, "digest": aggregate_digest([])}
    assert verify(entries).ok


def test_migrate_is_idempotent(pg_url: str) -> None:
    conn = connect(pg_url)
    try:
        db = PgDb(conn, None, url=pg_url)  # type: ignore[arg-type]
        assert schema.migrate(db) == 0
        assert schema.migrate(db) == schema.CURRENT_VERSION
        assert schema.current_version(db) == schema.CURRENT_VERSION
        assert db.rows("SELECT COUNT(*) AS n FROM audit_log")[0]["n"] == 3  # one entry per step, not two
    finally:
        conn.close()


def test_a_database_newer_than_the_program_is_refused_untouched(pg_url: str) -> None:
    with PgUnitOfWork(pg_url):
        pass
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE costhq_schema SET version = 99")
    _migrated.discard(pg_url)  # a new process would check again
    with pytest.raises(IncompatibleStorage, match=r"schema version 99, newer than this CostHQ knows \(3\)"), \
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

    conn = connect(pg_url)
    try:
        db = PgDb(conn, None, url=pg_url)  # type: ignore[arg-type]
        with conn.transaction():
            db.run("CREATE TABLE costhq_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL,"
                   " migrated_at TEXT NOT NULL)")
            db.run("INSERT INTO costhq_schema (id, version, migrated_at) VALUES (1, 1, '')")
            schema.STEPS[0](db)
            db.run("INSERT INTO sessions (name, status, start_time, working_directory) VALUES"
                   " ('old', 'active', '2026-01-05T09:00:00.000000Z', '/w')")
            for units, origin, rid in [(100, "proxy", "req_A"), (200, "proxy", "msg_B"), (300, "import", "codex:r:1"),
                                       (400, "cli", None)]:
                db.run(_V1_USAGE, (units, origin, rid))
    finally:
        conn.close()
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
