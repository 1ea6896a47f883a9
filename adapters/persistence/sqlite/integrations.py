"""SQLite's side of the reports (port: ReportRepository; the rest is persistence/sql/reports.py)
and schema step v3 (import cursors).

Assumptions: runs inside an ApswUnitOfWork transaction. Reports aggregate in SQL; the only
Python in the loop is `costhq_bucket`, a deterministic SQL function mapping a stored UTC time
to its day/week/month in an IANA zone (SQLite knows no zones), memoised per minute.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from costhq.adapters.persistence.sql.reports import SqlReportRepository
from costhq.adapters.persistence.sqlite.db import Db
from costhq.domain.reports import ReportKind

V3_SQL = """
CREATE TABLE IF NOT EXISTS import_cursors (
    path TEXT PRIMARY KEY,
    byte_offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_scope_start ON sessions(working_directory, start_time);
"""


@functools.lru_cache(maxsize=65536)
def _bucket(minute: str, kind: str, tz: str) -> str:
    local = datetime.fromisoformat(minute + ":00+00:00").astimezone(ZoneInfo(tz))
    if kind == "daily":
        return local.date().isoformat()
    if kind == "weekly":
        return (local.date() - timedelta(days=local.weekday())).isoformat()
    return f"{local.year:04d}-{local.month:02d}"


def costhq_bucket(ts: str, kind: str, tz: str) -> str:
    """SQL function: stored UTC text -> local day / week (Monday) / month key."""
    return _bucket(ts[:16], kind, tz)


class ApswReportRepository(SqlReportRepository):
    """ReportRepository on SQLite: calendar keys by `costhq_bucket` (SQLite knows no zones)."""

    KEYS: ClassVar[dict[ReportKind, str]] = {**SqlReportRepository.KEYS, **{
        kind: f"costhq_bucket(u.timestamp, '{kind.value}', :tz)"
        for kind in (ReportKind.DAILY, ReportKind.WEEKLY, ReportKind.MONTHLY)}}

    def __init__(self, db: Db) -> None:
        super().__init__(db)
        db.conn.create_scalar_function("costhq_bucket", costhq_bucket, 3, deterministic=True)
