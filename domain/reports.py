"""Usage reports: aggregated rows per bucket/model/project and 5-hour billing blocks.

Rules: costs are exact Decimal sums; unpriced calls are counted, never shown as $0 silently.
A block starts at the hour (UTC) of the first call after the previous block ended and lasts
5 hours; its burn rate is its cost over the time between its first and last call (at least
one minute); an active block (now inside it) projects that rate to the block's end.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from costhq.domain.money import ZERO, quantize
from costhq.domain.sessions import Who

BLOCK_LENGTH = timedelta(hours=5)
_MIN_SPAN = timedelta(minutes=1)


class ReportKind(enum.Enum):
    """What a report groups by."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    MODELS = "models"
    PROJECTS = "projects"
    BLOCKS = "blocks"
    USERS = "users"  # issue 16: team mode
    MACHINES = "machines"



@attrs.frozen(kw_only=True)
class ReportFilter:
    """Which calls a report covers.

    Attributes:
        since: inclusive aware lower bound, or None.
        until: exclusive aware upper bound, or None.
        project: scope path (session working directory) to keep, or None.
        model: model substring (case-insensitive) to keep, or None.
        timezone: IANA zone of the day/week/month buckets.
        user / machine: only sessions of this user / machine (issue 16).
        owner: who a session stored without user and machine belongs to (domain.team).
    """

    since: datetime | None = None
    until: datetime | None = None
    project: str | None = None
    model: str | None = None
    timezone: str = "UTC"
    user: str | None = None
    machine: str | None = None
    owner: Who | None = None


@attrs.frozen(kw_only=True)
class ReportRow:
    """One aggregated group.

    Attributes:
        key: bucket start (`2026-11-23`, week `2026-11-23` (Monday), `2026-11`), model or project.
        calls: AI calls.
        input / cache_read / cache_write / output / reasoning / total_tokens: token sums.
        cost: priced cost (unpriced calls add nothing).
        unpriced_calls: calls without a price.
        first / last: times of the first and last call.
        group: the user, machine or project of the row when the report is grouped `--by` one.
    """

    key: str
    calls: int
    input: int
    cache_read: int
    cache_write: int
    output: int
    reasoning: int
    total_tokens: int
    cost: Decimal
    unpriced_calls: int
    first: datetime
    last: datetime
    group: str | None = None


@attrs.frozen(kw_only=True)
class Block:
    """A 5-hour window of usage.

    Attributes:
        start / end: the window.
        calls, total_tokens, cost, unpriced_calls: sums.
        first / last: first and last call inside it.
        burn_rate: USD per hour.
        projected_cost: cost at the block's end at the current burn rate (active block), else cost.
        active: now falls inside the window.
    """

    start: datetime
    end: datetime
    calls: int
    total_tokens: int
    cost: Decimal
    unpriced_calls: int
    first: datetime
    last: datetime
    burn_rate: Decimal
    projected_cost: Decimal
    active: bool


def _floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def build_blocks(hours: Iterable[ReportRow], now: datetime) -> list[Block]:
    """Blocks from hourly rows (key ignored; `first`/`last` in UTC), oldest first.

    Hour rows are exact inputs: blocks start on whole hours and last whole hours, so every
    call of an hour falls in the same block.
    """
    groups: list[list[ReportRow]] = []
    start: datetime | None = None
    for row in sorted(hours, key=lambda r: r.first):
        if start is None or row.first >= start + BLOCK_LENGTH:
            start = _floor_hour(row.first)
            groups.append([])
        groups[-1].append(row)
    return [_block(g, now) for g in groups]


def _block(rows: list[ReportRow], now: datetime) -> Block:
    start = _floor_hour(rows[0].first)
    end = start + BLOCK_LENGTH
    cost = sum((r.cost for r in rows), ZERO)
    first, last = rows[0].first, max(r.last for r in rows)
    active = start <= now < end
    span = max((now if active else last) - first, _MIN_SPAN)
    rate = quantize(cost / Decimal(span.total_seconds()) * 3600)
    projected = quantize(cost + rate * Decimal((end - now).total_seconds()) / 3600) if active else cost
    return Block(start=start, end=end, calls=sum(r.calls for r in rows),
                 total_tokens=sum(r.total_tokens for r in rows), cost=cost,
                 unpriced_calls=sum(r.unpriced_calls for r in rows), first=first, last=last,
                 burn_rate=rate, projected_cost=projected, active=active)
