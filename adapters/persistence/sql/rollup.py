"""The hourly rollups' time split, shared by the SQL back ends (SQLite's `spend_hourly` of
schema v6, PostgreSQL's of schema v4): whole UTC hours are read from the rollup, only the
partial hours at a window's edges from raw `ai_usage` rows, so windows that do not start on a
UTC hour (zones like UTC+5:30, "the last 24 hours") stay exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from costhq.adapters.persistence.converter import time_text

ROLLUP = "spend_hourly"
RAW = "ai_usage"


def hour_spans(start: datetime | None, end: datetime | None) -> list[tuple[str, str | None, str | None]]:
    """[start, end) as (table, lo, hi) parts (a bound is None when open): whole UTC hours
    ('YYYY-MM-DDTHH' bounds on `hour`) from ROLLUP, the partial hours at either edge
    (time-text bounds on `timestamp`) from RAW."""
    lo = None if start is None else start.replace(minute=0, second=0, microsecond=0)
    if start is not None and lo is not None and lo < start:
        lo += timedelta(hours=1)
    hi = None if end is None else end.replace(minute=0, second=0, microsecond=0)
    if start is not None and end is not None and lo is not None and hi is not None and lo >= hi:
        return [(RAW, time_text(start), time_text(end))]  # inside one hour
    spans: list[tuple[str, str | None, str | None]] = [
        (ROLLUP, None if lo is None else time_text(lo)[:13], None if hi is None else time_text(hi)[:13])]
    if start is not None and lo is not None and start < lo:
        spans.append((RAW, time_text(start), time_text(lo)))
    if end is not None and hi is not None and hi < end:
        spans.append((RAW, time_text(hi), time_text(end)))
    return spans
