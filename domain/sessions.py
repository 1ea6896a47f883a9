"""Sessions: one tracked task (a coding session or an agent run) and what it touched."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from costhq.domain.money import ZERO


class SessionStatus(enum.Enum):
    """Lifecycle of a session."""

    ACTIVE = "active"
    COMPLETED = "completed"


class ChangeType(enum.Enum):
    """Kind of file change."""

    CREATED = "created"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"


class Dimension(enum.Enum):
    """Who, where or what sessions can be grouped and filtered by (issue 16)."""

    USER = "user"
    MACHINE = "machine"
    PROJECT = "project"


@attrs.frozen
class Who:
    """Who recorded something and where (issue 16).

    Attributes:
        user: `[user] name` in config.toml, else the OS user.
        machine: `[user] machine`, else the host name.
    """

    user: str
    machine: str


@attrs.frozen(kw_only=True)
class Session:
    """A tracked session with its denormalised totals.

    Attributes:
        id: integer id.
        name: non-empty name.
        status: active or completed.
        start_time: aware UTC.
        end_time: aware UTC once ended.
        working_directory: the scope (git root, or cwd outside git).
        git_root: the git root, or None outside git.
        start_git_head: HEAD sha at start (None on an unborn HEAD / outside git).
        branch: branch at start (None when detached / outside git).
        notes: closing notes.
        files_changed: distinct files changed.
        commits: commits made during the session.
        ai_cost: priced AI cost (USD).
        unpriced_calls: calls that could not be priced.
        ai_tokens: all AI tokens.
        ai_calls: number of AI calls.
        last_activity: time of the last recorded event.
        user / machine: who created it and where (issue 16); None when stored before they were.
    """

    id: int
    name: str
    status: SessionStatus
    start_time: datetime
    working_directory: str
    end_time: datetime | None = None
    git_root: str | None = None
    start_git_head: str | None = None
    branch: str | None = None
    notes: str | None = None
    files_changed: int = 0
    commits: int = 0
    ai_cost: Decimal = ZERO
    ai_tokens: int = 0
    ai_calls: int = 0
    unpriced_calls: int = 0
    last_activity: datetime | None = None
    user: str | None = None
    machine: str | None = None

    def who(self, owner: Who | None) -> Who:
        """Its user and machine; a session stored before they were recorded belongs to `owner`
        (empty names without one)."""
        return Who(self.user or (owner.user if owner else ""), self.machine or (owner.machine if owner else ""))

    @property
    def is_active(self) -> bool:
        """True until ended."""
        return self.status is SessionStatus.ACTIVE

    def duration(self, now: datetime) -> int:
        """Whole seconds from start to end (or to `now` while active)."""
        end = self.end_time or now
        return max(0, int((end - self.start_time).total_seconds()))

    def is_stale(self, now: datetime, max_age: timedelta) -> bool:
        """Active and started longer ago than `max_age`."""
        return self.is_active and now - self.start_time > max_age


@attrs.frozen(kw_only=True)
class NewSession:
    """What is needed to open a session (id assigned by storage)."""

    name: str = attrs.field()
    start_time: datetime
    working_directory: str
    git_root: str | None = None
    start_git_head: str | None = None
    branch: str | None = None

    @name.validator
    def _check_name(self, _a: attrs.Attribute[str], value: str) -> None:
        if not value.strip():
            raise ValueError("session name must not be empty")


@attrs.frozen(kw_only=True)
class FileChange:
    """A file touched during a session (path relative to the scope)."""

    session_id: int
    file_path: str
    change_type: ChangeType
    timestamp: datetime
    id: int | None = None


@attrs.frozen(kw_only=True)
class Commit:
    """A commit made during a session."""

    session_id: int
    hash: str
    message: str
    timestamp: datetime
    author: str | None = None
    id: int | None = None


@attrs.frozen(kw_only=True)
class Annotation:
    """A timestamped note inside a session (`cs note`)."""

    session_id: int
    message: str
    timestamp: datetime
    id: int | None = None


@attrs.frozen(kw_only=True)
class Stats:
    """Totals across all sessions."""

    total_sessions: int
    active_sessions: int
    total_seconds: int
    files_changed: int
    commits: int
    ai_cost: Decimal
    ai_tokens: int
    ai_calls: int
    unpriced_calls: int


def format_duration(seconds: int) -> str:
    """`2h 15m`, `14m`, `45s` (spec's human format)."""
    seconds = max(0, int(seconds))
    hours, rem = divmod(seconds, 3600)
    minutes, secs = divmod(rem, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"
