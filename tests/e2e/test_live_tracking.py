"""End to end: `cs start NAME` in the foreground watches files and commits until Ctrl-C."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
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
        proc.send_signal(signal.SIGTERM)  # like Ctrl-C: nothing asked, a clean stop
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


def _read_until(fd: int, buf: bytearray, needle: bytes, timeout: float = 15.0) -> bytes:
    """Read the terminal until `needle` shows up (select with a deadline, not a sleep)."""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {bytes(buf)[-400:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"terminal closed before {needle!r}; got {bytes(buf)[-400:]!r}")
            buf.extend(chunk)
    return bytes(buf)


def test_on_a_terminal_the_status_line_refreshes_in_place_and_ctrl_c_ends_the_session(cs: Cs) -> None:
    make_repo(cs.cwd)
    master, slave = pty.openpty()
    # The terminal is the child's controlling terminal, so the ^C byte below is a real Ctrl-C.
    proc = subprocess.Popen([CS, "start", "On a terminal"], cwd=cs.cwd, env={**cs.env(), "TERM": "xterm"},
                            preexec_fn=lambda: os.login_tty(slave), pass_fds=(slave,), close_fds=True)
    os.close(slave)
    buf = bytearray()
    try:
        _read_until(master, buf, b"Press Ctrl-C")
        _read_until(master, buf, "\r\x1b[2K⏱ ".encode())
        (cs.cwd / "main.py").write_text("print('hi')\n")
        _read_until(master, buf, "• 1 files • 0 commits • $0.00".encode())
        os.write(master, b"\x03")
        out = _read_until(master, buf, b"AI cost").decode()
    finally:
        proc.wait(timeout=30)
        os.close(master)
    assert proc.returncode == 0
    assert out.count("\r\x1b[2K⏱ ") >= 2  # redrawn in place, not scrolled
    assert "Session ended\r\nSession: " in out and "• 1 files • 0 commits • $0.00 AI cost" in out
    assert "Traceback" not in out
    assert cs.ok("show", "1")["status"] == "completed"


def test_file_churn_feeds_the_runaway_detector_and_the_foreground_line_warns(cs: Cs) -> None:
    make_repo(cs.cwd)
    cs.ok("runaway", "config", "--churn", "3")
    proc = _start(cs)
    try:
        wait_for(lambda: proc.stdout is not None and "Ctrl-C" in proc.stdout.readline(), what="watchers up")
        target = cs.cwd / "loop.py"

        def rewrite() -> bool:  # one kept event per second per file: keep writing until the trip
            target.write_text(f"x = {time.time()}\n")
            trips = cs.ok("runaway", "status").get("openTrips") or []
            return any(t["detector"] == "churn" for t in trips)

        wait_for(rewrite, timeout=20, what="churn trip")
        assert proc.stdout is not None
        wait_for(lambda: "⚠ runaway churn (warn): loop.py was modified" in proc.stdout.readline(),
                 what="warning line")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_tracker_for_serves_cs_run_style_callers_in_process(cs: Cs, monkeypatch: pytest.MonkeyPatch) -> None:
    from costhq.adapters.watchers.live import tracker_for
    from costhq.bootstrap.main import build_container

    repo = make_repo(cs.cwd)
    monkeypatch.setenv("COSTHQ_HOME", str(cs.data))
    c = build_container()
    sid = c.start_session()(name="wrapped child", cwd=str(cs.cwd)).session.id
    with tracker_for(c, sid):
        (cs.cwd / "made_by_child.py").write_text("1\n")
        made = commit_all(repo, "child commit")
        shown = lambda: c.get_session()(cwd=str(cs.cwd), session_id=sid, detail=True)  # noqa: E731
        wait_for(lambda: shown().session.commits == 1 and shown().session.files_changed >= 1, what="recorded")
    detail = shown()
    assert [c.hash for c in detail.commits] == [made]
    assert ("made_by_child.py", "created") in [(f.file_path, f.change_type.value) for f in detail.files]
