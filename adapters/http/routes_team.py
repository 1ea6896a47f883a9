"""Team view (issue 16): `GET /api/v1/team`, spend by user, machine and project of the sessions a
filter selects (`user`, `machine`, `project`, and `since`/`until` local dates, both inclusive)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from costhq.adapters._shared.views import stats_json
from costhq.adapters.http.converter import TeamParams
from costhq.adapters.http.routes_data import deps, tz_of
from costhq.domain.errors import InvalidArgument
from costhq.domain.sessions import Dimension
from costhq.domain.team import TeamFilter

_KEYS = {Dimension.USER: "user", Dimension.MACHINE: "machine", Dimension.PROJECT: "project"}


def _midnight(text: str | None, name: str, tz: tzinfo, days: int = 0) -> datetime | None:
    """Local midnight starting the date `text` (+ `days`), in UTC; None when not given."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{name} must be a date (YYYY-MM-DD), not {text!r}") from None
    return datetime.combine(day + timedelta(days=days), time(), tz).astimezone(UTC)


def team_filter(p: TeamParams, tz: tzinfo) -> TeamFilter:
    start, end = _midnight(p.since, "since", tz), _midnight(p.until, "until", tz, days=1)
    if start is not None and end is not None and start >= end:
        raise InvalidArgument("since must not be after until")
    return TeamFilter(user=p.user or None, machine=p.machine or None, project=p.project or None, start=start, end=end)


def team_json(view: Any, p: TeamParams) -> dict[str, Any]:
    out: dict[str, Any] = {
        "filters": {"user": p.user or None, "machine": p.machine or None, "project": p.project or None,
                    "since": p.since or None, "until": p.until or None},
        "totals": stats_json(view.total),
    }
    for dim, key in _KEYS.items():
        out[f"by{key.capitalize()}"] = [{"key": g.key, **stats_json(g.stats)} for g in view.by[dim]]
        out[f"{key}s"] = view.choices[dim]
    return out


def team(request: Request) -> JSONResponse:
    p = request.app.state.conv.structure(dict(request.query_params), TeamParams)
    return JSONResponse(team_json(deps(request).team(where=team_filter(p, tz_of(request))), p))


ROUTES = [Route("/team", team, methods=["GET"], name="team")]
