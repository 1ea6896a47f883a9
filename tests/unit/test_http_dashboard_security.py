"""Dashboard security: Host allow-list, same-origin + CSRF on writes, token mode, headers, no token in HTML."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from costhq.adapters._shared.clock import FixedClock
from costhq.adapters.http.app import make_app
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from tests.e2e.helpers_dashboard import NOW, memory_deps, seed

RESET = {"confirm": "RESET"}


def _app(tmp_path: Path, host: str = "127.0.0.1") -> tuple[TestClient, object]:
    store = InMemoryStore()
    seed(lambda: InMemoryUnitOfWork(store))
    deps = memory_deps(store, FixedClock(NOW), tmp_path, host=host)
    return TestClient(make_app(deps), base_url="http://127.0.0.1:3737"), deps


@pytest.mark.parametrize("host", ["127.0.0.1:3737", "localhost:3737", "[::1]:3737"])
def test_loopback_host_names_with_our_port_are_accepted(tmp_path: Path, host: str) -> None:
    client, _ = _app(tmp_path)
    assert client.get("/api/v1/stats", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example:3737", "localhost:9999", "127.0.0.1", "attacker.localhost:3737"])
def test_unexpected_host_headers_are_refused_dns_rebinding(tmp_path: Path, host: str) -> None:
    client, _ = _app(tmp_path)
    r = client.get("/api/v1/stats", headers={"Host": host})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_host"
    assert client.get("/", headers={"Host": host}).status_code == 403


def test_cross_origin_post_is_refused_even_with_the_csrf_token(tmp_path: Path) -> None:
    client, deps = _app(tmp_path)
    csrf = {"X-CSRF-Token": deps.security.csrf_token}  # type: ignore[attr-defined]
    r = client.post("/api/v1/reset", json=RESET, headers={**csrf, "Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_origin"
    r = client.post("/api/v1/reset", json=RESET, headers={**csrf, "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert client.get("/api/v1/stats").json()["totalSessions"] == 3


def test_missing_or_wrong_csrf_token_is_refused(tmp_path: Path) -> None:
    client, deps = _app(tmp_path)
    for headers in ({}, {"X-CSRF-Token": "guess"}):
        r = client.post("/api/v1/reset", json=RESET, headers={"Origin": "http://127.0.0.1:3737", **headers})
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert client.put("/api/v1/pricing", json={"model": "m", "inputPer1M": 1, "outputPer1M": 1}).status_code == 403
    assert client.delete("/api/v1/pricing").status_code == 403
    ok = client.post(
        "/api/v1/reset",
        json=RESET,
        headers={"Origin": "http://127.0.0.1:3737", "X-CSRF-Token": deps.security.csrf_token},
    )  # type: ignore[attr-defined]
    assert ok.status_code == 200


def test_remote_mode_requires_the_token_on_every_api_call(tmp_path: Path) -> None:
    client, deps = _app(tmp_path, host="0.0.0.0")
    token = deps.security.api_token  # type: ignore[attr-defined]
    assert token and len(token) >= 32
    for path in ("/api/v1/stats", "/api/stats", "/api/v1/sessions", "/api/v1/export?format=csv", "/api/v1/events"):
        r = client.get(path, headers={"Host": "192.168.1.20:3737"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/v1/stats", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get(f"/api/v1/stats?token={token}").status_code == 200
    assert client.post("/api/v1/reset", json=RESET, headers={"X-CostHQ-Token": token}).status_code == 200


def test_html_never_carries_the_remote_token_and_csrf_only_on_loopback(tmp_path: Path) -> None:
    remote, deps = _app(tmp_path, host="0.0.0.0")
    page = remote.get("/", headers={"Host": "192.168.1.20:3737"}).text
    assert deps.security.api_token not in page and "csrf-token" not in page  # type: ignore[attr-defined]
    local, ldeps = _app(tmp_path / "l")
    assert f'content="{ldeps.security.csrf_token}"' in local.get("/").text  # type: ignore[attr-defined]


def test_security_headers_and_api_version_on_every_response(tmp_path: Path) -> None:
    client, _ = _app(tmp_path)
    for path in ("/", "/api/v1/stats", "/api/v1/sessions/999"):
        h = client.get(path).headers
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert "default-src 'self'" in h["content-security-policy"] and "http" not in h["content-security-policy"]
    assert client.get("/api/v1/sessions/999").headers["x-costhq-api-version"] == "1"
    assert client.get("/api/v1/stats", headers={"Host": "evil:1"}).headers["x-costhq-api-version"] == "1"
