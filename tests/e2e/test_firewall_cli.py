"""The real `cs`: budgets (log-ai exit 1 with the record kept, start --budget, warn rules in status),
runaway commands, and the audit chain against tampering done with plain `sqlite3`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.helpers_firewall import make_cs

LOG = ("log-ai", "-p", "anthropic", "-m", "claude-sonnet-4", "--prompt-tokens", "8000", "--completion-tokens", "2000")


def test_log_ai_crossing_a_blocking_budget_exits_1_but_keeps_the_record(tmp_path: Path) -> None:
    cs = make_cs(tmp_path)
    sid = cs.ok("start", "task", "--budget", "0.1")["id"]
    cs.ok("budget", "set", "daily", "0.05", "--action", "warn")
    first = cs.ok(*LOG)  # $0.054: over the daily warn rule, under the session cap
    assert first["cost"] == 0.054
    err = cs.fails("budget_exceeded", *LOG)  # $0.108 > $0.10
    assert err["error"]["details"]["spent"] == "0.1080000000" and err["error"]["details"]["scope"] == "session"
    status = cs.ok("status")
    assert (status["aiCalls"], status["aiCost"], status["id"]) == (2, 0.108, sid)
    assert status["budget"]["blocked"] is True and len(status["budget"]["warnings"]) == 2
    assert status["runaway"] == {"tripped": False, "blocked": False, "trips": [], "action": "warn"}
    rules = cs.ok("budget", "status")["budgets"]
    assert [(r["scope"], r["spent"], r["exceeded"]) for r in rules] == [("session", 0.108, True),
                                                                       ("daily", 0.108, True)]


def test_warn_only_rules_never_fail_log_ai_and_budget_commands_round_trip(tmp_path: Path) -> None:
    cs = make_cs(tmp_path)
    cs.ok("start", "task")
    rule = cs.ok("budget", "set", "project", "0.01", "--project", ".", "--action", "warn")["budget"]
    assert rule["project"] == str((tmp_path / "repo").resolve())
    cs.ok(*LOG)
    assert [r["id"] for r in cs.ok("budget", "list")["budgets"]] == [rule["id"]]
    cs.ok("budget", "rm", str(rule["id"]))
    cs.fails("not_found", "budget", "rm", str(rule["id"]))
    cs.fails("invalid_argument", "budget", "set", "daily", "-3")


def test_runaway_config_and_clear(tmp_path: Path) -> None:
    cs = make_cs(tmp_path)
    cfg = cs.ok("runaway", "config", "--action", "block", "--identical", "3")["config"]
    assert (cfg["action"], cfg["identicalK"], cfg["churnN"]) == ("block", 3, 20)
    assert cs.ok("runaway", "status")["openTrips"] == []
    assert cs.ok("runaway", "clear")["cleared"] == 0


def _chain(cs) -> int:
    cs.ok("start", "t")
    for i in range(4):
        cs.ok("note", f"n{i}")
    return cs.ok("audit", "head")["seq"]


def test_triggers_refuse_update_and_delete(tmp_path: Path) -> None:
    cs = make_cs(tmp_path)
    _chain(cs)
    con = sqlite3.connect(cs.data / "sessions.db")
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 2"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)
    con.close()


def test_hmac_mode_a_rewritten_chain_without_the_key_fails(tmp_path: Path) -> None:
    cs = make_cs(tmp_path, COSTHQ_AUDIT_KEY="k-123")
    _chain(cs)
    assert cs.ok("audit", "verify")["ok"] is True
    entries = cs.ok("audit", "log", "-l", "50")["entries"]
    assert [e["alg"] for e in entries[:3]] == ["sha256", "sha256", "hmac-sha256"]  # migrations have no key
    cs.extra_env.pop("COSTHQ_AUDIT_KEY")
    err = cs.fails("audit_chain_broken", "audit", "verify")["error"]
    assert (err["details"]["badSeq"], err["details"]["reason"]) == (3, "key_required")


def test_export_is_jsonl_of_every_entry(tmp_path: Path) -> None:
    cs = make_cs(tmp_path)
    _chain(cs)
    r = cs("audit", "export", "--format", "jsonl")
    lines = r.stdout.splitlines()
    assert r.code == 0 and len(lines) == 7
    assert [__import__("json").loads(x)["event"] for x in lines] == ["migration", "migration", "session.start",
                                                                      *["note"] * 4]
