"""`cs db migrate` on PostgreSQL (port: SchemaAdmin): the ladder of schema.py."""

from __future__ import annotations

from costhq.adapters.persistence.postgres import schema
from costhq.adapters.persistence.postgres.db import PgDb, connect, translate_errors
from costhq.adapters.persistence.postgres.uow import _default_converter
from costhq.adapters.persistence.postgres.url import redact
from costhq.application.ports.team import MigrationResult


def location(url: str) -> str:
    """Where a database is, for output: the URL with its password replaced by ***."""
    return redact(url)


class PgSchemaAdmin:
    """SchemaAdmin on the database `url` names."""

    def __init__(self, url: str) -> None:
        self._url = url

    def migrate(self) -> MigrationResult:
        conn = connect(self._url)
        try:
            with translate_errors(self._url):
                found = schema.migrate(PgDb(conn, _default_converter(), url=self._url))
        finally:
            conn.close()
        return MigrationResult(backend="postgresql", location=location(self._url), found=found,
                               current=schema.CURRENT_VERSION)
