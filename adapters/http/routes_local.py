"""Local models & hardware presets API (issue 8): presets CRUD, local models, compute per tier/model.

State-changing calls go through the same SecurityMiddleware as pricing overrides (same-origin
+ X-CSRF-Token on loopback, the access token in remote mode).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
from anyio.to_thread import run_sync
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from costhq.adapters._shared.views_local import compute_json, model_json, preset_json
from costhq.adapters.http.routes_admin import body
from costhq.adapters.http.routes_data import deps


@attrs.frozen(kw_only=True)
class LocalDeps:
    """The local-models use cases the routes call (container instances, or ones over fakes)."""

    list_presets: Callable[[], Any]
    set_preset: Callable[..., Any]
    remove_preset: Callable[..., Any]
    list_models: Callable[[], Any]
    compute: Callable[..., Any]


@attrs.frozen(kw_only=True)
class PresetBody:
    """PUT /api/v1/hardware."""

    name: str
    usdPerHour: Decimal
    description: str | None = None


def _local(request: Request) -> LocalDeps:
    return deps(request).local  # type: ignore[no-any-return]


def hardware(request: Request) -> JSONResponse:
    d = _local(request)
    models, summary = d.list_models(), d.compute()
    used = {g.key: g for g in summary.by_model}
    return JSONResponse({"presets": [preset_json(p) for p in d.list_presets()],
                         "localModels": [model_json(m, used.get(m.name)) for m in models],
                         "compute": compute_json(summary)})


async def put_hardware(request: Request) -> JSONResponse:
    b: PresetBody = await body(request, PresetBody)
    p = await run_sync(lambda: _local(request).set_preset(name=b.name, usd_per_hour=b.usdPerHour,
                                                          description=b.description))
    return JSONResponse({"preset": preset_json(p)})


def delete_hardware(request: Request) -> JSONResponse:
    name = request.path_params["name"]
    _local(request).remove_preset(name=name)
    return JSONResponse({"removed": name})


def local_models(request: Request) -> JSONResponse:
    d = _local(request)
    summary = d.compute()
    used = {g.key: g for g in summary.by_model}
    return JSONResponse({"localModels": [model_json(m, used.get(m.name)) for m in d.list_models()],
                         "compute": compute_json(summary)})


ROUTES = [
    Route("/hardware", hardware, methods=["GET"], name="hardware"),
    Route("/hardware", put_hardware, methods=["PUT"], name="hardware_put"),
    Route("/hardware/{name}", delete_hardware, methods=["DELETE"], name="hardware_delete"),
    Route("/local", local_models, methods=["GET"], name="local_models"),
]
