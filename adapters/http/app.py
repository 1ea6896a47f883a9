"""`make_app(deps)`: the Starlette dashboard and JSON API (`/api/v1/*`, aliased at `/api/*`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from costhq.adapters.http import events, openapi, pages, routes_admin, routes_data, routes_local, routes_team
from costhq.adapters.http.converter import make_converter
from costhq.adapters.http.deps import DashboardDeps
from costhq.adapters.http.errors import HANDLERS
from costhq.adapters.http.json_views import row_json
from costhq.adapters.http.security import SecurityMiddleware
from costhq.domain.analytics import SessionQuery


def _openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


def _live_snapshot(deps: DashboardDeps) -> dict[str, Any]:
    page, now = deps.search_sessions(query=SessionQuery(status="active", per_page=50)), deps.clock.now()
    mark = deps.watch()
    return {
        "active": [row_json(s, now) for s in page.items],
        "sessions": mark.sessions,
        "maxSessionId": mark.max_session_id,
        "lastActivity": mark.last_activity,
    }


def make_app(deps: DashboardDeps, *, poll_interval: float = 1.0) -> Any:
    """The ASGI app (Starlette wrapped in the security middleware)."""
    api_routes: list[Route] = [
        *routes_data.ROUTES,
        *routes_admin.ROUTES,
        *routes_local.ROUTES,  # issue 8: hardware presets, local models
        *routes_team.ROUTES,  # issue 16: spend by user, machine and project
        *events.ROUTES,
        Route("/openapi.json", _openapi, methods=["GET"], name="openapi"),
    ]
    feed = events.ChangeFeed(deps.watch, lambda: _live_snapshot(deps), interval=poll_interval)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await feed.close()

    app = Starlette(
        routes=[Mount("/api/v1", routes=api_routes), Mount("/api", routes=api_routes), *pages.ROUTES],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    assets = pages.load_assets()
    app.state.deps, app.state.conv, app.state.feed = deps, make_converter(), feed
    app.state.assets_by_name = {a.name: a for a in assets.values()}
    app.state.index_html = pages.render_index(assets, deps.security)
    app.state.openapi = openapi.build(api_routes)
    return SecurityMiddleware(app, deps.security)
