"""Team mode through the real `cs`: COSTHQ_DATABASE_URL switches storage, `cs db migrate`,
`cs db push` exactly once, and no output ever shows the password."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from costhq.adapters.persistence.postgres.schema import CURRENT_VERSION
from tests.e2e.cli_runner import Cs
from tests.postgres.cluster import Cluster


@pytest.fixture
def cs(tmp_path: Path) -> Cs:
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=tmp_path / "work")


def _count(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_database_url_sends_every_record_to_postgresql_stamped_with_user_and_machine(cs: Cs, pg_url: str) -> None:
    cs.data.mkdir()
    (cs.data / "config.toml").write_text('[user]\nname = "ann"\nmachine = "ann-laptop"\n', encoding="utf-8")
    cs.extra_env["COSTHQ_DATABASE_URL"] = pg_url
    started = cs.ok("start", "team task")
    cs.ok("log-ai", "-p", "openai", "-m", "gpt-4o", "--prompt-tokens", "1000", "--completion-tokens", "500",
          "-c", "0.0123456789")
    cs.ok("log-ai", "-p", "openai", "-m", "gpt-4o", "--prompt-tokens", "10", "--completion-tokens", "5",
          "-c", "1.5")
    status = cs.ok("status")
    assert (status["id"], started["id"], status["aiCalls"], status["aiCost"]) == (1, 1, 2, 1.5123456789)
    assert not (cs.data / "sessions.db").exists()  # nothing went to the local file
    assert _count(pg_url, "SELECT name, user_name, machine, ai_calls, ai_cost_units FROM sessions") == [
        ("team task", "ann", "ann-laptop", 2, 15_123_456_789)]
    assert _count(pg_url, "SELECT COUNT(*), SUM(cost_units) FROM ai_usage") == [(2, 15_123_456_789)]
    assert cs.ok("audit", "verify")["ok"] is True


def test_db_migrate_reports_versions_and_is_idempotent_and_hides_the_password(cs: Cs, pg_url: str,
                                                                               pg_cluster: Cluster) -> None:
    cs.extra_env["COSTHQ_DATABASE_URL"] = pg_url
    first = cs.ok("db", "migrate")
    assert (first["backend"], first["fromVersion"], first["toVersion"], first["migrated"]) == (
        "postgresql", 0, CURRENT_VERSION, True)
    assert pg_cluster.password not in first["location"] and ":***@127.0.0.1" in first["location"]
    again = cs.ok("db", "migrate")
    assert (again["fromVersion"], again["migrated"]) == (CURRENT_VERSION, False)
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE costhq_schema SET version = 7")
    refused = cs.fails("incompatible_storage", "db", "migrate")
    assert f"schema version 7, newer than this CostHQ knows ({CURRENT_VERSION})" in refused["error"]["message"]


def test_a_wrong_password_is_an_error_without_the_password(cs: Cs, pg_cluster: Cluster) -> None:
    url = pg_cluster.url().replace(pg_cluster.password, "Hunter2-not-it")
    cs.extra_env["COSTHQ_DATABASE_URL"] = url
    r = cs("start", "x", "--json")
    assert r.code == 1 and r.json["error"]["code"] == "storage_error"
    assert "password authentication failed" in r.json["error"]["message"]
    assert "Hunter2-not-it" not in r.stdout + r.stderr and "Traceback" not in r.stderr
    cs.extra_env["COSTHQ_DATABASE_URL"] = "mysql://root:Hunter2-not-it@db/x"
    bad = cs.fails("invalid_argument", "status")
    assert "Hunter2-not-it" not in bad["error"]["message"] and "mysql://root:***@db/x" in bad["error"]["message"]


def test_push_copies_local_history_exactly_once(cs: Cs, pg_url: str) -> None:
    local = cs.ok("start", "local task")
    for cost in ("0.25", "0.5", "1.0000000001"):
        cs.ok("log-ai", "-p", "anthropic", "-m", "claude-sonnet-4-5", "--prompt-tokens", "100",
              "--completion-tokens", "10", "-c", cost)
    cs.ok("note", "halfway")
    first = cs.ok("db", "push", "--to", pg_url)
    assert first["copied"] == {"sessions": 1, "aiUsage": 3, "fileChanges": 0, "commits": 0, "annotations": 1}
    assert cs.ok("db", "push", "--to", pg_url)["copied"] == {
        "sessions": 0, "aiUsage": 0, "fileChanges": 0, "commits": 0, "annotations": 0}
    cs.ok("log-ai", "-p", "anthropic", "-m", "claude-sonnet-4-5", "--prompt-tokens", "1", "-c", "2")
    cs.ok("end")
    third = cs.ok("db", "push", "--to", pg_url)
    assert third["copied"] == {"sessions": 0, "aiUsage": 1, "fileChanges": 0, "commits": 0, "annotations": 0}
    assert pg_url.split("@")[0].split(":")[-1] not in str(third)  # the password is not in the output
    rows = _count(pg_url, "SELECT id, local_id, status, ai_calls, ai_cost_units, machine FROM sessions")
    assert [r[:5] for r in rows] == [(1, local["id"], "completed", 4, 37_500_000_001)]
    assert _count(pg_url, "SELECT COUNT(*), SUM(cost_units) FROM ai_usage") == [(4, 37_500_000_001)]
    assert _count(pg_url, "SELECT COUNT(*) FROM annotations") == [(1,)]
    assert _count(pg_url, "SELECT event FROM audit_log ORDER BY seq") == [("migration",)] * CURRENT_VERSION + [
        ("team.push",), ("usage.imported",), ("team.push",), ("team.push",), ("usage.imported",)]
    # The team chain covers every pushed call (by its team id): `cs audit verify` on the team database.
    cs.extra_env["COSTHQ_DATABASE_URL"] = pg_url
    v = cs.ok("audit", "verify")
    assert (v["ok"], v["entries"], v["headSeq"], v["reason"]) == (True, CURRENT_VERSION + 5, CURRENT_VERSION + 5, None)
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE ai_usage SET cost_units = 1 WHERE id = 2")
    details = cs.fails("audit_chain_broken", "audit", "verify")["error"]["details"]
    assert (details["badSeq"], details["reason"], details["table"], details["rowId"]) == (
        CURRENT_VERSION + 2, "edited", "ai_usage", 2)  # the first push's usage.imported entry
