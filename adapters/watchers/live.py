"""Live tracking: the file and commit watchers bound to one session, and `cs start`'s foreground loop.

Shared by `cs start NAME` (foreground), `AgentSession(directory=..., git=True)` and, through
`tracker_for`, `cs run` around its child:

    with tracker_for(container, session_id):   # watchers running on their own threads
        ...                                     # files/commits are recorded as they happen
    # left: threads joined, queued changes stored, a last commit check done

Watcher callbacks call the tracking use cases and nothing else: every kept file change is
recorded (RecordFileChange) and fed to the runaway detector's churn check (RecordFileActivity);
a new runaway trip is kept in `alerts` for the foreground line. The foreground loop only reads
the session once a second to draw the status line; Ctrl-C (SIGINT, SIGTERM, SIGHUP) stops the
watchers and ends the session with its summary (unless --keep-open).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

import attrs

from costhq.application.sessions import EndSession, GetSession
from costhq.application.tracking import NoteBranchSwitch, RecordCommit, RecordFileChange
from costhq.domain.money import format_usd
from costhq.domain.sessions import Session, format_duration

QUIET_LINE_SECONDS = 30.0  # without a TTY: a line when something changed, at most this often


@attrs.define
class LiveTracker:
    """File and commit watchers of one session. `start()`/`stop()`; safe to stop twice."""

    session: Session
    record_file: RecordFileChange
    record_commit: RecordCommit
    note_branch: NoteBranchSwitch
    file_activity: Callable[..., list[Any]] | None = None
    directory: str | None = None
    watch_files: bool = True
    watch_commits: bool = True
    alerts: list[str] = attrs.Factory(list)
    _parts: list[Any] = attrs.Factory(list)
    _tripped: set[Any] = attrs.Factory(set)

    def _file_changed(self, change: Any) -> None:
        self.record_file(session_id=self.session.id, path=change.path, change_type=change.change_type)
        if self.file_activity is None:
            return
        for trip in self.file_activity(session_id=self.session.id, path=change.path):
            if trip.id not in self._tripped:
                self._tripped.add(trip.id)
                self.alerts.append(f"runaway {trip.detector.value} ({trip.action.value}): {trip.message}")

    def start(self) -> LiveTracker:
        from costhq.adapters.watchers.commit_watcher import CommitWatcher
        from costhq.adapters.watchers.watchdog_files import WatchdogFileWatcher

        s = self.session
        if self.watch_files:
            self._parts.append(WatchdogFileWatcher(
                directory=self.directory or s.working_directory, scope=s.working_directory,
                git_root=s.git_root,
                on_change=self._file_changed))
        if self.watch_commits and s.git_root:
            self._parts.append(CommitWatcher(
                git_root=s.git_root, since=s.start_time, start_sha=s.start_git_head,
                on_commit=lambda info: self.record_commit(session_id=s.id, commit=info),
                on_branch=lambda old, new: self.note_branch(session_id=s.id, old=old, new=new)))
        try:
            for part in self._parts:
                part.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        parts, self._parts = self._parts, []
        for part in reversed(parts):
            part.stop()

    def __enter__(self) -> LiveTracker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@attrs.frozen
class LiveTracking:
    """The container's `live_tracking` hook: builds trackers and runs `cs start`'s foreground mode."""

    get_session: GetSession
    end_session: EndSession
    record_file: RecordFileChange
    record_commit: RecordCommit
    note_branch: NoteBranchSwitch
    now: Callable[[], Any]
    file_activity: Callable[..., list[Any]] | None = None

    def tracker(self, session_id: int, *, directory: str | None = None, files: bool = True,
                commits: bool = True) -> LiveTracker:
        session = self.get_session(cwd=".", session_id=session_id).session
        return LiveTracker(session, self.record_file, self.record_commit, self.note_branch, self.file_activity,
                           directory=directory, watch_files=files, watch_commits=commits)

    def __call__(self, session_id: int, *, keep_open: bool = False, out: TextIO | None = None) -> int:
        """Foreground mode: watch until Ctrl-C (or the session is ended elsewhere); 0 on a clean end."""
        out = out or sys.stdout
        stop = threading.Event()
        # SIGHUP: the terminal went away; end as cleanly as on Ctrl-C.
        signals = [signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
        line = _StatusLine(out)
        try:
            with self.tracker(session_id) as tracker:
                out.write("Tracking files and commits. Press Ctrl-C to end the session"
                          + (" (it stays open: --keep-open).\n" if keep_open else ".\n"))
                out.flush()
                while True:
                    session = self.get_session(cwd=".", session_id=session_id).session
                    if not session.is_active:
                        line.finish()
                        out.write(f"Session #{session_id} was ended elsewhere.\n")
                        return 0
                    while tracker.alerts:
                        line.alert(tracker.alerts.pop(0))
                    line.show(session, self.now())
                    if stop.wait(1.0):
                        break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        line.finish()
        if keep_open:
            out.write(f"Stopped watching; session #{session_id} is still active (cs end to finish it).\n")
            return 0
        ended = self.end_session(cwd=".", session_id=session_id)
        out.write("Session ended\n" + summary_line(ended, self.now()) + "\n")
        out.flush()
        return 0


def tracker_for(container: Any, session_id: int, *, directory: str | None = None, files: bool = True,
                commits: bool = True) -> LiveTracker:
    """The watchers of one session, not started: `with tracker_for(c, sid): ...` (or start/stop).

    For `cs run` to wrap its child in; `AgentSession` starts one for `directory=` / `git=True`.
    """
    return container.live_tracking().tracker(session_id, directory=directory, files=files, commits=commits)


def summary_line(s: Session, now: Any) -> str:
    """The spec's one-line summary: `Session: 47m • 15 files • 4 commits • $8.47 AI cost`."""
    return (f"Session: {format_duration(s.duration(now))} • {s.files_changed} files • "
            f"{s.commits} commits • {format_usd(s.ai_cost)} AI cost")


@attrs.define
class _StatusLine:
    """On a TTY, one line redrawn in place with \\r; otherwise a plain line when totals change, sparsely."""

    out: TextIO
    _last: tuple[int, int, Any] | None = None
    _last_at: float = 0.0
    _drawn: bool = False

    def show(self, s: Session, now: Any) -> None:
        import time

        text = (f"⏱ {format_duration(s.duration(now))} • {s.files_changed} files • {s.commits} commits • "
                f"{format_usd(s.ai_cost)}")
        if self.out.isatty():
            self.out.write("\r\x1b[2K" + text)
            self._drawn = True
        else:
            key = (s.files_changed, s.commits, s.ai_cost)
            if key == self._last or (time.monotonic() - self._last_at < QUIET_LINE_SECONDS and self._last):
                return
            self._last, self._last_at = key, time.monotonic()
            self.out.write(text + "\n")
        self.out.flush()

    def alert(self, text: str) -> None:
        """A warning on its own line (the status line is redrawn after it)."""
        self.finish()
        self.out.write(f"⚠ {text}\n")
        self._last = None  # draw the totals again below the warning
        self.out.flush()

    def finish(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self._drawn = False
