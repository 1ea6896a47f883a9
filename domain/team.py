"""Who and where (issue 16): the user and machine of each session, and spend grouped by them.

Rules: every session carries the user and machine that created it. A session stored before the
columns existed (SQLite schema v10) has neither; it belongs to the database's owner, the
configured `[user] name` / `machine` of whoever reads it (`Who` passed as `owner`), so old
history groups under the local user instead of under an empty name.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from costhq.domain.analytics import Totals
from costhq.domain.errors import InvalidArgument
from costhq.domain.sessions import Who


@attrs.frozen(kw_only=True)
class TeamFilter:
    """Which sessions team totals cover (every set field must match).

    Attributes:
        user / machine: exact user or machine name.
        project: exact scope path (the session's working directory).
        start / end: sessions started in [start, end) (aware UTC), open when None.
        owner: who a session stored without user and machine belongs to (see module docstring).
    """

    user: str | None = None
    machine: str | None = None
    project: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    owner: Who | None = None

    def __attrs_post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise InvalidArgument("the start of the window must be before its end")


@attrs.frozen(kw_only=True)
class GroupTotals:
    """Totals of one user, machine or project.

    Attributes:
        key: the user name, machine name or project path.
        totals: the sessions' totals.
    """

    key: str
    totals: Totals
