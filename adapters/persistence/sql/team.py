"""Who and where in SQL (issue 16), shared by the SQL back ends: a session's user, machine and
project as expressions, and the WHERE terms of a filter on them, in the back end's placeholder
style (`ph("user")` -> `:user` or `%(user)s`).

A session stored without user and machine (SQLite rows older than schema v10) counts as the
filter's `owner` (domain/team.py); CAST keeps the parameter typed for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from costhq.adapters.persistence.converter import time_text
from costhq.domain.money import from_units
from costhq.domain.sessions import Dimension, Who

if TYPE_CHECKING:  # the dashboard's read models: `cs log-ai` (local models' filters) never loads them
    from costhq.domain.team import GroupTotals, TeamFilter

Placeholder = Callable[[str], str]


def who_expressions(ph: Placeholder, table: str = "") -> dict[Dimension, str]:
    """The user, machine and project of a session row (`table` is an alias prefix like `s.`)."""
    return {
        Dimension.USER: f"COALESCE({table}user_name, CAST({ph('owner_user')} AS TEXT), '')",
        Dimension.MACHINE: f"COALESCE({table}machine, CAST({ph('owner_machine')} AS TEXT), '')",
        Dimension.PROJECT: f"{table}working_directory",
    }


def who_terms(ph: Placeholder, *, user: str | None, machine: str | None, project: str | None,
              owner: Who | None, table: str = "") -> tuple[list[str], dict[str, Any]]:
    """WHERE terms (ANDed) keeping sessions of `user`, `machine` and `project` (each when set), and their params."""
    cols = who_expressions(ph, table)
    params: dict[str, Any] = {"owner_user": owner.user if owner else None,
                              "owner_machine": owner.machine if owner else None}
    terms = []
    for dim, value in ((Dimension.USER, user), (Dimension.MACHINE, machine), (Dimension.PROJECT, project)):
        if value is not None:
            terms.append(f"{cols[dim]} = {ph('who_' + dim.value)}")
            params["who_" + dim.value] = value
    return terms, params


def window_terms(ph: Placeholder, column: str, start: datetime | None,
                 end: datetime | None) -> tuple[list[str], dict[str, Any]]:
    """Terms keeping `column` (stored UTC text) in [start, end), each bound when set."""
    terms, params = [], {}
    if start is not None:
        terms.append(f"{column} >= {ph('win_start')}")
        params["win_start"] = time_text(start)
    if end is not None:
        terms.append(f"{column} < {ph('win_end')}")
        params["win_end"] = time_text(end)
    return terms, params


def spend_query(ph: Placeholder, where: TeamFilter, now: datetime, by: Dimension | None,
                totals: str) -> tuple[str, dict[str, Any]]:
    """DashboardQueries.spend as one statement over `sessions`; `totals` is the back end's
    select list of Totals' fields (`cost` in units)."""
    terms, params = who_terms(ph, user=where.user, machine=where.machine, project=where.project, owner=where.owner)
    window, bounds = window_terms(ph, "start_time", where.start, where.end)
    cond = " WHERE " + " AND ".join(terms + window) if terms or window else ""
    params.update(bounds, now=time_text(now))
    if by is None:
        return f"SELECT '' AS key, {totals} FROM sessions{cond}", params
    return (f"SELECT {who_expressions(ph)[by]} AS key, {totals} FROM sessions{cond}"
            " GROUP BY 1 ORDER BY cost DESC, sessions DESC, key"), params


def group_totals(row: dict[str, Any]) -> GroupTotals:
    """A `spend_query` row -> GroupTotals."""
    from costhq.domain.analytics import Totals
    from costhq.domain.team import GroupTotals

    key = row.pop("key")
    return GroupTotals(key=key, totals=Totals(**{**row, "cost": from_units(row["cost"])}))
