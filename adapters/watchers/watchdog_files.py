"""File watcher over watchdog: events in, `on_change(FsChange)` calls out, nothing else.

Outside assumptions: watchdog's Observer runs handlers on its own thread, one event at a
time, so the debounce state needs no lock; kept changes go to one recording thread. The
.gitignore oracle keeps one pygit2 handle open for the watcher's lifetime and caches answers
per path; an event on a `.gitignore` file clears the cache (the rules changed). Filtering and
debouncing are the pure functions of `filtering.py`; this module only wires them up.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from costhq.adapters.watchers.filtering import DebounceState, FsChange, debounce, keep, to_changes


class GitIgnoreOracle:
    """`path_is_ignored` of the repository at `git_root`, cached; never ignores outside git."""

    def __init__(self, git_root: str | None) -> None:
        self._repo: Any = None
        if git_root:
            import pygit2

            self._repo = pygit2.Repository(git_root)
        self._cache: dict[str, bool] = {}

    def __call__(self, rel: str) -> bool:
        if self._repo is None:
            return False
        found = self._cache.get(rel)
        if found is None:
            found = self._cache[rel] = bool(self._repo.path_is_ignored(rel))
        return found

    def forget(self) -> None:
        self._cache.clear()

    def close(self) -> None:
        if self._repo is not None:
            self._repo.free()
            self._repo = None


def _seen_at(event: Any) -> float:
    # A busy observer delivers events late; the file's mtime is when the write happened, so
    # debounce windows follow the writes, not the observer's backlog. Deletions have no mtime.
    if event.event_type in ("created", "modified"):
        try:
            return os.stat(event.src_path).st_mtime
        except OSError:
            pass
    return time.time()


def _handler(scope: str, oracle: GitIgnoreOracle, on_change: Callable[[FsChange], None]) -> Any:
    from watchdog.events import FileSystemEventHandler

    state = DebounceState()

    class _Handler(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            changes = to_changes(event, scope, _seen_at(event))
            if any(c.path == ".gitignore" or c.path.endswith("/.gitignore") for c in changes):
                oracle.forget()
            for change in debounce([c for c in changes if keep(c, oracle)], state):
                on_change(change)

    return _Handler()


class WatchdogFileWatcher:
    """Watches `directory` (recursively) and reports changes relative to `scope`.

    Start/stop like a resource; `stop()` joins the observer thread, so no callback runs after it.
    """

    def __init__(self, *, directory: str, scope: str, git_root: str | None,
                 on_change: Callable[[FsChange], None]) -> None:
        self._directory = os.path.realpath(directory)
        self._scope = os.path.realpath(scope)
        self._git_root = git_root
        self._on_change = on_change
        self._observer: Any = None
        self._oracle: GitIgnoreOracle | None = None
        self._queue: queue.SimpleQueue[FsChange | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    def start(self) -> None:
        from watchdog.observers import Observer

        self._oracle = GitIgnoreOracle(self._git_root)
        # Writes go through a queue to one recording thread: the observer thread never waits on
        # SQLite, so a burst of events does not pile up behind database commits.
        self._writer = threading.Thread(target=self._drain, name="costhq-files", daemon=True)
        self._writer.start()
        observer = Observer()
        observer.schedule(_handler(self._scope, self._oracle, self._queue.put), self._directory, recursive=True)
        observer.start()
        self._observer = observer

    def _drain(self) -> None:
        while (change := self._queue.get()) is not None:
            try:
                self._on_change(change)
            except Exception as exc:  # the recording thread must survive a failed write
                sys.stderr.write(f"warning: could not record {change.path}: {exc}\n")

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=10)
        if self._writer is not None:
            self._queue.put(None)  # after everything already queued: stop() records it all
            self._writer.join(timeout=30)
            self._writer = None
        if self._oracle is not None:
            self._oracle.close()
            self._oracle = None
