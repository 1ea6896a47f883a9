"""Proxy error responses: the provider's own error envelope, our code inside, `x-costhq-error` header.

One mapping table (STYLE §2.8). Bodies are generic: never a stack trace or an upstream detail.
402 (not 429) for firewall refusals, since the official SDKs retry 429 by themselves.
"""

from __future__ import annotations

import json

from costhq.application.errors import StorageBusy, UpstreamUnavailable
from costhq.domain.errors import BudgetExceeded, CostHQError, InvalidArgument, RunawayDetected

#: code -> (HTTP status, provider error type, generic message)
ERRORS: dict[str, tuple[int, str, str]] = {
    "forbidden": (403, "permission_error", "The CostHQ proxy only accepts loopback connections"),
    "invalid_path": (400, "invalid_request_error", "Path not allowed by the CostHQ proxy"),
    "not_found": (404, "not_found_error", "Unknown route: use /anthropic/... or /openai/..."),
    "payload_too_large": (413, "request_too_large", "Request body exceeds the proxy's 10 MB limit"),
    "upstream_error": (502, "api_error", "Upstream request failed"),
    "upstream_timeout": (504, "api_error", "Upstream request timed out"),
    BudgetExceeded.code: (402, "budget_exceeded", "Blocked by the CostHQ spend firewall: budget exceeded"),
    RunawayDetected.code: (402, "runaway_detected", "Blocked by the CostHQ spend firewall: runaway agent"),
    "storage_busy": (503, "overloaded_error", "CostHQ storage is busy; retry shortly"),
    "internal_error": (500, "api_error", "Internal proxy error"),
}

_BY_CLASS: dict[type[CostHQError], str] = {
    BudgetExceeded: BudgetExceeded.code,
    RunawayDetected: RunawayDetected.code,
    UpstreamUnavailable: "upstream_error",
    StorageBusy: "storage_busy",
    InvalidArgument: "invalid_path",
}


def code_for(exc: CostHQError) -> str:
    """The table code of a domain/application error (most specific class first)."""
    for cls in type(exc).__mro__:
        if cls in _BY_CLASS:
            return _BY_CLASS[cls]
    return "internal_error"


def error_response(
    provider: str | None, code: str, message: str | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of an error in `provider`'s envelope (OpenAI's when unknown).

    `message` may only carry our own wording (e.g. a budget explanation), never upstream text.
    """
    status, kind, generic = ERRORS.get(code, ERRORS["internal_error"])
    text = message or generic
    if code == "internal_error":
        text = generic  # an unexpected error's message may hold internals: never pass it on
    if provider == "anthropic":
        doc: dict[str, object] = {"type": "error", "error": {"type": kind, "message": text, "code": code}}
    else:
        doc = {"error": {"message": text, "type": kind, "param": None, "code": code}}
    body = json.dumps(doc).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-costhq-error", code.encode())]
    if status == 503:
        headers.append((b"retry-after", b"1"))  # the SDKs honour it and retry
    return status, headers, body
