"""`cs today`: registered projects and what state each one is in right now."""

from __future__ import annotations

from datetime import datetime

import attrs

from costhq.domain.sessions import Session


@attrs.frozen(kw_only=True)
class TodayProject:
    """A project registered with `cs today add`.

    Attributes:
        path: absolute path (the git root when inside git).
        name: display name (the directory name).
        added_at: aware UTC.
    """

    path: str
    name: str
    added_at: datetime
    id: int | None = None


@attrs.frozen(kw_only=True)
class WorkTreeState:
    """Git state of a work tree, observed (never stored).

    Attributes:
        is_git: False outside git (the other fields are then empty).
        branch: current branch, None when detached.
        upstream: upstream branch name, when one is set.
        ahead / behind: commits ahead of / behind the upstream.
        dirty: changed paths (staged, unstaged, untracked), relative to the root.
        todos: TODO/FIXME/XXX/HACK markers counted in the changed files.
    """

    is_git: bool
    branch: str | None = None
    upstream: str | None = None
    ahead: int = 0
    behind: int = 0
    dirty: tuple[str, ...] = ()
    todos: int = 0


@attrs.frozen(kw_only=True)
class ProjectReport:
    """One line of `cs today`: project, git state, last session."""

    project: TodayProject
    state: WorkTreeState
    last_session: Session | None
    exists: bool = True
