"""Git metadata read with pygit2 (port: GitMetadata).

Read-only: nothing is written to the repository (not even the index stat cache).
Each call opens the repository, copies what it needs into domain values and frees
the handles before returning, so long-running watchers hold no open packfiles.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pygit2
from pygit2.enums import DeltaStatus, DiffFind, DiffOption, SortMode

from costhq.domain.git import CommitInfo, GitHead, PathChange, Scope, WorkChanges
from costhq.domain.sessions import ChangeType

# git's well-known empty tree; libgit2 serves it without it being in the object database.
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

# Untracked files count (recursively, so each file is listed); ignored ones never do.
_DIFF_FLAGS = DiffOption.INCLUDE_UNTRACKED | DiffOption.RECURSE_UNTRACKED_DIRS | DiffOption.INCLUDE_TYPECHANGE
# FIND_FOR_UNTRACKED pairs a deleted tracked file with an untracked one: a plain `mv`.
_FIND_FLAGS = DiffFind.FIND_RENAMES | DiffFind.FIND_FOR_UNTRACKED

_CHANGE_TYPES = {
    DeltaStatus.ADDED: ChangeType.CREATED,
    DeltaStatus.UNTRACKED: ChangeType.CREATED,
    DeltaStatus.COPIED: ChangeType.CREATED,
    DeltaStatus.DELETED: ChangeType.DELETED,
    DeltaStatus.RENAMED: ChangeType.RENAMED,
    DeltaStatus.MODIFIED: ChangeType.MODIFIED,
    DeltaStatus.TYPECHANGE: ChangeType.MODIFIED,
    DeltaStatus.CONFLICTED: ChangeType.MODIFIED,
    DeltaStatus.UNREADABLE: ChangeType.MODIFIED,
}


class Pygit2Metadata:
    """`GitMetadata` over libgit2 through pygit2.

    Outside assumptions: repositories are found by walking up from a path
    (`discover_repository`, stopping at filesystem boundaries like git); a bare
    repository has no work tree and so counts as "outside git". A repository
    libgit2 refuses to open (e.g. not owned by the current user) also counts as
    outside git. Errors reading a repository that did open (corruption) propagate.
    """

    def scope(self, path: str) -> Scope:
        """The work-tree root (realpath) holding `path`; `path` itself (realpath) outside git.

        A path inside `.git` belongs to the work tree that owns that `.git`; a path
        that does not exist (yet) belongs to whatever holds its nearest existing ancestor.
        """
        with _open(path) as repo:
            if repo is not None and repo.workdir:
                root = os.path.realpath(repo.workdir)
                return Scope(path=root, git_root=root)
        return Scope(path=os.path.realpath(path), git_root=None)

    def head(self, root: str) -> GitHead:
        """HEAD of the work tree at `root`; `GitHead(sha=None, branch=None)` outside git."""
        with _open(root) as repo:
            if repo is None or not repo.workdir:
                return GitHead(sha=None, branch=None)
            if repo.head_is_unborn:
                target = repo.lookup_reference("HEAD").target
                return GitHead(sha=None, branch=_branch_name(str(target)))
            sha = str(repo.head.target)
            if repo.head_is_detached:
                return GitHead(sha=sha, branch=None, detached=True)
            return GitHead(sha=sha, branch=repo.head.shorthand)

    def changes_since(self, root: str, start_sha: str | None, *, since: datetime) -> WorkChanges:
        """Commits after `start_sha` (newest last) and every path changed since it.

        Commits: reachable from HEAD and not from `start_sha` (`git log start..HEAD`).
        With no `start_sha` (HEAD was unborn), or one the repository no longer has,
        commits whose commit time is at or after `since` (to the second, git's
        resolution) count instead.

        Paths: the start tree against the work tree as `git diff <start>` sees it
        (through the index) plus untracked, non-ignored files; renames are detected,
        an untracked file included as the new side. The base tree is the empty tree
        when `start_sha` is None (so every present file is `created`), and for an
        unknown `start_sha` the parent of the oldest commit found by time (else HEAD).
        Sorted by path; a rename is reported under its new path.
        """
        with _open(root) as repo:
            if repo is None or not repo.workdir:
                return WorkChanges()
            start = _commit(repo, start_sha)
            commits = _commits_after(repo, start, since)
            base = _base_tree(repo, start_sha, start, commits)
            return WorkChanges(
                commits=tuple(_commit_info(c) for c in commits),
                paths=_paths_since(repo, base),
            )


@contextmanager
def _open(path: str) -> Iterator[pygit2.Repository | None]:
    """The repository holding `path` (None when there is none), freed on exit."""
    try:
        git_dir = pygit2.discover_repository(_existing(path))
        repo = pygit2.Repository(git_dir) if git_dir else None
    except pygit2.GitError:
        repo = None
    try:
        yield repo
    finally:
        if repo is not None:
            repo.free()


def _existing(path: str) -> str:
    """`path`, or its nearest existing ancestor: discovery fails on missing paths."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _branch_name(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def _commit(repo: pygit2.Repository, sha: str | None) -> pygit2.Commit | None:
    """The commit `sha` names, or None when absent, malformed or not a commit."""
    if not sha:
        return None
    try:
        obj = repo.get(sha)
        return obj.peel(pygit2.Commit) if obj is not None else None
    except (ValueError, pygit2.GitError):
        return None


