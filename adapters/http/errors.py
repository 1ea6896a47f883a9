"""The HTTP error table: domain/application errors -> status + `{"error": {code, message, details}}`."""

from __future__ import annotations

from typing import Any

import cattrs
from starlette.requests import Request
from starlette.responses import JSONResponse

from costhq.application.errors import Conflict, IncompatibleStorage, StorageBusy, UpstreamUnavailable
from costhq.domain.errors import BudgetExceeded, CostHQError, InvalidArgument, NotFound, PresetInUse, RunawayDetected

STATUS: dict[type[CostHQError], int] = {
    NotFound: 404,
    BudgetExceeded: 402,
    RunawayDetected: 402,
    Conflict: 409,
    PresetInUse: 409,  # issue 8
    StorageBusy: 503,
    InvalidArgument: 422,
    UpstreamUnavailable: 502,
    IncompatibleStorage: 500,
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def status_of(exc: CostHQError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 400


def costhq_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CostHQError)
    headers = {"Retry-After": "1"} if isinstance(exc, StorageBusy) else None
    details = {k: v for k, v in exc.details.items() if isinstance(v, (str, int, float, bool))}
    return error_response(status_of(exc), exc.code, exc.message, details or None, headers)


def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    details = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else [str(exc)]
    return error_response(422, "invalid_argument", "Invalid request", details)


HANDLERS: dict[Any, Any] = {
    CostHQError: costhq_error,
    cattrs.BaseValidationError: validation_error,
}
