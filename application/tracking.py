"""Live tracking use cases: what the file and commit watchers record while a session runs.

Rules:
- Only active sessions record: a watcher racing a `cs end` from another terminal records
  nothing after the end (the call returns None and the watcher may stop).
- Paths are relative to the session's scope (its git root), like the end-of-session backfill,
  so the two never record one file twice under different names.
- Storage skips duplicates (same path and change type; same commit hash); the session's last
  activity is still bumped so `cs status` shows the session as busy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.storage import UnitOfWork
from costhq.domain.errors import InvalidArgument
from costhq.domain.git import CommitInfo
from costhq.domain.sessions import Annotation, ChangeType, Commit, FileChange


def _clean_path(path: str) -> str:
    cleaned = path.replace("\\", "/").strip("/")
    if not cleaned or cleaned.startswith("../") or cleaned == "..":
        raise InvalidArgument(f"file path must be relative to the session scope (got {path!r})")
    return cleaned


@attrs.frozen
class RecordFileChange:
    """Record one file change seen by the watcher; None when the session ended or it is a duplicate."""

    uow: Callable[[], UnitOfWork]
    clock: Clock

    def __call__(
        self, *, session_id: int, path: str, change_type: ChangeType, at: datetime | None = None
    ) -> FileChange | None:
        rel = _clean_path(path)
        now = at or self.clock.now()
        with self.uow() as uow:
            session = uow.sessions.get(session_id)
            if session is None or not session.is_active:
                return None
            stored = uow.activity.add_file_change(
                FileChange(session_id=session_id, file_path=rel, change_type=change_type, timestamp=now))
            if stored is None:
                uow.sessions.touch(session_id, now)
            return stored


@attrs.frozen
class RecordCommit:
    """Record a commit made during the session (hash, first message line, author time)."""

    uow: Callable[[], UnitOfWork]
    clock: Clock

    def __call__(self, *, session_id: int, commit: CommitInfo) -> Commit | None:
        with self.uow() as uow:
            session = uow.sessions.get(session_id)
            if session is None or not session.is_active:
                return None
            stored = uow.activity.add_commit(
                Commit(session_id=session_id, hash=commit.hash, message=commit.message,
                       timestamp=commit.timestamp, author=commit.author))
            if stored is None:
                uow.sessions.touch(session_id, self.clock.now())
            return stored


@attrs.frozen
class NoteBranchSwitch:
    """Annotate the session when HEAD moves to another branch (or detaches)."""

    uow: Callable[[], UnitOfWork]
    clock: Clock

    def __call__(self, *, session_id: int, old: str | None, new: str | None) -> Annotation | None:
        now = self.clock.now()
        message = f"Switched branch: {old or '(detached)'} -> {new or '(detached)'}"
        with self.uow() as uow:
            session = uow.sessions.get(session_id)
            if session is None or not session.is_active:
                return None
            note = uow.activity.add_annotation(Annotation(session_id=session_id, message=message, timestamp=now))
            uow.sessions.touch(session_id, now)
            return note
