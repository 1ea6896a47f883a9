"""`cs import`, `cs auto-log`, `cs report`, `cs statusline`, `cs today` through the real `cs` (issue 7)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.domain.pricing import PriceSource
from costhq.domain.usage import Origin, TokenCounts, UsageRecord
from tests.e2e.cli_runner import Cs, make_repo
from tests.e2e.helpers_integrations import (
    CLAUDE_COST,
    CLAUDE_PRICE,
    CLAUDE_TOTALS,
    CODEX_COST,
    CODEX_PRICE,
    CODEX_TOTALS,
    _assistant,
    claude_tree,
    codex_tree,
    write_lines,
)


@pytest.fixture
def cs(tmp_path: Path) -> Cs:
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    repo = tmp_path / "repo_a"
    make_repo(repo)
    (tmp_path / "repo_b").mkdir()
    runner = Cs(home=home, data=data, cwd=repo)
    runner.ok("pricing", "set", *CLAUDE_PRICE)
    runner.ok("pricing", "set", *CODEX_PRICE)
    return runner


def test_claude_import_has_exact_totals_and_rerunning_adds_nothing(cs: Cs, tmp_path: Path) -> None:
    claude_tree(cs.home, tmp_path / "repo_a", tmp_path / "repo_b")
    first = cs.ok("import", "claude-code")
    assert (first["imported"], first["skipped"], first["malformedLines"], first["duplicateLines"]) == (4, 0, 1, 2)
    assert first["tokens"] == CLAUDE_TOTALS["tokens"] and first["cost"] == CLAUDE_COST
    assert [s["calls"] for s in first["sessions"]] == [1, 3]  # one "Imported" session per project (repo_b read first)
    again = cs.ok("import", "claude-code")
    assert (again["imported"], again["skipped"]) == (0, 4)
    listed = cs.ok("list")["sessions"]
    assert sorted((s["name"], s["status"], s["workingDirectory"]) for s in listed) == [
        ("Imported", "completed", str(tmp_path / "repo_a")), ("Imported", "completed", str(tmp_path / "repo_b"))]
    assert cs.ok("stats")["totalAiCost"] == CLAUDE_COST


def test_dry_run_reports_the_same_numbers_and_writes_nothing(cs: Cs, tmp_path: Path) -> None:
    claude_tree(cs.home, tmp_path / "repo_a", tmp_path / "repo_b")
    dry = cs.ok("import", "claude-code", "--dry-run")
    assert (dry["dryRun"], dry["imported"], dry["cost"]) == (True, 4, CLAUDE_COST)
    assert cs.ok("list")["sessions"] == []


def test_usage_the_proxy_captured_under_the_same_request_id_is_not_counted_again(cs: Cs, tmp_path: Path) -> None:
    claude_tree(cs.home, tmp_path / "repo_a", tmp_path / "repo_b")
    started = cs.ok("start", "proxy run")
    with ApswUnitOfWork(str(cs.data / "sessions.db")) as uow:
        uow.usage.add(UsageRecord(
            session_id=started["id"], provider="anthropic", model="claude-test", tokens=TokenCounts(input=1),
            total_tokens=1, cost=Decimal("0.000003"), price_source=PriceSource.CUSTOM,
            timestamp=datetime(2026, 11, 20, 10, 30, tzinfo=UTC), origin=Origin.PROXY, call_key="proxy:1",
            upstream_request_id="req_B", response_id="msg_B"))
    out = cs.ok("import", "claude-code")
    assert (out["imported"], out["skipped"], out["alreadyCaptured"]) == (3, 1, 1)
    again = cs.ok("import", "claude-code")  # the captured call is now a plain replay of its key
    assert (again["imported"], again["skipped"], again["alreadyCaptured"]) == (0, 4, 0)


def test_attach_puts_calls_into_the_session_whose_scope_and_window_hold_them(cs: Cs, tmp_path: Path) -> None:
    started = cs.ok("start", "live work")
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    write_lines(cs.home / ".claude/projects/-x/s.jsonl", [
        _assistant("msg_old", "req_old", "2001-01-01T00:00:00.000Z", str(tmp_path / "repo_a"),
                   {"input_tokens": 1, "output_tokens": 1}),
        _assistant("msg_new", "req_new", ts, str(tmp_path / "repo_a" / "sub"), {"input_tokens": 2, "output_tokens": 2}),
    ])
    out = cs.ok("import", "claude-code", "--attach")
    by_session = {s["id"]: s["calls"] for s in out["sessions"]}
    assert by_session[started["id"]] == 1 and sum(by_session.values()) == 2
    assert cs.ok("status")["aiTokens"] == 4


def test_codex_import_has_exact_totals(cs: Cs, tmp_path: Path) -> None:
    codex_tree(tmp_path / "codex", tmp_path / "repo_a")
    cs.extra_env["CODEX_HOME"] = str(tmp_path / "codex")
    out = cs.ok("import", "codex")
    assert (out["imported"], out["tokens"], out["cost"], out["duplicateLines"]) == (
        CODEX_TOTALS["calls"], CODEX_TOTALS["tokens"], CODEX_COST, 1)
    assert cs.ok("import", "codex")["imported"] == 0


def test_auto_log_imports_incrementally_into_the_active_session_and_never_fails(cs: Cs, tmp_path: Path) -> None:
    started = cs.ok("start", "agent run")
    t = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    path = write_lines(tmp_path / "t.jsonl", [
        _assistant("m1", "r1", t, str(tmp_path / "repo_a"), {"input_tokens": 100, "output_tokens": 10}, text="a"),
        _assistant("m1", "r1", t, str(tmp_path / "repo_a"), {"input_tokens": 100, "output_tokens": 10}, text="b")])
    hook = json.dumps({"session_id": "cc", "transcript_path": str(path), "cwd": str(tmp_path / "repo_a"),
                       "hook_event_name": "Stop"})
    first = cs("auto-log", stdin=hook)
    assert (first.code, first.stdout, first.stderr) == (0, "", "")
    assert cs.ok("status")["aiTokens"] == 110
    with path.open("a") as fh:
        fh.write(_assistant("m2", "r2", t, str(tmp_path / "repo_a"), {"input_tokens": 5, "output_tokens": 5}) + "\n")
    second = cs("auto-log", "--json", stdin=hook)
    assert second.code == 0 and (second.json["imported"], second.json["skipped"]) == (1, 0)
    status = cs.ok("status")
    assert (status["id"], status["aiTokens"], status["aiCalls"]) == (started["id"], 120, 2)
    broken = cs("auto-log", stdin="not json")
    assert broken.code == 0 and broken.stdout == "" and "costhq auto-log" in broken.stderr
    cs.ok("end")
    idle = cs("auto-log", stdin=hook)
    assert idle.code == 0 and "No active session" in idle.stderr


def test_reports_bucket_by_timezone_and_filter(cs: Cs, tmp_path: Path) -> None:
    # msg_D is at 12:00Z and the others at 10:00-10:40Z on 2026-11-20: in Pacific/Kiritimati (UTC+14)
    # the 10:xx calls fall on the 21st and 12:00 too; in America/New_York (UTC-5) all on the 20th.
    claude_tree(cs.home, tmp_path / "repo_a", tmp_path / "repo_b")
    cs.ok("import", "claude-code")
    ny = cs.ok("report", "daily", "--timezone", "America/New_York")
    assert [(r["key"], r["calls"], r["cost"]) for r in ny["rows"]] == [("2026-11-20", 4, CLAUDE_COST)]
    kiri = cs.ok("report", "daily", "--timezone", "Pacific/Kiritimati")
    assert [r["key"] for r in kiri["rows"]] == ["2026-11-21"]
    assert [r["key"] for r in cs.ok("report", "weekly", "--tz", "UTC")["rows"]] == ["2026-11-16"]
    assert [r["key"] for r in cs.ok("report", "monthly", "--tz", "UTC")["rows"]] == ["2026-11"]
    projects = cs.ok("report", "projects")["rows"]
    assert [(r["key"], r["calls"]) for r in projects] == [(str(tmp_path / "repo_a"), 3), (str(tmp_path / "repo_b"), 1)]
    only_b = cs.ok("report", "models", "--project", str(tmp_path / "repo_b"))
    assert [(r["key"], r["inputTokens"], r["outputTokens"]) for r in only_b["rows"]] == [("claude-test", 7, 11)]
    window = cs.ok("report", "daily", "--since", "2026-11-20T10:20:00Z", "--until", "2026-11-20T11:00:00Z")
    assert window["totals"]["calls"] == 2
    blocks = cs.ok("report", "blocks")["blocks"]
    assert [(b["start"], b["calls"], b["active"]) for b in blocks] == [("2026-11-20T10:00:00.000Z", 4, False)]
    # 0.003966 over 10:00:05 -> 12:00:00 (7195 s) = 0.0019843502... $/h
    assert blocks[0]["burnRatePerHour"] == float(round(Decimal("0.003966") * 3600 / 7195, 10))
    assert cs.fails("invalid_argument", "report", "daily", "--timezone", "Mars/Base")["error"]["code"]


def test_statusline_is_one_short_line(cs: Cs) -> None:
    cs.ok("start", "status work")
    cs.ok("log-ai", "-p", "anthropic", "-m", "claude-test", "--prompt-tokens", "1000000", "--completion-tokens", "0")
    line = cs("statusline")
    assert line.code == 0 and line.stdout.count("\n") == 1
    assert "#1 status work $3.00" in line.stdout and "/h" in line.stdout


def test_today_lists_registered_projects_with_git_state_and_last_session(cs: Cs, tmp_path: Path) -> None:
    repo = tmp_path / "repo_a"
    (repo / "notes.py").write_text("# TODO one\n# FIXME two\nx = 1  # TODO three\n")
    cs.ok("start", "today work")
    cs.ok("log-ai", "-p", "anthropic", "-m", "claude-test", "--prompt-tokens", "1000", "--completion-tokens", "0")
    added = cs.ok("today", "add", str(repo / "sub") if (repo / "sub").exists() else str(repo))
    assert added["path"] == str(repo)
    (p,) = cs.ok("today")["projects"]
    assert (p["branch"], p["dirtyFiles"], p["todoCount"], p["ahead"], p["behind"]) == ("main", ["notes.py"], 3, 0, 0)
    assert (p["lastSession"]["name"], p["lastSession"]["aiCost"]) == ("today work", 0.003)
    assert "notes.py" in cs("today", "--ai").stdout
    assert cs("today", "--share").stdout.startswith("Today: 1 project(s) (repo_a)")
    assert cs.ok("today", "rm", str(repo))["removed"] == str(repo)
    assert cs.ok("today")["projects"] == []
    cs.fails("not_found", "today", "rm", str(repo))
