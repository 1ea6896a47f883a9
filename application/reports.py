"""Usage reports across all sessions and imports, and the statusline summary.

Rules: aggregation happens in storage (ReportRepository); blocks are built from hourly rows
by the domain (`build_blocks`); a bad timezone or an empty window is an `invalid_argument`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.git import GitMetadata
from costhq.application.ports.integrations import IntegrationsUnitOfWork
from costhq.domain.errors import InvalidArgument
from costhq.domain.reports import Block, ReportFilter, ReportKind, ReportRow, build_blocks
from costhq.domain.sessions import Dimension, Session, Who


@attrs.frozen(kw_only=True)
class Report:
    """Rows (or blocks) of one report plus its totals."""

    kind: ReportKind
    where: ReportFilter
    by: Dimension | None
    rows: list[ReportRow]
    blocks: list[Block]
    cost: Decimal
    calls: int
    total_tokens: int
    unpriced_calls: int


@attrs.frozen
class RunReport:
    """Build a daily/weekly/monthly/models/projects/users/machines/blocks report, its rows split
    `by` user, machine or project when asked (not blocks). A session stored without user and
    machine counts as `owner`'s (issue 16)."""

    uow: Callable[[], IntegrationsUnitOfWork]
    clock: Clock
    owner: Who | None = None

    def __call__(self, *, kind: ReportKind, where: ReportFilter, by: Dimension | None = None) -> Report:
        if where.since and where.until and where.since >= where.until:
            raise InvalidArgument("--since must be before --until")
        if by is not None and kind is ReportKind.BLOCKS:
            raise InvalidArgument("--by does not apply to blocks (5-hour windows of all usage)")
        where = attrs.evolve(where, owner=where.owner or self.owner)
        with self.uow() as uow:
            rows = uow.reports.hours(where) if kind is ReportKind.BLOCKS else uow.reports.rows(kind, where, by)
        blocks = build_blocks(rows, self.clock.now()) if kind is ReportKind.BLOCKS else []
        return Report(kind=kind, where=where, by=by, rows=[] if blocks else rows, blocks=blocks,
                      cost=sum((r.cost for r in rows), Decimal(0)), calls=sum(r.calls for r in rows),
                      total_tokens=sum(r.total_tokens for r in rows),
                      unpriced_calls=sum(r.unpriced_calls for r in rows))


@attrs.frozen(kw_only=True)
class StatusLine:
    """What `cs statusline` shows.

    Attributes:
        session: the scope's active session, or None.
        block: the active 5-hour block (burn rate), or None.
        today_cost: spend since local midnight is not computed here; the active block covers it.
        budget: budget status from the firewall when installed (opaque mapping), else None.
    """

    session: Session | None
    block: Block | None
    budget: Any = None


@attrs.frozen
class GetStatusLine:
    """The active session of `cwd` and the active block: two indexed reads, nothing heavy."""

    uow: Callable[[], IntegrationsUnitOfWork]
    clock: Clock
    git: GitMetadata

    def __call__(self, *, cwd: str) -> StatusLine:
        from datetime import timedelta

        now = self.clock.now()
        scope = self.git.scope(cwd)
        with self.uow() as uow:
            active = uow.sessions.active_in_scope(scope.path)
            hours = uow.reports.hours(ReportFilter(since=now - timedelta(hours=10)))
        blocks = [b for b in build_blocks(hours, now) if b.active]
        return StatusLine(session=active[0] if active else None, block=blocks[0] if blocks else None)
