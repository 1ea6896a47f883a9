"""Team spend (issue 16): session totals filtered and grouped by user, machine and project, for
`cs stats --user/--machine/--project/--by` and the dashboard's Team view.

Rules: storage aggregates (DashboardQueries.spend); a session stored without user and machine
counts as `owner`'s (this machine's configured user, domain/team.py); a window covers the
sessions started in it, like the overview's totals.
"""

from __future__ import annotations

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.dashboard import DashboardQueries
from costhq.domain.analytics import Totals
from costhq.domain.sessions import Dimension, Stats, Who
from costhq.domain.team import GroupTotals, TeamFilter


def as_stats(t: Totals) -> Stats:
    """The `cs stats` figures of a set of sessions."""
    return Stats(total_sessions=t.sessions, active_sessions=t.active, total_seconds=t.seconds,
                 files_changed=t.files, commits=t.commits, ai_cost=t.cost, ai_tokens=t.tokens,
                 ai_calls=t.calls, unpriced_calls=t.unpriced_calls)


@attrs.frozen(kw_only=True)
class SpendGroup:
    """One user, machine or project and its sessions' figures."""

    key: str
    stats: Stats


def _groups(rows: list[GroupTotals]) -> list[SpendGroup]:
    return [SpendGroup(key=g.key, stats=as_stats(g.totals)) for g in rows]


@attrs.frozen(kw_only=True)
class TeamSpend:
    """Totals of the filtered sessions and, when grouped, one entry per key (most expensive first)."""

    where: TeamFilter
    by: Dimension | None
    total: Stats
    groups: list[SpendGroup]


@attrs.frozen
class GetTeamSpend:
    """Totals of the sessions `where` selects, grouped `by` a dimension when given."""

    queries: DashboardQueries
    clock: Clock
    owner: Who | None = None

    def __call__(self, *, where: TeamFilter, by: Dimension | None = None) -> TeamSpend:
        where = attrs.evolve(where, owner=where.owner or self.owner)
        now = self.clock.now()
        total = self.queries.spend(where, now=now)[0].totals
        groups = _groups(self.queries.spend(where, now=now, by=by)) if by is not None else []
        return TeamSpend(where=where, by=by, total=as_stats(total), groups=groups)


@attrs.frozen(kw_only=True)
class TeamView:
    """The dashboard's Team page: filtered totals, spend by each dimension, and every known
    user, machine and project (the filters' choices, never narrowed by the filters)."""

    where: TeamFilter
    total: Stats
    by: dict[Dimension, list[SpendGroup]]
    choices: dict[Dimension, list[str]]


@attrs.frozen
class GetTeamView:
    """Spend by user, by machine and by project of the sessions `where` selects."""

    queries: DashboardQueries
    clock: Clock
    owner: Who | None = None

    def __call__(self, *, where: TeamFilter) -> TeamView:
        where = attrs.evolve(where, owner=where.owner or self.owner)
        now = self.clock.now()
        by = {d: self.queries.spend(where, now=now, by=d) for d in Dimension}
        narrowed = attrs.evolve(where, owner=None) != TeamFilter()
        every = {d: self.queries.spend(TeamFilter(owner=where.owner), now=now, by=d) for d in Dimension} \
            if narrowed else by
        return TeamView(where=where, total=as_stats(self.queries.spend(where, now=now)[0].totals),
                        by={d: _groups(rows) for d, rows in by.items()},
                        choices={d: sorted(g.key for g in rows) for d, rows in every.items()})
