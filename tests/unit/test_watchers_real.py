"""The watchers against a real temp directory and a real temp git repo (conditions, no fixed sleeps)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2

from costhq.adapters.watchers.commit_watcher import CommitWatcher
from costhq.adapters.watchers.filtering import FsChange
from costhq.adapters.watchers.watchdog_files import WatchdogFileWatcher
from costhq.domain.git import CommitInfo
from costhq.domain.sessions import ChangeType
from tests.e2e.helpers_live import wait_for


def _sig() -> pygit2.Signature:
    return pygit2.Signature("Dev", "dev@example.com")


def _commit(repo: pygit2.Repository, message: str) -> str:
    repo.index.add_all()
    repo.index.write()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return str(repo.create_commit("HEAD", _sig(), _sig(), message, repo.index.write_tree(), parents))


def test_file_watcher_reports_kept_changes_relative_to_the_scope(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path), initial_head="main")
    (tmp_path / ".gitignore").write_text("*.tmp\ngenerated/\n")
    (tmp_path / "src" / "vendor").mkdir(parents=True)
    (tmp_path / "src" / "vendor" / ".gitignore").write_text("*.bin\n")  # nested rules count too
    (tmp_path / "src" / "generated").mkdir()
    seen: list[FsChange] = []
    lock = threading.Lock()

    def on_change(c: FsChange) -> None:
        with lock:
            seen.append(c)

    watcher = WatchdogFileWatcher(directory=str(tmp_path / "src"), scope=str(tmp_path),
                                  git_root=repo.workdir, on_change=on_change)
    watcher.start()
    try:
        (tmp_path / "src" / "x.tmp").write_text("ignored")
        (tmp_path / "src" / "generated" / "out.py").write_text("ignored: a directory rule")
        (tmp_path / "src" / "vendor" / "blob.bin").write_text("ignored: a nested .gitignore")
        (tmp_path / "src" / "vendor" / "lib.py").write_text("kept")
        (tmp_path / "src" / "a.py").write_text("1")
        for i in range(20):
            (tmp_path / "src" / "a.py").write_text(str(i))
        (tmp_path / "src" / "a.py").rename(tmp_path / "src" / "b.py")
        wait_for(lambda: any(c.path == "src/b.py" for c in seen), what="rename seen")
    finally:
        watcher.stop()
    paths = {(c.path, c.change_type) for c in seen}
    assert ("src/a.py", ChangeType.CREATED) in paths and ("src/b.py", ChangeType.CREATED) in paths
    assert {c.path for c in seen} == {"src/vendor/lib.py", "src/a.py", "src/b.py"}
    assert len([c for c in seen if c.path == "src/a.py"]) <= 3  # debounced: at most one per second touched


def test_commit_watcher_sees_new_commits_fast_and_only_the_sessions(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path), initial_head="main")
    (tmp_path / "a").write_text("a")
    before = _commit(repo, "before the session")
    commits: list[CommitInfo] = []
    branches: list[tuple[str | None, str | None]] = []
    watcher = CommitWatcher(git_root=str(tmp_path), since=datetime.now(UTC) - timedelta(seconds=1),
                            start_sha=None, on_commit=commits.append,
                            on_branch=lambda o, n: branches.append((o, n)), poll_seconds=60)
    watcher.start()
    try:
        (tmp_path / "b").write_text("b")
        made = _commit(repo, "feat: during\n\nbody")
        # The poll is 60 s here: only the watchdog signal can make this pass in time.
        wait_for(lambda: commits, timeout=5, what="commit event")
        repo.checkout(repo.branches.local.create("topic", repo.head.peel()))
        wait_for(lambda: branches, timeout=5, what="branch switch")
    finally:
        watcher.stop()
    assert [(c.hash, c.message) for c in commits] == [(made, "feat: during")]
    assert before not in [c.hash for c in commits]
    assert branches == [("main", "topic")]


def test_commit_watcher_falls_back_to_polling_without_file_events(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path), initial_head="main")
    (tmp_path / "a").write_text("a")
    start = _commit(repo, "start")
    commits: list[CommitInfo] = []
    watcher = CommitWatcher(git_root=str(tmp_path), since=datetime.now(UTC), start_sha=start,
                            on_commit=commits.append, on_branch=lambda o, n: None, poll_seconds=0.2, events=False)
    watcher.start()
    try:
        (tmp_path / "b").write_text("b")
        first = _commit(repo, "one")
        (tmp_path / "c").write_text("c")
        second = _commit(repo, "two")
        wait_for(lambda: len(commits) == 2, timeout=10, what="both commits polled")
    finally:
        watcher.stop()
    assert [(c.hash, c.message) for c in commits] == [(first, "one"), (second, "two")]
