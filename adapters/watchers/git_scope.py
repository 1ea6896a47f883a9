"""Session scope without libgit2: the work-tree root is the nearest ancestor holding `.git`.

`cs log-ai` / `cs status` resolve the scope on every call; importing pygit2 costs ~100 ms,
so scope resolution is a plain directory walk (the same rule git uses to find a work tree:
a `.git` directory or `gitdir:` file). Head and diff queries still go through pygit2.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from costhq.domain.git import GitHead, Scope, WorkChanges


def _existing(path: str) -> str:
    p = os.path.realpath(os.path.abspath(path))
    while not os.path.exists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def _is_git_marker(candidate: str) -> bool:
    if os.path.isdir(candidate):
        return os.path.exists(os.path.join(candidate, "HEAD"))
    if os.path.isfile(candidate):
        try:
            with open(candidate, encoding="utf-8", errors="replace") as fh:
                return fh.read(8) == "gitdir: "
        except OSError:
            return False
    return False


def find_scope(path: str) -> Scope:
    """Git root of `path` (realpath), or `path` itself outside git. A path inside `.git`
    belongs to the work tree owning it; a missing path uses its nearest existing ancestor."""
    start = _existing(path)
    parts = start.split(os.sep)
    if ".git" in parts:
        start = os.sep.join(parts[: parts.index(".git")]) or os.sep
    d = start if os.path.isdir(start) else os.path.dirname(start)
    while True:
        if _is_git_marker(os.path.join(d, ".git")):
            return Scope(path=d, git_root=d)
        parent = os.path.dirname(d)
        if parent == d:
            return Scope(path=os.path.realpath(os.path.abspath(path)), git_root=None)
        d = parent


class LazyGitMetadata:
    """`GitMetadata` that resolves scopes by walking the filesystem and imports pygit2
    only for head/diff queries."""

    def __init__(self) -> None:
        self._git: Any = None

    def _real(self) -> Any:
        if self._git is None:
            from costhq.adapters.watchers.pygit2_metadata import Pygit2Metadata

            self._git = Pygit2Metadata()
        return self._git

    def scope(self, path: str) -> Scope:
        return find_scope(path)

    def head(self, root: str) -> GitHead:
        result: GitHead = self._real().head(root)
        return result

    def changes_since(self, root: str, start_sha: str | None, *, since: datetime) -> WorkChanges:
        result: WorkChanges = self._real().changes_since(root, start_sha, since=since)
        return result
