"""Pure rules of the file watcher: which events count, and how bursts collapse.

Rules (spec "How tracking works", issue 5):
- Only file events count: created, modified, deleted, moved (a move is a deletion of the old
  path plus a creation of the new one). Directory, open/close and attribute events never do.
- Paths are judged *relative to the session scope*, one component at a time, never by a regex
  on the absolute path (a scope living under `/home/me/build/` must still be watched):
  any component named `node_modules`, `dist`, `build` or `.git`, or starting with a dot,
  ignores the path; so does anything the repository's .gitignore ignores (asked through a
  predicate, so these functions stay pure). Paths outside the scope are ignored.
- Debounce: repeated changes of one file within the same 1-second window collapse into the
  first one. Windows are whole seconds of the event time, so the number of events kept is
  exactly the number of distinct (file, second) pairs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from costhq.domain.sessions import ChangeType

IGNORED_NAMES = frozenset({"node_modules", "dist", "build", ".git"})

_KINDS = {"created": ChangeType.CREATED, "modified": ChangeType.MODIFIED, "deleted": ChangeType.DELETED}


@attrs.frozen
class FsChange:
    """A file change relative to the scope, with the time (epoch seconds) it was seen."""

    path: str
    change_type: ChangeType
    at: float


def relative_to(scope: str, path: str) -> str | None:
    """`path` relative to `scope` with `/` separators; None when it is the scope itself or outside it."""
    rel = os.path.relpath(path, scope)
    if rel == "." or rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return None
    return rel.replace(os.sep, "/")


def ignored_by_name(rel: str) -> bool:
    """True when any component of the relative path is an ignored name or a dotfile."""
    return any(part in IGNORED_NAMES or part.startswith(".") for part in rel.split("/"))


def to_changes(event: Any, scope: str, at: float) -> list[FsChange]:
    """Translate one watchdog event into scope-relative changes (before filtering)."""
    if getattr(event, "is_directory", False):
        return []
    kind = event.event_type
    src = os.fsdecode(event.src_path)
    if kind == "moved":
        out = []
        old, new = relative_to(scope, src), relative_to(scope, os.fsdecode(event.dest_path))
        if old is not None:
            out.append(FsChange(old, ChangeType.DELETED, at))
        if new is not None:
            out.append(FsChange(new, ChangeType.CREATED, at))
        return out
    change_type = _KINDS.get(kind)
    rel = relative_to(scope, src)
    if change_type is None or rel is None:
        return []
    return [FsChange(rel, change_type, at)]


def keep(change: FsChange, git_ignored: Callable[[str], bool]) -> bool:
    """The filter: not an ignored name/dotfile and not ignored by the repository's .gitignore."""
    return not ignored_by_name(change.path) and not git_ignored(change.path)


@attrs.define
class DebounceState:
    """Window currently open per path (whole seconds); pruned as time moves on."""

    seen: dict[str, int] = attrs.Factory(dict)
    second: int = -1


def debounce(changes: Iterable[FsChange], state: DebounceState) -> list[FsChange]:
    """Keep the first change of each (path, second); `state` carries windows across calls."""
    kept = []
    for change in changes:
        second = int(change.at)
        if second > state.second:
            # Entries of past seconds can never match again: drop them, so memory stays
            # bounded by the number of files touched within one second.
            state.seen = {p: s for p, s in state.seen.items() if s >= second}
            state.second = second
        if state.seen.get(change.path) == second:
            continue
        state.seen[change.path] = second
        kept.append(change)
    return kept
