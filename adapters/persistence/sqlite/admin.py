"""`cs db migrate` on the SQLite file (port: SchemaAdmin): its `PRAGMA user_version` ladder."""

from __future__ import annotations

from pathlib import Path

import apsw

from costhq.adapters.persistence.sqlite import schema
from costhq.adapters.persistence.sqlite.connection import BUSY_TIMEOUT_MS
from costhq.adapters.persistence.sqlite.transaction import translate_errors
from costhq.application.ports.team import MigrationResult


class SqliteSchemaAdmin:
    """SchemaAdmin on the data dir's `sessions.db` (created when missing)."""

    def __init__(self, db_path: str) -> None:
        self._path = db_path

    def migrate(self) -> MigrationResult:
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        with translate_errors():
            conn = apsw.Connection(self._path)
            try:
                conn.set_busy_timeout(BUSY_TIMEOUT_MS)
                found = schema.migrate(conn)
            finally:
                conn.close()
        return MigrationResult(backend="sqlite", location=self._path, found=found, current=schema.CURRENT_VERSION)
