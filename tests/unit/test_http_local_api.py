"""Dashboard API of local models: presets CRUD (CSRF-protected like pricing), models and compute."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from costhq.adapters._shared.clock import FixedClock
from costhq.adapters.http.app import make_app
from costhq.adapters.persistence.memory.prices import InMemoryCatalog, InMemoryCustomPriceStore
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.adapters.persistence.price_book import CatalogPriceBook
from costhq.adapters.watchers.fake_git import FakeGitMetadata
from costhq.application import local_models as uc
from costhq.application.usage import LogUsage, UsageInput
from costhq.domain.usage import TokenCounts
from tests.e2e.helpers_dashboard import NOW, memory_deps, seed

BASE = "http://127.0.0.1:3737"


@pytest.fixture
def store() -> InMemoryStore:
    s = InMemoryStore()
    seed(lambda: InMemoryUnitOfWork(s))
    return s


@pytest.fixture
def client(store: InMemoryStore, tmp_path: Path) -> TestClient:
    deps = memory_deps(store, FixedClock(NOW), tmp_path)
    c = TestClient(make_app(deps, poll_interval=0.01), base_url=BASE)
    c.headers["X-CSRF-Token"] = deps.security.csrf_token
    return c


def _log_local_call(store: InMemoryStore) -> None:
    uow = lambda: InMemoryUnitOfWork(store)  # noqa: E731
    clock = FixedClock(NOW)
    book = CatalogPriceBook(InMemoryCatalog({}), InMemoryCustomPriceStore(), now=clock.now)
    uc.AddLocalModel(uow, clock, book)(name="llama3", runtime="ollama", hardware="runpod-h100")
    log = LogUsage(uow, clock, FakeGitMetadata(), book, None, uc.PriceLocalCall(uow, book))
    log(call=UsageInput(provider="ollama", model="llama3", tokens=TokenCounts(input=10, output=5),
                        duration_ms=90_000), cwd="/", session_id=3)


def test_presets_are_listed_with_their_sources(client: TestClient) -> None:
    doc = client.get("/api/v1/hardware").json()
    h100 = next(p for p in doc["presets"] if p["name"] == "runpod-h100")
    assert (h100["usdPerHour"], h100["description"], h100["builtin"]) == (2.69, "Cloud H100 80GB SXM (RunPod)", True)
    assert doc["localModels"] == [] and doc["compute"]["calls"] == 0


def test_presets_crud_via_the_api(client: TestClient) -> None:
    put = client.put("/api/v1/hardware", json={"name": "desk-3090", "usdPerHour": "0.085"})
    assert put.status_code == 200 and put.json()["preset"] == {
        "name": "desk-3090", "usdPerHour": 0.085, "description": "", "source": "user", "builtin": False}
    names = [p["name"] for p in client.get("/api/hardware").json()["presets"]]  # the /api alias too
    assert "desk-3090" in names and len(names) == 7
    assert client.delete("/api/v1/hardware/desk-3090").json() == {"removed": "desk-3090"}
    assert len(client.get("/api/v1/hardware").json()["presets"]) == 6


def test_bad_preset_input_is_refused_with_the_error_shape(client: TestClient) -> None:
    neg = client.put("/api/v1/hardware", json={"name": "x", "usdPerHour": "-1"})
    assert (neg.status_code, neg.json()["error"]["code"]) == (422, "invalid_argument")
    extra = client.put("/api/v1/hardware", json={"name": "x", "usdPerHour": "1", "host": "evil"})
    assert (extra.status_code, extra.json()["error"]["code"]) == (422, "invalid_argument")
    junk = client.put("/api/v1/hardware", json={"name": "x", "usdPerHour": "cheap"})
    assert junk.status_code == 422
    missing = client.delete("/api/v1/hardware/nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "preset_not_found")
    no_csrf = client.put("/api/v1/hardware", json={"name": "x", "usdPerHour": "1"}, headers={"X-CSRF-Token": ""})
    assert (no_csrf.status_code, no_csrf.json()["error"]["code"]) == (403, "csrf_failed")
    assert "x" not in [p["name"] for p in client.get("/api/v1/hardware").json()["presets"]]


def test_local_models_and_compute_per_tier(client: TestClient, store: InMemoryStore) -> None:
    _log_local_call(store)
    in_use = client.delete("/api/v1/hardware/runpod-h100")
    assert (in_use.status_code, in_use.json()["error"]["code"]) == (409, "preset_in_use")
    doc = client.get("/api/v1/local").json()
    [m] = doc["localModels"]
    assert (m["name"], m["hardware"], m["proxyPath"], m["calls"], m["computeSeconds"], m["cost"]) == (
        "llama3", "runpod-h100", "/local/llama3", 1, 90, 0.06725)  # 90 s x 2.69 / 3600
    [tier] = doc["compute"]["byHardware"]
    assert (tier["name"], tier["computeHours"], tier["cost"], tier["apiCost"], tier["tokens"]) == (
        "runpod-h100", 0.025, 0.06725, 0, 15)
    assert client.get("/api/v1/stats").json()["totalAiCost"] == float(Decimal("1.1815") + Decimal("0.06725"))
