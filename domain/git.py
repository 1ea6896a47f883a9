"""Git observations as plain values (the adapter never leaks pygit2 objects)."""

from __future__ import annotations

from datetime import datetime

import attrs

from costhq.domain.sessions import ChangeType


@attrs.frozen
class Scope:
    """Where a session lives: the git root of a directory, or the directory itself.

    Attributes:
        path: absolute scope path.
        git_root: the repository work-tree root, or None outside git.
    """

    path: str
    git_root: str | None


@attrs.frozen(kw_only=True)
class GitHead:
    """HEAD state. `sha` is None on an unborn HEAD; `branch` None when detached."""

    sha: str | None
    branch: str | None
    detached: bool = False


@attrs.frozen(kw_only=True)
class PathChange:
    """A changed path relative to the work-tree root."""

    path: str
    change_type: ChangeType


@attrs.frozen(kw_only=True)
class CommitInfo:
    """A commit as observed in the repository."""

    hash: str
    message: str
    timestamp: datetime
    author: str | None = None


@attrs.frozen(kw_only=True)
class WorkChanges:
    """What changed since a start HEAD: commits plus committed *and* uncommitted paths."""

    commits: tuple[CommitInfo, ...] = ()
    paths: tuple[PathChange, ...] = ()
