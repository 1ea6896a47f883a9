"""Commit watcher: new commits within ~1 s through watchdog on the git dir, a 10 s poll as fallback.

Rules:
- The cursor is seeded with the session's start HEAD (else HEAD when the watcher starts),
  never left empty, so history before the session is never reported.
- Only commits made during the session count: reachable from the new HEAD, not from the
  cursor and not seen before; after a branch switch, also committed at or after the session
  start (switching to an older branch reports none of its history).
- A change of branch (or detaching HEAD) is reported once through `on_branch`.

Outside assumptions: git (and libgit2) update `.git/HEAD`, `.git/refs/...` and append to the
reflog `.git/logs/HEAD` on every commit and checkout, so an event under the git dir is a
reliable "look now" signal; filesystems without events (network mounts) still get the poll.
Each check opens the repository and frees it before returning (no open packfiles).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from costhq.domain.git import CommitInfo

POLL_SECONDS = 10.0


def _new_commits(repo: Any, head: Any, hide: str | None, seen: set[str], since: int | None) -> list[CommitInfo]:
    from pygit2.enums import SortMode

    from costhq.adapters.watchers.pygit2_metadata import _commit_info

    walker = repo.walk(head, SortMode.TOPOLOGICAL | SortMode.TIME | SortMode.REVERSE)
    if hide is not None:
        try:
            walker.hide(hide)
        except (KeyError, ValueError):  # the cursor commit vanished (gc after a rewrite)
            pass
    out = []
    for commit in walker:
        if (since is None or commit.commit_time >= since) and str(commit.id) not in seen:
            out.append(_commit_info(commit))
    return out


class CommitWatcher:
    """Reports commits and branch switches of the repository at `git_root`."""

    def __init__(self, *, git_root: str, since: datetime, start_sha: str | None,
                 on_commit: Callable[[CommitInfo], None],
                 on_branch: Callable[[str | None, str | None], None],
                 poll_seconds: float = POLL_SECONDS, events: bool = True) -> None:
        self._root = git_root
        self._since = int(since.timestamp())
        self._cursor = start_sha
        self._on_commit, self._on_branch = on_commit, on_branch
        self._poll = poll_seconds
        self._events = events  # False: the poll alone (how filesystems without events behave)
        self._seen: set[str] = set()
        self._branch: str | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: Any = None

    def start(self) -> None:
        head = self._read_head()
        self._branch = head[1]
        if self._cursor is None:
            self._cursor = head[0]
        self._thread = threading.Thread(target=self._run, name="costhq-commits", daemon=True)
        self._thread.start()
        if self._events:
            try:
                self._observer = self._observe()
            except OSError as exc:  # e.g. the inotify watch limit: the poll still sees every commit
                sys.stderr.write(f"warning: watching {self._root} for commits failed ({exc}); "
                                 f"polling every {self._poll:g} s\n")

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=10)
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.check()  # a commit made just before the stop still counts

    def check(self) -> None:
        """Look at HEAD now and report what changed since the last look."""
        import pygit2

        with self._lock:
            repo = pygit2.Repository(self._root)
            try:
                sha, branch = _head_of(repo)
                switched = branch != self._branch
                if switched:
                    old, self._branch = self._branch, branch
                    self._on_branch(old, branch)
                if sha is not None and sha != self._cursor:
                    # Same branch: everything new on it was made now (whatever its dates say).
                    # After a switch, only commits dated after the session start are ours.
                    since = self._since if switched else None
                    for info in _new_commits(repo, sha, self._cursor, self._seen, since):
                        self._seen.add(info.hash)
                        self._on_commit(info)
                    self._cursor = sha
            finally:
                repo.free()

    def _read_head(self) -> tuple[str | None, str | None]:
        import pygit2

        repo = pygit2.Repository(self._root)
        try:
            return _head_of(repo)
        finally:
            repo.free()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.check()
            except Exception as exc:  # a half-written ref mid-commit; the next wake retries
                sys.stderr.write(f"warning: commit check failed: {exc}\n")

    def _observe(self) -> Any:
        import pygit2
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        wake = self._wake

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                wake.set()  # checks are cheap and serialised; a lock file just means "soon"

        repo = pygit2.Repository(self._root)
        git_dir = os.path.realpath(repo.path)
        repo.free()
        observer = Observer()
        observer.schedule(_Wake(), git_dir, recursive=False)  # HEAD itself
        for sub in ("logs", "refs/heads"):
            path = os.path.join(git_dir, sub)
            if os.path.isdir(path):  # a missing `logs` shows up as an event on the git dir
                observer.schedule(_Wake(), path, recursive=True)  # reflog appends, branch refs
        observer.start()
        return observer


def _head_of(repo: Any) -> tuple[str | None, str | None]:
    if repo.head_is_unborn:
        target = str(repo.lookup_reference("HEAD").target)
        return None, target.removeprefix("refs/heads/")
    if repo.head_is_detached:
        return str(repo.head.target), None
    return str(repo.head.target), repo.head.shorthand
