"""PostgreSQL's side of the reports (port: ReportRepository; the rest is persistence/sql/reports.py).

Assumptions: runs inside a PgUnitOfWork transaction. Reports aggregate in SQL; day, week
(Monday) and month buckets are computed by PostgreSQL's own IANA zone support
(`AT TIME ZONE`) on the stored UTC text, after the zone name is checked against Python's.
"""

from __future__ import annotations

from typing import ClassVar

from costhq.adapters.persistence.sql.reports import SqlReportRepository
from costhq.domain.reports import ReportKind

_LOCAL = "(u.timestamp::timestamptz AT TIME ZONE :tz)"


class PgReportRepository(SqlReportRepository):
    """ReportRepository on PostgreSQL: calendar keys by its own IANA zones (`AT TIME ZONE`)."""

    KEYS: ClassVar[dict[ReportKind, str]] = {
        **SqlReportRepository.KEYS,
        ReportKind.DAILY: f"to_char({_LOCAL}, 'YYYY-MM-DD')",
        ReportKind.WEEKLY: f"to_char(date_trunc('week', {_LOCAL}), 'YYYY-MM-DD')",
        ReportKind.MONTHLY: f"to_char({_LOCAL}, 'YYYY-MM')",
    }
