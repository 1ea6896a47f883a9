"""Issue 16 item 4 through the real `cs`: `cs stats` and `cs report` filter and group by user,
machine and project, with the same exact figures on the SQLite file and on PostgreSQL; an old
SQLite file (schema v9) upgrades in place and its sessions count as the configured user's."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from tests.e2e.cli_runner import Cs


@pytest.fixture(params=["sqlite", "postgres"])
def cs(request: pytest.FixtureRequest, tmp_path: Path) -> Cs:
    for d in ("home", "data", "a", "b"):
        (tmp_path / d).mkdir()
    runner = Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=tmp_path / "a")
    if request.param == "postgres":
        runner.extra_env["COSTHQ_DATABASE_URL"] = request.getfixturevalue("pg_url")
    return runner


def _as(cs: Cs, user: str, machine: str) -> None:
    (cs.data / "config.toml").write_text(f'[user]\nname = "{user}"\nmachine = "{machine}"\n', encoding="utf-8")


def _session(cs: Cs, where: Path, *costs: str) -> None:
    cs.ok("start", f"work in {where.name}", cwd=where)
    for cost in costs:
        cs.ok("log-ai", "-p", "openai", "-m", "gpt-4o", "--prompt-tokens", "100", "--completion-tokens", "10",
              "-c", cost, cwd=where)
    cs.ok("end", cwd=where)


def _team(cs: Cs) -> tuple[str, str]:
    a, b = cs.cwd, cs.cwd.parent / "b"
    _as(cs, "ann", "laptop")
    _session(cs, a, "0.5")
    _session(cs, b, "0.25")
    _as(cs, "bob", "ci-1")
    _session(cs, a, "2", "0.125")
    return str(a.resolve()), str(b.resolve())


def _groups(doc: dict[str, object]) -> list[tuple[object, ...]]:
    return [(g["key"], g["totalSessions"], g["aiCalls"], g["totalAiCost"]) for g in doc["groups"]]  # type: ignore[attr-defined,index]


def test_stats_filter_and_group_by_user_machine_and_project(cs: Cs) -> None:
    a, b = _team(cs)
    everyone = cs.ok("stats", "--by", "user")
    assert (everyone["totalSessions"], everyone["aiCalls"], everyone["totalAiCost"]) == (3, 4, 2.875)
    assert everyone["by"] == "user" and everyone["filters"] == {"user": None, "machine": None, "project": None}
    assert _groups(everyone) == [("bob", 1, 2, 2.125), ("ann", 2, 2, 0.75)]
    ann = cs.ok("stats", "--user", "ann", "--by", "project")
    assert (ann["totalSessions"], ann["totalAiCost"], _groups(ann)) == (2, 0.75, [(a, 1, 1, 0.5), (b, 1, 1, 0.25)])
    ci = cs.ok("stats", "--machine", "ci-1")
    assert (ci["totalSessions"], ci["aiCalls"], ci["totalAiCost"], "groups" in ci) == (1, 2, 2.125, False)
    in_a = cs.ok("stats", "--project", str(cs.cwd), "--by", "machine")
    assert _groups(in_a) == [("ci-1", 1, 2, 2.125), ("laptop", 1, 1, 0.5)]
    assert cs.ok("stats", "--user", "nobody")["totalSessions"] == 0
    plain = cs.ok("stats")  # without flags: the documented shape, unchanged
    assert (plain["totalSessions"], plain["totalAiCost"], "filters" in plain) == (3, 2.875, False)
    assert "--by" in cs.fails("invalid_argument", "stats", "--by", "team")["error"]["message"]


def test_report_filters_and_splits_rows_by_user_machine_and_project(cs: Cs) -> None:
    a, b = _team(cs)
    users = cs.ok("report", "users")
    assert [(r["key"], r["calls"], r["cost"]) for r in users["rows"]] == [("ann", 2, 0.75), ("bob", 2, 2.125)]
    assert users["totals"] == {"calls": 4, "totalTokens": 440, "cost": 2.875, "unpricedCalls": 0}
    machines = cs.ok("report", "machines", "--user", "ann")
    assert [(r["key"], r["calls"], r["cost"]) for r in machines["rows"]] == [("laptop", 2, 0.75)]
    assert (machines["user"], machines["machine"], machines["by"]) == ("ann", None, None)
    split = cs.ok("report", "projects", "--by", "user")
    assert split["by"] == "user"
    assert [(r["key"], r["user"], r["calls"], r["cost"]) for r in split["rows"]] == sorted(
        [(a, "ann", 1, 0.5), (a, "bob", 2, 2.125), (b, "ann", 1, 0.25)])
    daily = cs.ok("report", "daily", "--by", "machine", "--machine", "ci-1", "--tz", "UTC")
    assert [(r["machine"], r["calls"], r["cost"]) for r in daily["rows"]] == [("ci-1", 2, 2.125)]
    assert "blocks" in cs.fails("invalid_argument", "report", "blocks", "--by", "user")["error"]["message"]
    cs.fails("invalid_argument", "report", "users", "--by", "host")


def test_an_old_sqlite_file_upgrades_in_place_and_its_sessions_are_the_configured_users(tmp_path: Path) -> None:
    from costhq.adapters.persistence.sqlite import schema

    data = tmp_path / "data"
    data.mkdir()
    conn = apsw.Connection(str(data / "sessions.db"))  # a file as CostHQ left it at schema v9
    with conn:
        for step in schema.STEPS[:9]:
            step(conn)
        conn.pragma("user_version", 9)
        conn.execute("INSERT INTO sessions (name, status, start_time, end_time, working_directory, ai_cost_units,"
                     " ai_calls) VALUES ('old', 'completed', '2026-11-01T10:00:00.000000Z',"
                     " '2026-11-01T11:00:00.000000Z', '/old', 12500000000, 1)")
    conn.close()
    cs = Cs(home=tmp_path, data=data, cwd=tmp_path)
    _as(cs, "ann", "laptop")
    _session(cs, tmp_path, "0.75")
    doc = cs.ok("stats", "--by", "user")
    assert _groups(doc) == [("ann", 2, 2, 2.0)]
    _as(cs, "ann", "desk")  # the old session follows the configuration; the new one keeps its stamp
    assert _groups(cs.ok("stats", "--by", "machine")) == [("desk", 1, 1, 1.25), ("laptop", 1, 1, 0.75)]
    conn = apsw.Connection(str(data / "sessions.db"))
    assert conn.pragma("user_version") == schema.CURRENT_VERSION == 11
    assert conn.execute("SELECT name, user_name, machine FROM sessions ORDER BY id").fetchall() == [
        ("old", None, None), ("work in " + tmp_path.name, "ann", "laptop")]
    conn.close()


def test_the_dashboard_api_and_the_stats_card_read_the_team_database(tmp_path: Path, pg_url: str) -> None:
    from starlette.testclient import TestClient

    from costhq.adapters.http.app import make_app
    from costhq.bootstrap.main import build_container

    for d in ("home", "data", "a", "b"):
        (tmp_path / d).mkdir()
    cs = Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=tmp_path / "a",
            extra_env={"COSTHQ_DATABASE_URL": pg_url})
    a, b = _team(cs)
    card = cs.ok("card", "--period", "all", "-o", str(tmp_path / "card.png"))
    assert (card["sessions"], card["aiCost"]) == (3, 2.875) and (tmp_path / "card.png").stat().st_size > 0
    env = {"HOME": str(cs.home), "COSTHQ_HOME": str(cs.data), "COSTHQ_DATABASE_URL": pg_url}
    deps = build_container(env).front_ends().dashboard_deps(host="127.0.0.1", port=3737)
    client = TestClient(make_app(deps), base_url="http://127.0.0.1:3737")
    team = client.get("/api/v1/team", params={"user": "ann"}).json()
    assert [(g["key"], g["totalAiCost"]) for g in team["byProject"]] == [(a, 0.5), (b, 0.25)]
    assert (team["users"], team["machines"]) == (["ann", "bob"], ["ci-1", "laptop"])
    assert client.get("/api/v1/stats").json()["totalAiCost"] == 2.875
    assert [m["calls"] for m in client.get("/api/v1/models").json()["models"]] == [4]
    assert client.get("/api/v1/sessions").json()["total"] == 3


def test_push_carries_each_sessions_own_user_and_machine_exactly_once(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    for d in ("home", "data", "a"):
        (tmp_path / d).mkdir()
    cs = Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=tmp_path / "a")
    _as(cs, "ann", "laptop")
    _session(cs, cs.cwd, "0.5")
    _as(cs, "ann", "desk")  # the file moved with its owner: the old session keeps where it was recorded
    _session(cs, cs.cwd, "0.25")
    assert cs.ok("db", "push", "--to", pg_url)["copied"]["sessions"] == 2
    assert cs.ok("db", "push", "--to", pg_url)["copied"]["sessions"] == 0
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT user_name, machine, ai_cost_units FROM sessions ORDER BY local_id").fetchall()
    assert rows == [("ann", "laptop", 5_000_000_000), ("ann", "desk", 2_500_000_000)]
