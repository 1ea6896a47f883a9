"""APSW unit of work (port: UnitOfWork) with its repositories `.sessions`, `.usage`, `.activity`.

Assumptions: a fresh connection per unit of work, in WAL with `transaction_mode = IMMEDIATE`
(see connection.py); `with conn:` commits on clean exit and rolls back on exception, then the
connection is closed. No apsw exception leaves this package.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import apsw
import cattrs
from costhq.adapters.persistence.apsw_db import Db
from costhq.adapters.persistence.apsw_records import ApswActivityRepository, ApswUsageRepository
from costhq.adapters.persistence.apsw_sessions import ApswSessionRepository
from costhq.adapters.persistence.connection import open_connection, translate_errors
from costhq.adapters.persistence.converter import make_converter


class ApswUnitOfWork:
    """UnitOfWork: one fresh connection and one IMMEDIATE transaction per `with` block.

    Commits on clean exit, rolls back on exception, then closes the connection.
    """

    sessions: ApswSessionRepository
    usage: ApswUsageRepository
    activity: ApswActivityRepository

    def __init__(self, db_path: str, converter: cattrs.Converter | None = None) -> None:
        self._path = str(db_path)
        self._conv = converter or _default_converter()
        self._conn: apsw.Connection | None = None

    def __enter__(self) -> Self:
        conn = open_connection(self._path)
        try:
            with translate_errors():
                conn.__enter__()
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        db = Db(conn, self._conv)
        self.sessions, self.usage, self.activity = (
            ApswSessionRepository(db), ApswUsageRepository(db), ApswActivityRepository(db))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None, "unit of work was not entered"
        try:
            with translate_errors():
                conn.__exit__(exc_type, exc, tb)
        finally:
            conn.close()


_CONVERTER: list[cattrs.Converter] = []


def _default_converter() -> cattrs.Converter:
    # Built on first use, not at import (no import-time side effects); bootstrap may pass its own.
    if not _CONVERTER:
        _CONVERTER.append(make_converter())
    return _CONVERTER[0]