def _commits_after(
    repo: pygit2.Repository, start: pygit2.Commit | None, since: datetime
) -> list[pygit2.Commit]:
    """Oldest first."""
    if repo.head_is_unborn:
        return []
    walker = repo.walk(repo.head.target, SortMode.TOPOLOGICAL | SortMode.TIME)
    if start is not None:
        walker.hide(start.id)
        found = list(walker)
    else:
        # git stores whole seconds: a commit in the same second as `since` counts.
        floor = math.floor(since.timestamp())
        found = [c for c in walker if c.commit_time >= floor]
    found.reverse()
    return found


def _base_tree(
    repo: pygit2.Repository,
    start_sha: str | None,
    start: pygit2.Commit | None,
    commits: list[pygit2.Commit],
) -> pygit2.Tree:
    if start is not None:
        return start.tree
    if start_sha is None:
        return _tree(repo, _EMPTY_TREE)
    # The start commit is gone (gc after a rewrite, re-clone): best effort, from just
    # before the first commit of the session, else only the uncommitted work.
    if commits:
        oldest = commits[0]
        return oldest.parents[0].tree if oldest.parents else _tree(repo, _EMPTY_TREE)
    if repo.head_is_unborn:
        return _tree(repo, _EMPTY_TREE)
    return repo.head.peel(pygit2.Commit).tree


def _tree(repo: pygit2.Repository, sha: str) -> pygit2.Tree:
    return repo[sha].peel(pygit2.Tree)


def _paths_since(repo: pygit2.Repository, base: pygit2.Tree) -> tuple[PathChange, ...]:
    """`git diff <base>` + untracked files, like libgit2's tree_to_workdir_with_index.

    Tree→index merged with index→workdir (cgit's rules) keeps the index's stat
    cache in play, so unchanged files are not re-hashed.
    """
    index = repo.index
    # pygit2 1.21 drops keyword `flags` in Tree.diff_to_index: pass them positionally.
    diff = base.diff_to_index(index, _DIFF_FLAGS)
    diff.merge(index.diff_to_workdir(_DIFF_FLAGS))
    diff.find_similar(_FIND_FLAGS)
    changes: dict[str, ChangeType] = {}
    for delta in diff.deltas:
        change_type = _CHANGE_TYPES.get(DeltaStatus(delta.status))
        if change_type is None:
            continue
        changes.setdefault(delta.new_file.path, change_type)
    return tuple(PathChange(path=p, change_type=changes[p]) for p in sorted(changes))


def _commit_info(commit: pygit2.Commit) -> CommitInfo:
    encoding = commit.message_encoding or "utf-8"
    message = _decode(commit.raw_message, encoding).strip()
    return CommitInfo(
        hash=str(commit.id),
        message=message.splitlines()[0] if message else "",
        timestamp=datetime.fromtimestamp(commit.commit_time, UTC),
        author=_decode(commit.author.raw_name, encoding),
    )


def _decode(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding, "replace")
    except LookupError:  # an encoding header Python does not know
        return raw.decode("utf-8", "replace")
