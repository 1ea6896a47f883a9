"""Routing of proxied paths: a fixed table of prefixes -> (provider, upstream base URL).

Rules (DESIGN §7, issue 3):
- `/anthropic/<rest>` and `/openai/<rest>` go to their provider's upstream with `<rest>` as path;
  the doubled `/v1/v1/` that SDKs produce from a base URL ending in `/v1` becomes `/v1/`.
- The upstream host comes only from the table (built from local configuration), never from the
  request: paths holding encoded separators or dots (`%2f`, `%5c`, `%2e`), `..` segments,
  backslashes, `//` or a scheme (`://`) are refused, and the upstream URL keeps the table's
  scheme, host and port whatever the path says.
- Table-driven so that later routes (issue 8's `/local/<name>/...`) are one more entry.

Request kinds (issue 17): only a POST to a generation endpoint is a *model call* (metered, recorded,
checked by the firewall). Everything else (Claude Code's start-up `HEAD /v1` and `GET /v1/models`,
`count_tokens`, files, batches, retrieving a stored response...) is forwarded and only counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

DEFAULT_UPSTREAMS: Mapping[str, str] = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com",
}

# Generation endpoints (path suffixes, after the route's prefix): OpenAI and OpenAI-compatible
# servers, Anthropic, Codex's remote compaction, and Ollama's native API (issue 8's local routes).
MODEL_ENDPOINTS = (
    "/chat/completions", "/completions", "/responses", "/responses/compact", "/embeddings",
    "/images/generations", "/images/edits", "/images/variations",
    "/audio/speech", "/audio/transcriptions", "/audio/translations",
    "/messages", "/complete",
    "/api/chat", "/api/generate", "/api/embed", "/api/embeddings",
)
MODEL = "model"
#: Every kind `request_kind` can answer, in the order /health lists them.
KINDS = (MODEL, "probe", "models", "countTokens", "files", "websocket", "other")

_BAD_PATH = re.compile(rb"%2[fFeE]|%5[cC]|%00|\\|//|://|(^|/)\.\.?(/|$)")


class PathRejected(ValueError):
    """The path could change the upstream host or escape the route: answer 400."""


@attrs.frozen
class Route:
    """One prefix of the table.

    Attributes:
        prefix: first path segment (`anthropic`).
        provider: provider id recorded on usage and used for error shapes.
        scheme, host: fixed upstream origin (`host` includes a port when not default).
        base_path: path prefix of the upstream base URL (usually empty).
        model: recorded as the requested model of every call (issue 8: the local model's name).
    """

    prefix: str
    provider: str
    scheme: str
    host: str
    base_path: str = ""
    model: str | None = None


@attrs.frozen
class Target:
    """Where one request goes: the route and the upstream raw path (with query)."""

    route: Route
    raw_path: bytes

    @property
    def url(self) -> str:
        return f"{self.route.scheme}://{self.route.host}{self.raw_path.decode('ascii')}"

    @property
    def path(self) -> str:
        return self.raw_path.split(b"?", 1)[0].decode("ascii")


def make_routes(upstreams: Mapping[str, str]) -> dict[str, Route]:
    """The routing table from `{provider: base URL}` (local configuration only)."""
    routes = {}
    for provider, base in upstreams.items():
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"upstream for {provider} must be an http(s) URL, got {base!r}")
        routes[provider] = Route(prefix=provider, provider=provider, scheme=parts.scheme,
                                 host=parts.netloc, base_path=parts.path.rstrip("/"))
    return routes


def resolve(routes: Mapping[str, Route], raw_path: bytes, query: bytes = b"") -> Target | None:
    """The target of a raw (undecoded) request path, None when no route matches.

    Raises:
        PathRejected: traversal, encoded separators, absolute URLs or non-ASCII in the path.
    """
    if not raw_path.startswith(b"/"):
        raise PathRejected("path must start with /")
    prefix, _, rest = raw_path[1:].partition(b"/")
    route = routes.get(prefix.decode("latin-1"))
    if route is None:
        return None
    if _BAD_PATH.search(raw_path) or not raw_path.isascii() or not query.isascii():
        raise PathRejected("path not allowed")
    path = b"/" + rest
    while path.startswith(b"/v1/v1/") or path == b"/v1/v1":
        path = path[3:]
    full = route.base_path.encode("ascii") + path
    return Target(route=route, raw_path=full + (b"?" + query if query else b""))


def request_kind(method: str, path: str, *, upgrade: bool = False) -> str:
    """What a request is: `model` (a generation call), or the kind of request that is only counted.

    `upgrade` is a WebSocket upgrade request (answered 426: the proxy meters HTTP only).
    """
    path = path.rstrip("/")
    if upgrade:
        return "websocket"
    if method == "POST" and path.endswith(MODEL_ENDPOINTS) and "/threads/" not in path:  # not Assistants' messages
        return MODEL
    if method in ("HEAD", "OPTIONS"):
        return "probe"
    if path.endswith(("/count_tokens", "/input_tokens")):
        return "countTokens"
    if "/models" in path or path.endswith("/api/tags"):
        return "models"
    if "/files" in path:
        return "files"
    return "other"
