"""Git state of a registered project for `cs today` (port: WorkTreeInspector), read with pygit2.

Read-only. Dirty = anything `git status` shows (staged, unstaged, untracked; ignored files
never count). TODO markers are counted in dirty files that still exist, skipping
files over 1 MB and binary files (a NUL byte in the first 8 KB), so a vendored blob cannot
stall the command.
"""

from __future__ import annotations

import os
import re

import pygit2
from pygit2.enums import FileStatus

from costhq.domain.today import WorkTreeState

_MARKER = re.compile(rb"\b(TODO|FIXME|XXX|HACK)\b")
_MAX_BYTES = 1_000_000


def count_markers(path: str) -> int:
    """TODO/FIXME/XXX/HACK occurrences in a text file (0 for binary, huge or unreadable files)."""
    try:
        if os.path.getsize(path) > _MAX_BYTES:
            return 0
        with open(path, "rb") as fh:
            head = fh.read(8192)
            if b"\0" in head:
                return 0
            return len(_MARKER.findall(head + fh.read()))
    except OSError:
        return 0


class Pygit2WorkTree:
    """WorkTreeInspector over pygit2."""

    def state(self, path: str) -> WorkTreeState:
        found = pygit2.discover_repository(path)
        if found is None:
            return WorkTreeState(is_git=False)
        repo = pygit2.Repository(found)
        try:
            if repo.is_bare or not repo.workdir:
                return WorkTreeState(is_git=False)
            root = repo.workdir
            dirty = tuple(sorted(p for p, flags in repo.status().items() if not flags & FileStatus.IGNORED))
            todos = sum(count_markers(os.path.join(root, p)) for p in dirty if os.path.isfile(os.path.join(root, p)))
            if repo.head_is_unborn or repo.head_is_detached:
                return WorkTreeState(is_git=True, dirty=dirty, todos=todos)
            branch = repo.branches.local.get(repo.head.shorthand)
            upstream = branch.upstream if branch is not None else None
            ahead = behind = 0
            if upstream is not None:
                ahead, behind = repo.ahead_behind(repo.head.target, upstream.target)
            return WorkTreeState(is_git=True, branch=repo.head.shorthand,
                                 upstream=upstream.shorthand if upstream is not None else None,
                                 ahead=ahead, behind=behind, dirty=dirty, todos=todos)
        finally:
            repo.free()
