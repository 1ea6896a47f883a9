"""The HTML shell and static assets: content-hashed names (cached immutable), HTML no-cache.

The chart library (Chart.js) is served from the installed `chartkick` package, never copied
into this repository. The CSRF meta tag is embedded only when bound to loopback, and the
remote-access token never is (LESSONS: no token in unauthenticated HTML).
"""

from __future__ import annotations

import gzip
import hashlib
import html
from importlib import resources
from pathlib import Path

import attrs
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from costhq.adapters.http.deps import Security

_STATIC = Path(__file__).with_name("static")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@attrs.frozen
class Asset:
    name: str
    body: bytes
    gz: bytes
    media_type: str


def _asset(stem: str, suffix: str, body: bytes) -> Asset:
    digest = hashlib.sha256(body).hexdigest()[:12]
    return Asset(f"{stem}.{digest}{suffix}", body, gzip.compress(body, 6, mtime=0), _TYPES[suffix])


def chart_library() -> bytes:
    """Chart.js (with its date adapter) as shipped by the `chartkick` package."""
    return resources.files("chartkick").joinpath("django/static/chartkick/Chart.bundle.js").read_bytes()


def load_assets() -> dict[str, Asset]:
    """Logical name ('app.js', 'app.css', 'chart.js') -> hashed asset."""
    out = {"chart.js": _asset("chart", ".js", chart_library())}
    for name in ("app.js", "app.css"):
        p = _STATIC / name
        out[name] = _asset(p.stem, p.suffix, p.read_bytes())
    return out


def render_index(assets: dict[str, Asset], security: Security) -> str:
    csrf = f'<meta name="csrf-token" content="{html.escape(security.csrf_token)}">' if security.loopback else ""
    shell = (_STATIC / "index.html").read_text(encoding="utf-8")
    return (
        shell.replace("{{CSRF_META}}", csrf)
        .replace("{{REMOTE}}", "0" if security.api_token is None else "1")
        .replace("{{APP_JS}}", assets["app.js"].name)
        .replace("{{APP_CSS}}", assets["app.css"].name)
        .replace("{{CHART_JS}}", assets["chart.js"].name)
    )


def index(request: Request) -> HTMLResponse:
    return HTMLResponse(request.app.state.index_html, headers={"Cache-Control": "no-cache"})


def static(request: Request) -> Response:
    asset = request.app.state.assets_by_name.get(request.path_params["name"])
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(asset.gz, media_type=asset.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def favicon(_request: Request) -> Response:
    return Response(status_code=204)


ROUTES = [
    Route("/", index, methods=["GET"], name="index"),
    Route("/favicon.ico", favicon, methods=["GET"], name="favicon"),
    Route("/static/{name}", static, methods=["GET"], name="static"),
]
