"""The PostgreSQL schema ladder: migrated on first use, idempotent, newer databases refused,
and no error ever shows the password."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from costhq.adapters.persistence.postgres import schema
from costhq.adapters.persistence.postgres.db import PgDb, connect
from costhq.adapters.persistence.postgres.uow import PgUnitOfWork, _migrated
from costhq.adapters.persistence.transaction import StorageError
from costhq.application.errors import IncompatibleStorage
from costhq.domain.audit import verify
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
    assert _version(pg_url) == schema.CURRENT_VERSION == 1
    assert [(e.seq, e.event, e.payload["version"]) for e in entries] == [(1, "migration", 1)]
    assert verify(entries).ok


def test_migrate_is_idempotent(pg_url: str) -> None:
    conn = connect(pg_url)
    try:
        db = PgDb(conn, None, url=pg_url)  # type: ignore[arg-type]
        assert schema.migrate(db) == 0
        assert schema.migrate(db) == schema.CURRENT_VERSION
        assert schema.current_version(db) == schema.CURRENT_VERSION
        assert db.rows("SELECT COUNT(*) AS n FROM audit_log")[0]["n"] == 1  # one migration entry, not two
    finally:
        conn.close()


def test_a_database_newer_than_the_program_is_refused_untouched(pg_url: str) -> None:
    with PgUnitOfWork(pg_url):
        pass
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE costhq_schema SET version = 99")
    _migrated.discard(pg_url)  # a new process would check again
    with pytest.raises(IncompatibleStorage, match=r"schema version 99, newer than this CostHQ knows \(1\)"), \
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
