"""Proxy error responses: the provider's own error envelope, our code inside, `x-costhq-error` header.

One mapping table (STYLE §2.8). Bodies are generic: never a stack trace or an upstream detail.
402 (not 429) for firewall refusals, since the official SDKs retry 429 by themselves.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from costhq.application.errors import StorageBusy, UpstreamUnavailable
from costhq.domain.errors import BudgetExceeded, CostHQError, InvalidArgument, RunawayDetected
from costhq.domain.money import as_json_number

#: code -> (HTTP status, provider error type, generic message)
ERRORS: dict[str, tuple[int, str, str]] = {
    "forbidden": (403, "permission_error", "The CostHQ proxy only accepts loopback connections"),
    "invalid_path": (400, "invalid_request_error", "Path not allowed by the CostHQ proxy"),
    "not_found": (404, "not_found_error", "Unknown route: use /anthropic/... or /openai/..."),
    "websocket_unsupported": (426, "invalid_request_error",
                              "The CostHQ proxy forwards HTTP only: retry over HTTP, not WebSockets"),
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


_MONEY_KEYS = frozenset({"limit", "spent", "reserved", "worst_case", "expected"})


def _camel(key: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def public_details(details: dict[str, Any]) -> dict[str, Any]:
    """A refusal's details for the client: camelCase keys, money as JSON numbers, the rest as text."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if key in _MONEY_KEYS and value is not None:
            try:
                value = as_json_number(Decimal(str(value)))
            except InvalidOperation:
                value = str(value)
        elif value is not None and not isinstance(value, (bool, int, str)):
            value = str(value)
        out[_camel(key)] = value
    return out


def error_response(
    provider: str | None, code: str, message: str | None = None, details: dict[str, Any] | None = None,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of an error in `provider`'s envelope (OpenAI's when unknown).

    `message` and `details` may only carry our own wording and figures (e.g. a budget's rule,
    spent and limit), never upstream text.
    """
    status, kind, generic = ERRORS.get(code, ERRORS["internal_error"])
    text = message or generic
    if code == "internal_error":
        text, details = generic, None  # an unexpected error's message may hold internals: never pass it on
    inner: dict[str, object] = {"type": kind, "message": text, "code": code}
    if details:
        inner["details"] = public_details(details)
    if provider == "anthropic":
        doc: dict[str, object] = {"type": "error", "error": inner}
    else:
        doc = {"error": {"message": text, "type": kind, "param": None, "code": code,
                         **({"details": inner["details"]} if details else {})}}
    body = json.dumps(doc).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-costhq-error", code.encode())]
    if status == 503:
        headers.append((b"retry-after", b"1"))  # the SDKs honour it and retry
    return status, headers, body
