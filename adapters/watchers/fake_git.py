"""In-memory git metadata for tests (port: GitMetadata), verified against pygit2 by
tests/contract/test_git_metadata.py.

Each configured work tree has a linear history and, per start sha, the paths a
test says have changed since then. Paths are compared as written (absolute and
normalised, no symlinks resolved): the fake never touches the filesystem.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from costhq.domain.git import CommitInfo, GitHead, PathChange, Scope, WorkChanges


@attrs.define
class FakeRepository:
    """One configured work tree.

    Attributes:
        root: absolute work-tree root.
        branch: current branch (the one an unborn HEAD will have); None when detached.
        commits: history reachable from HEAD, oldest first; HEAD is the last one.
        paths: changed paths keyed by the start sha they are relative to (None: unborn start).
    """

    root: str
    branch: str | None
    commits: list[CommitInfo] = attrs.Factory(list)
    paths: dict[str | None, tuple[PathChange, ...]] = attrs.Factory(dict)

    @property
    def head(self) -> GitHead:
        sha = self.commits[-1].hash if self.commits else None
        return GitHead(sha=sha, branch=self.branch, detached=self.branch is None and sha is not None)


class FakeGitMetadata:
    """`GitMetadata` over work trees a test configures with `add_repo`, `commit`, `change`."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepository] = {}

    def add_repo(
        self,
        root: str,
        *,
        branch: str | None = "main",
        commits: Iterable[CommitInfo] = (),
        paths: Mapping[str | None, Iterable[PathChange]] | None = None,
    ) -> FakeRepository:
        """Configure a work tree at `root`; `branch=None` means a detached HEAD."""
        repo = FakeRepository(root=_norm(root), branch=branch, commits=list(commits))
        for start, changed in (paths or {}).items():
            repo.paths[start] = tuple(changed)
        self.repos[repo.root] = repo
        return repo

    def commit(self, root: str, commit: CommitInfo) -> None:
        """Add a commit on top of HEAD (HEAD moves to it)."""
        self.repos[_norm(root)].commits.append(commit)

    def change(self, root: str, start_sha: str | None, paths: Iterable[PathChange]) -> None:
        """Set the paths changed since `start_sha` (None: since an unborn start)."""
        self.repos[_norm(root)].paths[start_sha] = tuple(paths)

    def scope(self, path: str) -> Scope:
        repo = self._repo_holding(_norm(path))
        if repo is None:
            return Scope(path=_norm(path), git_root=None)
        return Scope(path=repo.root, git_root=repo.root)

    def head(self, root: str) -> GitHead:
        repo = self._repo_holding(_norm(root))
        return repo.head if repo is not None else GitHead(sha=None, branch=None)

    def changes_since(self, root: str, start_sha: str | None, *, since: datetime) -> WorkChanges:
        repo = self._repo_holding(_norm(root))
        if repo is None:
            return WorkChanges()
        hashes = [c.hash for c in repo.commits]
        if start_sha in hashes:
            commits = repo.commits[hashes.index(start_sha) + 1 :]
        else:
            # same rule as the real adapter: whole seconds, at or after `since`
            floor = math.floor(since.timestamp())
            commits = [c for c in repo.commits if c.timestamp.timestamp() >= floor]
        paths = sorted(repo.paths.get(start_sha, ()), key=lambda p: p.path)
        return WorkChanges(commits=tuple(commits), paths=tuple(paths))

    def _repo_holding(self, path: str) -> FakeRepository | None:
        """The innermost configured work tree containing `path`."""
        holders = [r for r in self.repos.values() if path == r.root or path.startswith(r.root + os.sep)]
        return max(holders, key=lambda r: len(r.root), default=None)


def _norm(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))
