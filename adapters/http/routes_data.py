"""Read endpoints: sessions (search/sort/page), session detail, stats, overview, models, insights, export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from costhq.adapters._shared import views
from costhq.adapters._shared.version import SCHEMA_VERSION, VERSION
from costhq.adapters.http.converter import SessionsParams
from costhq.adapters.http.deps import DashboardDeps
from costhq.adapters.http.json_views import insights_json, model_json, overview_json, providers_json, row_json
from costhq.domain.analytics import SessionQuery, SessionRow, SessionSort
from costhq.domain.errors import InvalidArgument
from costhq.domain.money import UNITS_PER_USD, from_units
from costhq.domain.money import as_json_number as money

EXPORT_COLUMNS = [
    "id",
    "name",
    "status",
    "startTime",
    "endTime",
    "duration",
    "workingDirectory",
    "gitRoot",
    "branch",
    "filesChanged",
    "commits",
    "aiTokens",
    "aiCost",
    "aiCalls",
    "unpricedCalls",
    "costPerHour",
    "notes",
]


def deps(request: Request) -> DashboardDeps:
    return request.app.state.deps  # type: ignore[no-any-return]


def tz_of(request: Request) -> Any:
    """`?tz=Area/City` (the browser's zone), else the server's configured zone."""
    name = request.query_params.get("tz")
    if not name:
        return deps(request).tz
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(f"unknown timezone {name!r}") from exc


def session_query(request: Request) -> SessionQuery:
    p = request.app.state.conv.structure(dict(request.query_params), SessionsParams)
    try:
        sort = SessionSort(p.sort)
        return SessionQuery(
            search=p.search or None,
            status=p.status or None,
            sort=sort,
            descending=p.order != "asc",
            page=p.page,
            per_page=p.perPage,
        )
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc


def list_sessions(request: Request) -> JSONResponse:
    d, q = deps(request), session_query(request)
    page, now = d.search_sessions(query=q), d.clock.now()
    return JSONResponse(
        {
            "sessions": [row_json(s, now) for s in page.items],
            "total": page.total,
            "page": q.page,
            "perPage": q.per_page,
            "pages": -(-page.total // q.per_page),
        }
    )


def _timeline(doc: dict[str, Any]) -> list[dict[str, Any]]:
    kinds = (("file", "files"), ("commit", "commits"), ("ai", "aiUsage"), ("note", "annotations"))
    items = [{"type": kind, **row} for kind, key in kinds for row in doc[key]]
    return sorted(items, key=lambda e: (e["timestamp"], e["type"], e["id"]))


def session_detail(request: Request) -> JSONResponse:
    d = deps(request)
    sid = request.app.state.conv.structure(request.path_params["id"], int)
    det, now = d.get_session(cwd="/", session_id=sid, detail=True), d.clock.now()
    doc = {
        **row_json(det.session, now),
        "files": [views.file_json(f) for f in det.files],
        "commits": [views.commit_json(c) for c in det.commits],
        "aiUsage": [views.usage_json(u) for u in det.usage],
        "annotations": [views.annotation_json(a) for a in det.annotations],
    }
    return JSONResponse({**doc, "commitCount": det.session.commits, "timeline": _timeline(doc)})


def stats(request: Request) -> JSONResponse:
    return JSONResponse(views.stats_json(deps(request).stats()))


def overview(request: Request) -> JSONResponse:
    d = deps(request)
    days = request.app.state.conv.structure(request.query_params.get("days", "30"), int)
    return JSONResponse(overview_json(d.overview(tz=tz_of(request), days=days), d.clock.now()))


def models(request: Request) -> JSONResponse:
    rows = deps(request).models()
    return JSONResponse({"models": [model_json(m) for m in rows], "providers": providers_json(rows)})


def insights(request: Request) -> JSONResponse:
    return JSONResponse(insights_json(deps(request).insights(tz=tz_of(request))))


def export(request: Request) -> Response:
    d, fmt = deps(request), request.query_params.get("format", "json").lower()
    if fmt not in ("json", "csv"):
        raise InvalidArgument("format must be json or csv")
    headers = {"Content-Disposition": f'attachment; filename="costhq-sessions.{fmt}"'}
    if fmt == "csv":
        return StreamingResponse(_csv_chunks(d.export_rows()), media_type="text/csv; charset=utf-8", headers=headers)
    now = d.clock.now()
    rows = [row_json(s, now) for s in d.export_sessions()]
    body = json.dumps({"schemaVersion": SCHEMA_VERSION, "costhqVersion": VERSION, "sessions": rows}, indent=2)
    return Response(body, media_type="application/json", headers=headers)


_CHUNK_ROWS = 2000  # a few hundred KB per chunk: bounded buffers, few thread hops


def _usd(units: int) -> int | float:
    """`as_json_number(from_units(units))` without Decimal: both operands of `/` are exact
    doubles below 2**53, so IEEE division gives the same correctly rounded float."""
    whole, frac = divmod(units, UNITS_PER_USD)
    if not frac:
        return whole
    return units / 1e10 if abs(units) < 2**53 else money(from_units(units))


def _csv_chunks(rows: list[SessionRow]) -> Iterator[str]:
    """The CSV export (EXPORT_COLUMNS) straight from flat rows, streamed in chunks."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for i in range(0, len(rows), _CHUNK_ROWS):
        writer.writerows((*r[:12], _usd(r[12]), r[13], r[14], _usd(r[15]), r[16]) for r in rows[i:i + _CHUNK_ROWS])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue()


ROUTES = [
    Route("/sessions", list_sessions, methods=["GET"], name="sessions"),
    Route("/sessions/{id}", session_detail, methods=["GET"], name="session"),
    Route("/stats", stats, methods=["GET"], name="stats"),
    Route("/overview", overview, methods=["GET"], name="overview"),
    Route("/models", models, methods=["GET"], name="models"),
    Route("/insights", insights, methods=["GET"], name="insights"),
    Route("/export", export, methods=["GET"], name="export"),
]
