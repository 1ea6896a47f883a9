"""End to end: the real `cs` in subprocesses, temp COSTHQ_HOME, temp git repos."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.e2e.cli_runner import Cs, commit_all, make_repo


@pytest.fixture
def cs(tmp_path: Path) -> Cs:
    home, data, work = tmp_path / "home", tmp_path / "data", tmp_path / "work"
    for d in (home, work):
        d.mkdir()
    return Cs(home=home, data=data, cwd=work)


def test_agent_lifecycle_from_the_spec_with_exact_totals(cs: Cs) -> None:
    repo = make_repo(cs.cwd, {"src/payments.py": "x = 1\n", "old.txt": "o\n"})
    sub = cs.cwd / "src"
    started = cs.ok("start", "Fix payment processing + retry", "--close-stale", cwd=sub)
    assert (started["schemaVersion"], started["costhqVersion"]) == (1, "4.1.0")
    assert (started["id"], started["status"], started["gitRoot"]) == (1, "active", str(cs.cwd.resolve()))
    assert started["branch"] == "main" and len(started["startGitHead"]) == 40
    cs.ok("note", "phase 1: analysis")
    for p, c in ((8000, 4000), (12000, 6000), (5000, 3000)):
        cs.ok("log-ai", "-p", "anthropic", "-m", "claude-opus-4-6", "--prompt-tokens", str(p),
              "--completion-tokens", str(c), "--agent", "Code Review Bot")
    status = cs.ok("status")
    # opus-4-6: $5 in / $25 out per 1M -> (25000*5 + 13000*25) / 1e6
    assert (status["aiCost"], status["aiTokens"], status["aiCalls"]) == (0.45, 38000, 3)
    assert {"liveDuration", "liveDurationFormatted", "gitRoot"} <= status.keys()
    (cs.cwd / "src/payments.py").write_text("x = 2\n")
    (cs.cwd / "src/retry.py").write_text("retry\n")
    commit_all(repo, "feat: add exponential backoff retry\n\nbody")
    (cs.cwd / "old.txt").unlink()
    (cs.cwd / "notes.md").write_text("uncommitted\n")
    ended = cs.ok("end", "-n", "Fixed payment bug")
    assert (ended["status"], ended["filesChanged"], ended["commits"], ended["notes"]) == (
        "completed", 4, 1, "Fixed payment bug")
    shown = cs.ok("show", "1")
    assert sorted((f["filePath"], f["changeType"]) for f in shown["files"]) == [
        ("notes.md", "created"), ("old.txt", "deleted"), ("src/payments.py", "modified"),
        ("src/retry.py", "created")]
    assert [c["message"] for c in shown["commits"]] == ["feat: add exponential backoff retry"]
    assert shown["commitCount"] == 1
    assert [a["message"] for a in shown["annotations"]] == ["phase 1: analysis"]
    assert [(u["promptTokens"], u["completionTokens"], u["cost"], u["agentName"]) for u in shown["aiUsage"]] == [
        (8000, 4000, 0.14, "Code Review Bot"), (12000, 6000, 0.21, "Code Review Bot"),
        (5000, 3000, 0.1, "Code Review Bot")]


def test_log_ai_pricing_object_and_manual_cost(cs: Cs) -> None:
    cs.ok("start", "s")
    doc = cs.ok("log-ai", "-p", "anthropic", "-m", "claude-sonnet-4", "--prompt-tokens", "8000",
                "--completion-tokens", "2000", "--cache-read-tokens", "1000", "--cache-write-tokens", "100")
    assert doc["cost"] == 0.054675  # 8000*3 + 2000*15 + 1000*0.3 + 100*3.75 per 1M
    assert doc["pricing"]["source"] == "built-in" and doc["pricing"]["modelKnown"] is True
    assert (doc["pricing"]["inputPer1M"], doc["pricing"]["outputPer1M"]) == (3, 15)
    assert (doc["pricing"]["cacheReadPer1M"], doc["pricing"]["cacheWritePer1M"]) == (0.3, 3.75)
    manual = cs.ok("log-ai", "-p", "anthropic", "-m", "claude-opus-4-6", "-t", "15000", "-c", "0.30")
    assert (manual["cost"], manual["tokens"], manual["pricing"]["source"]) == (0.3, 15000, "manual")
    assert cs.ok("status")["aiCost"] == 0.354675


def test_every_documented_error_code_exits_1_and_writes_nothing(cs: Cs) -> None:
    cs.fails("no_active_session", "status")
    cs.fails("no_active_session", "log-ai", "-p", "openai", "-m", "gpt-4o", "--prompt-tokens", "1")
    cs.ok("start", "a")
    cs.fails("session_active", "start", "b")
    cs.fails("session_not_found", "end", "-s", "42")
    cs.fails("missing_tokens", "log-ai", "-p", "openai", "-m", "gpt-4o")
    cs.fails("missing_tokens", "log-ai", "-p", "openai", "-m", "gpt-4o", "-t", "500")
    cs.fails("unknown_model", "log-ai", "-p", "acme", "-m", "no-such-model-x", "--prompt-tokens", "5")
    for bad in (["--prompt-tokens", "-5"], ["--prompt-tokens", "abc"], ["-c", "NaN"], ["-c", "-1"],
                ["-c", "inf"], ["-c", "1e"], ["--completion-tokens", "1.5"]):
        cs.fails("invalid_argument", "log-ai", "-p", "openai", "-m", "gpt-4o", *bad)
    cs.fails("invalid_argument", "export", "--format", "xml")
    cs.fails("invalid_argument", "nonsense-command")
    cs.fails("invalid_argument", "note", "   ")
    cs.fails("invalid_argument", "list", "-l", "0")
    assert cs.ok("status")["aiCalls"] == 0
    human = cs("status", "-s", "99")
    assert (human.code, human.stdout) == (1, "") and "error: Session 99 not found" in human.stderr
    assert "Traceback" not in human.stderr


def test_resume_close_stale_and_parallel_repos(cs: Cs, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_repo(a), make_repo(b)
    sa = cs.ok("start", "A", cwd=a)
    sb = cs.ok("start", "B", cwd=b)
    assert cs.ok("start", "A again", "--resume", cwd=a)["id"] == sa["id"]
    cs.ok("log-ai", "-p", "openai", "-m", "gpt-4o", "-t", "8000", "-c", "0.04", "-s", str(sb["id"]), cwd=a)
    fresh = cs.ok("start", "A fresh", "--close-stale", cwd=a)
    assert fresh["closedStale"] == [sa["id"]]
    assert cs.ok("status", cwd=b)["aiCost"] == 0.04
    listed = cs.ok("list", "-l", "2")["sessions"]
    assert [s["name"] for s in listed] == ["A fresh", "B"]
    assert cs.ok("recover", "--max-age", "1")["recovered"] == 0


def test_outside_git_and_unborn_and_detached_heads(cs: Cs, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    s = cs.ok("start", "plain", cwd=plain)
    assert (s["gitRoot"], s["workingDirectory"], s["startGitHead"]) == (None, str(plain.resolve()), None)
    assert cs.ok("end", cwd=plain)["filesChanged"] == 0
    unborn = tmp_path / "unborn"
    import pygit2

    pygit2.init_repository(str(unborn), initial_head="trunk")
    (unborn / "new.py").write_text("n\n")
    s = cs.ok("start", "unborn", cwd=unborn)
    assert (s["startGitHead"], s["branch"]) == (None, "trunk")
    assert cs.ok("end", cwd=unborn)["filesChanged"] == 1
    det = tmp_path / "det"
    repo = make_repo(det)
    repo.set_head(repo.head.target)
    s = cs.ok("start", "detached", cwd=det)
    assert s["branch"] is None and len(s["startGitHead"]) == 40


def test_stats_export_and_show_flags(cs: Cs, tmp_path: Path) -> None:
    cs.ok("start", "one")
    cs.ok("log-ai", "-p", "openai", "-m", "gpt-4o", "--prompt-tokens", "8000", "--completion-tokens", "2000")
    cs.ok("end")
    stats = cs.ok("stats")
    assert (stats["totalSessions"], stats["totalAiCost"], stats["totalAiTokens"]) == (1, 0.04, 10000)
    exported = json.loads(cs("export", "--format", "json").stdout)
    assert exported["schemaVersion"] == 1 and [s["aiCost"] for s in exported["sessions"]] == [0.04]
    rows = list(csv.DictReader(io.StringIO(cs("export", "--format", "csv", "--limit", "1").stdout)))
    assert [(r["name"], r["aiCost"]) for r in rows] == [("one", "0.04")]
    out = tmp_path / "out" / "s.csv"
    assert cs.ok("export", "--format", "csv", "--output", str(out))["sessions"] == 1
    assert out.read_text().startswith("id,name,status")
    human = cs("show", "--files", "--commits")
    assert human.code == 0 and "Session: one" in human.stdout and "$0.04" in human.stdout
    assert "1" in cs("stats").stdout


def test_pricing_set_list_reset_with_provider_namespace(cs: Cs) -> None:
    cs.ok("pricing", "set", "my-ft-model", "5.00", "15.00")
    cs.ok("pricing", "set", "gpt-4o", "3.00", "12.00", "--provider", "azure")
    listing = cs.ok("pricing", "list", "--search", "gpt-4o")
    assert [(p["model"], p["inputPer1M"]) for p in listing["custom"]] == [("azure/gpt-4o", 3)]
    assert any(p["model"] == "gpt-4o" and p["provider"] == "openai" for p in listing["builtIn"])
    stored = json.loads((cs.data / "pricing.json").read_text())
    assert stored["azure/gpt-4o"] == {"input": 3.0, "output": 12.0} or stored["azure/gpt-4o"]["input"] in (3, "3.00")
    cs.ok("start", "s")
    az = cs.ok("log-ai", "-p", "azure", "-m", "gpt-4o", "--prompt-tokens", "1000000")
    oa = cs.ok("log-ai", "-p", "openai", "-m", "gpt-4o", "--prompt-tokens", "1000000")
    ft = cs.ok("log-ai", "-p", "acme", "-m", "my-ft-model", "--completion-tokens", "1000000")
    assert [(d["cost"], d["pricing"]["source"]) for d in (az, oa, ft)] == [
        (3, "custom"), (2.5, "built-in"), (15, "custom")]
    assert cs.ok("pricing", "reset")["removed"] == 2
    cs.fails("invalid_pricing", "pricing", "set", "x", "-1", "2")
    (cs.data / "pricing.json").write_text("{not json")
    cs.fails("invalid_pricing", "log-ai", "-p", "acme", "-m", "my-ft-model", "--completion-tokens", "1")
