"""Dashboard JSON API: one test per endpoint with exact numbers (in-memory fakes, fixed clock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from costhq.adapters._shared.clock import FixedClock
from costhq.adapters.http.app import make_app
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from tests.e2e.helpers_dashboard import NOW, memory_deps, seed

BASE = "http://127.0.0.1:3737"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    store = InMemoryStore()
    seed(lambda: InMemoryUnitOfWork(store))
    deps = memory_deps(store, FixedClock(NOW), tmp_path)
    c = TestClient(make_app(deps, poll_interval=0.01), base_url=BASE)
    c.headers["X-CSRF-Token"] = deps.security.csrf_token
    return c


def test_sessions_endpoint_searches_sorts_filters_and_pages(client: TestClient) -> None:
    r = client.get("/api/v1/sessions", params={"sort": "aiCost", "perPage": 2})
    assert r.status_code == 200 and r.headers["X-CostHQ-Api-Version"] == "1"
    doc = r.json()
    assert [s["id"] for s in doc["sessions"]] == [3, 2] and (doc["total"], doc["pages"]) == (3, 2)
    assert doc["sessions"][0]["costPerHour"] == 1.0 and doc["sessions"][1]["costPerHour"] == 0.24
    assert [s["id"] for s in client.get("/api/v1/sessions?status=active").json()["sessions"]] == [3]
    assert [s["id"] for s in client.get("/api/v1/sessions?search=feature").json()["sessions"]] == [2]
    assert client.get("/api/v1/sessions?sort=bogus").status_code == 422
    bad = client.get("/api/v1/sessions?page=zero").json()
    assert bad["error"]["code"] == "invalid_argument"


def test_session_detail_has_records_and_a_chronological_timeline(client: TestClient) -> None:
    doc = client.get("/api/v1/sessions/1").json()
    assert (doc["aiCost"], doc["duration"], doc["costPerHour"], doc["commitCount"]) == (0.0615, 7200, 0.03075, 1)
    assert [f["filePath"] for f in doc["files"]] == ["src/auth.py", "README.md"]
    assert [u["cost"] for u in doc["aiUsage"]] == [0.054, 0.0075]
    assert [c["hash"] for c in doc["commits"]] == ["abc1234def"] and doc["annotations"][0]["message"] == "phase 1"
    assert [e["type"] for e in doc["timeline"]] == ["note", "ai", "ai", "file", "file", "commit"]
    assert (doc["branch"], doc["startGitHead"]) == ("main", "a" * 40)
    assert client.get("/api/v1/sessions/99").status_code == 404


def test_stats_and_alias(client: TestClient) -> None:
    doc = client.get("/api/stats").json()
    assert (doc["totalSessions"], doc["totalAiCost"], doc["aiCalls"], doc["unpricedCalls"]) == (3, 1.1815, 5, 1)


def test_overview_kpis_daily_series_and_projection(client: TestClient) -> None:
    doc = client.get("/api/v1/overview", params={"tz": "UTC", "days": 4}).json()
    k = doc["kpis"]
    assert (k["totalSessions"], k["totalAiCost"], k["totalTime"], k["avgDuration"], k["avgCost"]) == (
        3,
        1.1815,
        12600,
        4200,
        0.3938333333,
    )
    assert (k["filesChanged"], k["commits"]) == (3, 1)
    assert [(d["date"], d["cost"], d["sessions"]) for d in doc["daily"]] == [
        ("2026-11-20", 0.0615, 1),
        ("2026-11-21", 0, 0),
        ("2026-11-22", 0.12, 1),
        ("2026-11-23", 1, 1),
    ]
    assert doc["daily"][0]["promptTokens"] == 9000 and doc["daily"][0]["completionTokens"] == 2500
    # avg = 1.1815 / 4; month to date = all of it; 7 days left in November
    assert doc["projection"] == {"avgDaily": 0.295375, "monthToDate": 1.1815, "projectedMonth": 3.249125}
    assert [s["id"] for s in doc["mostExpensive"]] == [3, 2, 1]
    assert [(v["id"], v["costPerHour"]) for v in doc["velocity"]] == [(1, 0.03075), (2, 0.24), (3, 1)]


def test_overview_days_follow_the_requested_timezone(client: TestClient) -> None:
    doc = client.get(
        "/api/v1/overview", params={"tz": "Pacific/Kiritimati", "days": 2}
    ).json()  # UTC+14: 09:10Z on the 22nd is still the 22nd there
    assert [(d["date"], d["cost"]) for d in doc["daily"]] == [("2026-11-23", 0), ("2026-11-24", 1)]
    assert client.get("/api/v1/overview?tz=Mars/Base").status_code == 422


def test_models_and_providers(client: TestClient) -> None:
    doc = client.get("/api/v1/models").json()
    assert [
        (m["model"], m["calls"], m["cost"], m["avgCostPerCall"], m["promptCompletionRatio"]) for m in doc["models"]
    ] == [("gpt-4o", 2, 1.0075, 0.50375, 1.83), ("claude-sonnet-4", 2, 0.174, 0.087, 4.67), ("x-1", 1, 0, 0, 2.0)]
    assert [(p["provider"], p["cost"], p["calls"], p["models"]) for p in doc["providers"]] == [
        ("openai", 1.0075, 2, 1),
        ("anthropic", 0.174, 2, 1),
        ("mystery", 0, 1, 1),
    ]


def test_insights_hotspots_heatmap_projects(client: TestClient) -> None:
    doc = client.get("/api/v1/insights", params={"tz": "UTC"}).json()
    assert doc["hotspots"][0] == {"path": "src/auth.py", "changes": 2, "sessions": 2}
    grid = doc["heatmap"]["grid"]
    assert (grid[4][10], grid[6][9], grid[0][14], sum(map(sum, grid))) == (1, 1, 1, 3)  # Fri 10h, Sun 9h, Mon 14h
    assert [(p["path"], p["cost"], p["sessions"]) for p in doc["projects"]] == [
        ("/repo/a", 1.0615, 2),
        ("/repo/b", 0.12, 1),
    ]


def test_pricing_get_put_delete(client: TestClient) -> None:
    assert client.get("/api/v1/pricing").json()["builtIn"][0]["model"] == "claude-sonnet-4"
    r = client.put(
        "/api/v1/pricing", json={"model": "ft-1", "provider": "openai", "inputPer1M": 2, "outputPer1M": "8.5"}
    )
    assert r.json()["pricing"] == {
        "model": "openai/ft-1",
        "source": "custom",
        "inputPer1M": 2,
        "outputPer1M": 8.5,
        "cacheReadPer1M": None,
        "cacheWritePer1M": None,
    }
    assert [c["model"] for c in client.get("/api/v1/pricing").json()["custom"]] == ["openai/ft-1"]
    bad = client.put("/api/v1/pricing", json={"model": "m", "inputPer1M": 1, "outputPer1M": 1, "extra": 1})
    assert bad.status_code == 422 and "extra fields found (extra) @ $" in bad.json()["error"]["details"]
    assert client.put("/api/v1/pricing", json={"model": "m", "inputPer1M": -1, "outputPer1M": 1}).status_code == 422
    assert client.delete("/api/v1/pricing?model=ft-1&provider=openai").json() == {"removed": 1}
    assert client.delete("/api/v1/pricing?model=ft-1").status_code == 404


def test_alerts_crud_with_spend_vs_limit(client: TestClient) -> None:
    assert client.post("/api/v1/alerts", json={"scope": "daily", "limit": "0.5"}).status_code == 201
    assert (
        client.post(
            "/api/v1/alerts", json={"scope": "session", "limit": 2, "sessionId": 3, "action": "block"}
        ).status_code
        == 201
    )
    doc = client.get("/api/v1/alerts").json()
    assert [(r["scope"], r["spent"], r["limit"], r["percent"], r["exceeded"]) for r in doc["rules"]] == [
        ("daily", 1, 0.5, 200.0, True),
        ("session", 1, 2, 50.0, False),
    ]
    assert (doc["activeRules"], doc["alarms"], doc["triggered"]) == (2, 1, 1)
    assert client.post("/api/v1/alerts", json={"scope": "session", "limit": 2}).status_code == 422
    assert client.delete("/api/v1/alerts/1").json() == {"removed": 1}
    assert client.delete("/api/v1/alerts/1").status_code == 404


def test_export_json_and_csv(client: TestClient) -> None:
    doc = client.get("/api/v1/export?format=json").json()
    assert doc["schemaVersion"] == 1 and [s["id"] for s in doc["sessions"]] == [3, 2, 1]
    lines = client.get("/api/v1/export?format=csv").text.splitlines()
    assert lines[0].startswith("id,name,status,startTime") and lines[1].startswith("3,Live run,active,")
    assert len(lines) == 4
    assert client.get("/api/v1/export?format=xml").status_code == 422


def test_reset_requires_the_confirmation_then_deletes_everything(client: TestClient) -> None:
    client.post("/api/v1/alerts", json={"scope": "total", "limit": 5})
    assert client.post("/api/v1/reset", json={"confirm": "yes"}).status_code == 422
    r = client.post("/api/v1/reset", json={"confirm": "RESET"})
    assert r.json()["deleted"] == {
        "sessions": 3,
        "aiUsage": 5,
        "fileChanges": 3,
        "commits": 1,
        "annotations": 1,
        "alertThresholds": 1,
    }
    assert client.get("/api/v1/stats").json()["totalSessions"] == 0
    assert client.get("/api/v1/alerts").json()["rules"] == []


def test_card_png_and_hardware_presets(client: TestClient) -> None:
    r = client.get("/api/v1/card.png?period=all&tz=UTC")
    assert r.headers["content-type"] == "image/png" and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/api/v1/card.png?period=decade").status_code == 422
    names = [p["name"] for p in client.get("/api/v1/hardware").json()["presets"]]
    assert "local-rtx-4090" in names and "runpod-h100" in names


def test_openapi_document_lists_every_api_route(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/stats",
        "/api/v1/overview",
        "/api/v1/models",
        "/api/v1/insights",
        "/api/v1/pricing",
        "/api/v1/alerts",
        "/api/v1/export",
        "/api/v1/reset",
        "/api/v1/events",
        "/api/v1/card.png",
    }
    assert set(paths["/api/v1/pricing"]) == {"get", "put", "delete"}


def test_static_assets_are_hashed_and_immutable_html_is_no_cache(client: TestClient) -> None:
    page = client.get("/")
    assert page.headers["cache-control"] == "no-cache"
    import re

    names = re.findall(r"/static/([\w.]+)", page.text)
    assert any(n.startswith("chart.") for n in names) and any(n.startswith("app.") for n in names)
    for n in names:
        r = client.get("/static/" + n)
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert b"Chart.js v4" in client.get("/static/" + next(n for n in names if n.startswith("chart."))).content[:200]


def test_csv_export_streams_exact_rows_from_flat_storage_rows(client: TestClient) -> None:
    r = client.get("/api/v1/export?format=csv")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="costhq-sessions.csv"'
    assert r.text == (
        "id,name,status,startTime,endTime,duration,workingDirectory,gitRoot,branch,filesChanged,commits,aiTokens,"
        "aiCost,aiCalls,unpricedCalls,costPerHour,notes\n"
        "3,Live run,active,2026-11-23T14:00:00.000Z,,3600,/repo/a,,,0,0,215,1,2,1,1,\n"
        "2,Add feature,completed,2026-11-22T09:00:00.000Z,2026-11-22T09:30:00.000Z,1800,/repo/b,,,1,0,24000,0.12,1,0,"
        "0.24,\n"
        "1,Fix auth bug,completed,2026-11-20T10:00:00.000Z,2026-11-20T12:00:00.000Z,7200,/repo/a,/repo/a,main,2,1,"
        "11500,0.0615,2,0,0.03075,done\n"
    )


def test_csv_export_over_several_chunks_matches_the_json_rows(tmp_path: Path) -> None:
    import csv
    import io
    from datetime import timedelta
    from decimal import Decimal

    from costhq.domain.pricing import PriceSource
    from costhq.domain.sessions import NewSession
    from costhq.domain.usage import TokenCounts, UsageRecord

    store = InMemoryStore()
    with InMemoryUnitOfWork(store) as uow:
        for i in range(4500):  # more than two chunks of 2,000 rows
            start = NOW - timedelta(hours=i + 1)
            s = uow.sessions.add(NewSession(name=f'run {i}, "quoted"\nline' if i % 7 == 0 else f"run {i}",
                                            start_time=start, working_directory=f"/repo/{i % 3}"))
            uow.usage.add(UsageRecord(session_id=s.id, provider="openai", model="gpt-4o",
                                      tokens=TokenCounts(input=i, output=1), total_tokens=i + 1,
                                      cost=Decimal(i) / 10**7 + Decimal("0.0000000003"),
                                      price_source=PriceSource.MANUAL, timestamp=start))
            if i % 2:
                uow.sessions.end(s.id, end_time=start + timedelta(seconds=i * 13 + 7), notes="n,1" if i % 3 else None)
    deps = memory_deps(store, FixedClock(NOW), tmp_path)
    c = TestClient(make_app(deps, poll_interval=0.01), base_url=BASE)
    got = list(csv.DictReader(io.StringIO(c.get("/api/v1/export?format=csv").text)))
    sessions = c.get("/api/v1/export?format=json").json()["sessions"]
    assert len(got) == len(sessions) == 4500
    for row, doc in zip(got, sessions, strict=True):
        assert row == {k: "" if doc[k] is None else str(doc[k]) for k in row}


def test_team_view_spends_by_user_machine_and_project_with_filters(tmp_path: Path) -> None:
    from tests.e2e.helpers_dashboard import seed_team

    store = InMemoryStore()
    seed(lambda: InMemoryUnitOfWork(store))  # no who: they count as the dashboard owner's (me@box)
    seed_team(lambda **who: InMemoryUnitOfWork(store, **who))
    client = TestClient(make_app(memory_deps(store, FixedClock(NOW), tmp_path)), base_url=BASE)
    doc = client.get("/api/v1/team").json()
    t = doc["totals"]
    assert (t["totalSessions"], t["activeSessions"], t["aiCalls"], t["totalAiCost"]) == (5, 1, 7, 3.6815)

    def groups(key: str, d: dict[str, Any] = doc) -> list[tuple[Any, ...]]:
        return [(g["key"], g["totalSessions"], g["aiCalls"], g["totalAiCost"]) for g in d[key]]

    assert groups("byUser") == [("bob", 1, 1, 2), ("me", 3, 5, 1.1815), ("ann", 1, 1, 0.5)]
    assert groups("byMachine") == [("ci-1", 1, 1, 2), ("box", 3, 5, 1.1815), ("laptop", 1, 1, 0.5)]
    assert groups("byProject") == [("/repo/c", 1, 1, 2), ("/repo/a", 3, 5, 1.5615), ("/repo/b", 1, 1, 0.12)]
    assert (doc["users"], doc["machines"], doc["projects"]) == (
        ["ann", "bob", "me"], ["box", "ci-1", "laptop"], ["/repo/a", "/repo/b", "/repo/c"])
    narrowed = client.get("/api/team", params={"project": "/repo/a", "since": "2026-11-21", "until": "2026-11-23",
                                               "tz": "UTC"}).json()
    assert narrowed["filters"] == {"user": None, "machine": None, "project": "/repo/a", "since": "2026-11-21",
                                   "until": "2026-11-23"}
    assert groups("byUser", narrowed) == [("me", 1, 2, 1), ("ann", 1, 1, 0.5)]  # the live run started on the 23rd
    assert narrowed["totals"]["totalAiCost"] == 1.5 and narrowed["users"] == ["ann", "bob", "me"]
    ann = client.get("/api/v1/team?user=ann&machine=laptop").json()
    assert (ann["totals"]["totalSessions"], groups("byProject", ann)) == (1, [("/repo/a", 1, 1, 0.5)])
    assert client.get("/api/v1/team?user=nobody").json()["byUser"] == []
    for bad in ({"since": "21/11/2026"}, {"since": "2026-11-23", "until": "2026-11-21"}, {"colour": "red"},
                {"tz": "Mars/Base"}):
        r = client.get("/api/v1/team", params=bad)
        assert r.status_code in (400, 422) and r.json()["error"]["code"] == "invalid_argument", (bad, r.json())


def test_team_view_needs_the_token_in_remote_mode(tmp_path: Path) -> None:
    deps = memory_deps(InMemoryStore(), FixedClock(NOW), tmp_path, host="0.0.0.0")
    client = TestClient(make_app(deps), base_url="http://192.168.1.5:3737")
    assert client.get("/api/v1/team").status_code == 401
    r = client.get("/api/v1/team", headers={"Authorization": f"Bearer {deps.security.api_token}"})
    assert r.status_code == 200 and r.json()["totals"]["totalSessions"] == 0
