"""Ports: Git state, observed (never stored)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from costhq.domain.git import GitHead, Scope, WorkChanges
    from costhq.domain.today import WorkTreeState


class GitMetadata(Protocol):
    """Read-only view of a git work tree."""

    def scope(self, path: str) -> Scope: ...
    def head(self, root: str) -> GitHead: ...
    def changes_since(self, root: str, start_sha: str | None, *, since: datetime) -> WorkChanges:
        """Commits after `start_sha` (or after `since` on an unborn start) and every path
        changed since then, uncommitted and untracked included."""
        ...


class WorkTreeInspector(Protocol):
    """Observes a project's git state for `cs today`."""

    def state(self, path: str) -> WorkTreeState: ...
