"""End to end: `cs start NAME` in the foreground watches files and commits until Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli_runner import CS, Cs, commit_all, make_repo
from tests.e2e.helpers_live import wait_for


@pytest.fixture
def cs(tmp_path: Path) -> Cs:
    home, data, work = tmp_path / "home", tmp_path / "data", tmp_path / "work"
    for d in (home, work):
        d.mkdir()
    return Cs(home=home, data=data, cwd=work)


def _start(cs: Cs, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen([CS, "start", "Live work", *flags], cwd=cs.cwd, env=cs.env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _status(cs: Cs) -> dict:
    r = cs("status", "--json")
    return r.json if r.code == 0 else {}


def test_foreground_start_records_files_and_commits_then_ctrl_c_ends_with_summary(cs: Cs) -> None:
    repo = make_repo(cs.cwd, {"README.md": "# demo\n", ".gitignore": "*.log\n"})
    proc = _start(cs)
    try:
        wait_for(lambda: _status(cs).get("id") == 1, what="session started")
        wait_for(lambda: proc.stdout is not None and "Ctrl-C" in proc.stdout.readline(), what="watchers up")
        (cs.cwd / "app.py").write_text("print(1)\n")
        (cs.cwd / "debug.log").write_text("ignored by .gitignore\n")
        (cs.cwd / "node_modules").mkdir()
        (cs.cwd / "node_modules" / "x.js").write_text("ignored\n")
        (cs.cwd / ".env").write_text("ignored dotfile\n")
        wait_for(lambda: _status(cs).get("filesChanged") == 1, what="app.py recorded")
        commit_all(repo, "feat: live commit")
        wait_for(lambda: _status(cs).get("commits") == 1, timeout=5, what="commit within seconds")
        shown = cs.ok("show", "1")
        assert [(f["filePath"], f["changeType"]) for f in shown["files"]] == [("app.py", "created")]
        assert [c["message"] for c in shown["commits"]] == ["feat: live commit"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Session ended" in out and "1 commits" in out
    final = cs.ok("show", "1")
    assert final["status"] == "completed"
    assert [c["hash"] for c in final["commits"]] == [str(repo.head.target)]


def test_keep_open_leaves_the_session_active_and_branch_switches_are_noted(cs: Cs) -> None:
    repo = make_repo(cs.cwd)
    proc = _start(cs, "--keep-open")
    try:
        wait_for(lambda: _status(cs).get("id") == 1, what="session started")
        wait_for(lambda: proc.stdout is not None and "Ctrl-C" in proc.stdout.readline(), what="watchers up")
        repo.branches.local.create("feature", repo.head.peel())
        repo.checkout("refs/heads/feature")
        wait_for(lambda: cs.ok("show", "1")["annotations"], what="branch switch noted")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "still active" in out
    shown = cs.ok("show", "1")
    assert shown["status"] == "active"
    assert [a["message"] for a in shown["annotations"]] == ["Switched branch: main -> feature"]
    assert shown["commits"] == []


def test_json_start_returns_at_once_without_watchers(cs: Cs) -> None:
    make_repo(cs.cwd)
    assert cs.ok("start", "agent run")["status"] == "active"
    (cs.cwd / "later.py").write_text("x\n")
    assert cs.ok("status")["filesChanged"] == 0
