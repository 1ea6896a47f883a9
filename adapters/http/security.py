"""Security middleware (pure ASGI, so SSE streams pass untouched).

Rules, in order:
1. Host allow-list (DNS-rebinding defence): on loopback, Host must be 127.0.0.1 / localhost /
   [::1] (or the bound host) with our port. In remote mode (--host 0.0.0.0) any Host is
   accepted because every API call must carry the random token instead.
2. Remote mode: `/api/*` needs the token (`Authorization: Bearer`, `X-CostHQ-Token` or `?token=`).
3. State-changing methods need a same-origin request (Origin equal to our origin and
   Sec-Fetch-Site same-origin/none when the browser sends them) plus the CSRF token in
   `X-CSRF-Token` (loopback) or the API token (remote mode, where the HTML never carries one).
4. Every response gets CSP without external sources, X-Frame-Options DENY, nosniff and
   Referrer-Policy no-referrer; API responses get `X-CostHQ-Api-Version: 1`.
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qs

from costhq.adapters.http.deps import Security

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = (
    # style-src-attr: progress bars set widths in style attributes; no script can run from there.
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


class SecurityMiddleware:
    """Wraps the Starlette app; see the module docstring for the rules."""

    def __init__(self, app: Any, security: Security) -> None:
        self.app = app
        self.sec = security
        names = {"127.0.0.1", "localhost", "[::1]", f"[{security.host}]" if ":" in security.host else security.host}
        self.allowed = {f"{n}:{security.port}" for n in names} | (names if security.port == 80 else set())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        is_api = path.startswith("/api/")
        refusal = self._check(scope, headers, is_api)
        extra = list(HEADERS) + ([(b"x-costhq-api-version", b"1")] if is_api else [])

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        if refusal is not None:
            status, code, message = refusal
            body = json.dumps({"error": {"code": code, "message": message}}).encode()
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send_with_headers)

    def _token(self, scope: dict[str, Any], headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        if "x-costhq-token" in headers:
            return headers["x-costhq-token"]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return query.get("token", [None])[0]

    def _check(self, scope: dict[str, Any], headers: dict[str, str], is_api: bool) -> tuple[int, str, str] | None:
        host = headers.get("host", "")
        remote = self.sec.api_token is not None
        if not remote and host.lower() not in self.allowed:
            return 403, "forbidden_host", "Unexpected Host header"
        if remote and is_api and not _same(self._token(scope, headers), self.sec.api_token):
            return 401, "unauthorized", "A valid token is required (Authorization: Bearer <token> or ?token=)"
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and origin.lower() != f"{scope.get('scheme', 'http')}://{host}".lower():
            return 403, "cross_origin", "Cross-origin request refused"
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return 403, "cross_origin", "Cross-site request refused"
        if not remote and not _same(headers.get("x-csrf-token"), self.sec.csrf_token):
            return 403, "csrf_failed", "Missing or invalid X-CSRF-Token"
        return None
