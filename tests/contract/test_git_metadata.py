"""Contract of the GitMetadata port: the in-memory fake and pygit2 on real repositories.

Each test states git facts through a `World`. The pygit2 world makes them true in a
repository under tmp_path (signatures set explicitly: no git config needed); the fake
world configures `FakeGitMetadata` with them, being told the paths git would report.
Both must then give the same exact answers.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pygit2
import pytest

from costhq.adapters.watchers.fake_git import FakeGitMetadata
from costhq.adapters.watchers.git_scope import LazyGitMetadata
from costhq.adapters.watchers.pygit2_metadata import Pygit2Metadata
from costhq.application.ports.git import GitMetadata
from costhq.domain.git import CommitInfo, GitHead, PathChange, Scope, WorkChanges
from costhq.domain.sessions import ChangeType

START = datetime(2025, 3, 14, 9, 0, 0, tzinfo=UTC)
AUTHOR = "Ada Lovelace"
CREATED, MODIFIED = ChangeType.CREATED, ChangeType.MODIFIED
DELETED, RENAMED = ChangeType.DELETED, ChangeType.RENAMED
RENAMED_TEXT = "".join(f"line {n} of a file long enough for rename detection\n" for n in range(20))

Files = Mapping[str, str | None]  # path -> content, None deletes


class World(Protocol):
    adapter: GitMetadata

    def repo(self, name: str, *, branch: str = "main") -> str: ...
    def commit(self, root: str, message: str, *, at: datetime, files: Files) -> str: ...
    def detach(self, root: str) -> None: ...
    def write(self, root: str, files: Files) -> None: ...
    def move(self, root: str, old: str, new: str) -> None: ...
    def expect_paths(self, root: str, start: str | None, paths: tuple[PathChange, ...]) -> None: ...
    def bare_repo(self, name: str) -> str: ...
    def plain_dir(self, name: str) -> str: ...


class Pygit2World:
    """Facts made true on disk; `expect_paths` is left to git to compute."""

    def __init__(self, base: Path, adapter: object | None = None) -> None:
        self.base = base
        self.adapter = adapter or Pygit2Metadata()
        self.repos: dict[str, pygit2.Repository] = {}

    def repo(self, name: str, *, branch: str = "main") -> str:
        root = str((self.base / name).resolve())
        self.repos[root] = pygit2.init_repository(root, initial_head=branch)
        return root

    def commit(self, root: str, message: str, *, at: datetime, files: Files) -> str:
        repo = self.repos[root]
        self.write(root, files)
        index = repo.index
        for path, text in files.items():
            if text is None:
                index.remove(path)
            else:
                index.add(path)
        index.write()
        # author time differs on purpose: the port reports the commit time
        author = pygit2.Signature(AUTHOR, "ada@example.com", int(at.timestamp()) - 86400, 60)
        committer = pygit2.Signature("Grace Hopper", "grace@example.com", int(at.timestamp()), 0)
        parents = [] if repo.head_is_unborn else [repo.head.target]
        oid = repo.create_commit("HEAD", author, committer, message, index.write_tree(), parents)
        return str(oid)

    def detach(self, root: str) -> None:
        repo = self.repos[root]
        repo.set_head(repo.head.target)

    def write(self, root: str, files: Files) -> None:
        for path, text in files.items():
            target = Path(root, path)
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)

    def move(self, root: str, old: str, new: str) -> None:
        os.rename(Path(root, old), Path(root, new))

    def expect_paths(self, root: str, start: str | None, paths: tuple[PathChange, ...]) -> None:
        pass

    def bare_repo(self, name: str) -> str:
        path = str((self.base / name).resolve())
        pygit2.init_repository(path, bare=True).free()
        return path

    def plain_dir(self, name: str) -> str:
        path = self.base / name
        path.mkdir(parents=True)
        return str(path.resolve())

    def close(self) -> None:
        for repo in self.repos.values():
            repo.free()


class FakeWorld:
    """Facts configured in memory; the file system is not touched."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()
        self.adapter = FakeGitMetadata()

    def repo(self, name: str, *, branch: str = "main") -> str:
        root = str(self.base / name)
        self.adapter.add_repo(root, branch=branch)
        return root

    def commit(self, root: str, message: str, *, at: datetime, files: Files) -> str:
        sha = hashlib.sha1(f"{root}\0{message}\0{at}".encode()).hexdigest()
        first_line = message.strip().splitlines()[0]
        self.adapter.commit(root, CommitInfo(hash=sha, message=first_line, timestamp=at, author=AUTHOR))
        return sha

    def detach(self, root: str) -> None:
        self.adapter.repos[root].branch = None

    def write(self, root: str, files: Files) -> None:
        pass

    def move(self, root: str, old: str, new: str) -> None:
        pass

    def expect_paths(self, root: str, start: str | None, paths: tuple[PathChange, ...]) -> None:
        self.adapter.change(root, start, paths)

    def bare_repo(self, name: str) -> str:
        return str(self.base / name)

    def plain_dir(self, name: str) -> str:
        return str(self.base / name)

    def close(self) -> None:
        pass


@pytest.fixture(params=["fake", "pygit2", "lazy"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "fake":
        built: World = FakeWorld(tmp_path)
    else:
        built = Pygit2World(tmp_path, LazyGitMetadata() if request.param == "lazy" else None)
    yield built
    built.close()


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def change(path: str, change_type: ChangeType) -> PathChange:
    return PathChange(path=path, change_type=change_type)


def info(sha: str, message: str, when: datetime) -> CommitInfo:
    return CommitInfo(hash=sha, message=message, timestamp=when, author=AUTHOR)


def started_repo(world: World) -> tuple[str, str]:
    """A repo whose last commit (the session start) holds a few files and a .gitignore."""
    root = world.repo("repo")
    start = world.commit(root, "initial", at=at(-60), files={
        ".gitignore": "*.log\nbuild/\n", "README.md": "# demo\n", "src/app.py": "x = 1\n",
        "gone.txt": "bye\n", "old.txt": RENAMED_TEXT,
    })
    return root, start


# --- scope -------------------------------------------------------------------------------


def test_scope_of_a_subdirectory_is_the_work_tree_root(world: World) -> None:
    root, _ = started_repo(world)
    assert world.adapter.scope(os.path.join(root, "src")) == Scope(path=root, git_root=root)
    assert world.adapter.scope(root) == Scope(path=root, git_root=root)


def test_scope_inside_dot_git_is_the_owning_work_tree(world: World) -> None:
    root, _ = started_repo(world)
    assert world.adapter.scope(os.path.join(root, ".git", "refs")) == Scope(path=root, git_root=root)


def test_scope_outside_git_is_the_directory_itself(world: World) -> None:
    plain = world.plain_dir("plain/sub")
    assert world.adapter.scope(plain) == Scope(path=plain, git_root=None)


def test_a_nested_repository_scopes_to_the_innermost_work_tree(world: World) -> None:
    outer = world.repo("outer")
    inner = world.repo("outer/vendor/inner")
    assert world.adapter.scope(inner) == Scope(path=inner, git_root=inner)
    assert world.adapter.scope(os.path.join(outer, "vendor")) == Scope(path=outer, git_root=outer)


def test_scope_of_a_file_or_a_path_not_created_yet_is_the_work_tree_holding_it(world: World) -> None:
    root, _ = started_repo(world)
    assert world.adapter.scope(os.path.join(root, "src", "app.py")) == Scope(path=root, git_root=root)
    assert world.adapter.scope(os.path.join(root, "src", "new", "pkg")) == Scope(path=root, git_root=root)


def test_a_bare_repository_has_no_work_tree_so_counts_as_outside_git(world: World) -> None:
    bare = world.bare_repo("bare.git")
    assert world.adapter.scope(bare) == Scope(path=bare, git_root=None)
    assert world.adapter.head(bare) == GitHead(sha=None, branch=None)
    assert world.adapter.changes_since(bare, None, since=START) == WorkChanges()


# --- head --------------------------------------------------------------------------------


def test_head_on_a_branch_gives_sha_and_branch(world: World) -> None:
    root, start = started_repo(world)
    assert world.adapter.head(root) == GitHead(sha=start, branch="main", detached=False)


def test_unborn_head_has_no_sha_but_the_branch_it_will_have(world: World) -> None:
    root = world.repo("fresh", branch="trunk")
    assert world.adapter.head(root) == GitHead(sha=None, branch="trunk", detached=False)


def test_detached_head_has_a_sha_and_no_branch(world: World) -> None:
    root, start = started_repo(world)
    world.detach(root)
    assert world.adapter.head(root) == GitHead(sha=start, branch=None, detached=True)


def test_head_and_changes_outside_git_are_empty(world: World) -> None:
    plain = world.plain_dir("plain")
    assert world.adapter.head(plain) == GitHead(sha=None, branch=None)
    assert world.adapter.changes_since(plain, None, since=START) == WorkChanges()


# --- changes since the start ---------------------------------------------------------------


def test_nothing_changed_since_start_gives_empty_changes(world: World) -> None:
    root, start = started_repo(world)
    world.expect_paths(root, start, ())
    assert world.adapter.changes_since(root, start, since=START) == WorkChanges()


def test_commits_after_start_are_listed_newest_last_with_their_first_line(world: World) -> None:
    root, start = started_repo(world)
    first = world.commit(root, "add feature\n\nWith a body.\n", at=at(5), files={"src/feature.py": "f\n"})
    second = world.commit(root, "tune readme\n", at=at(9), files={"README.md": "# demo, tuned\n"})
    world.expect_paths(root, start, (change("README.md", MODIFIED), change("src/feature.py", CREATED)))
    assert world.adapter.changes_since(root, start, since=START) == WorkChanges(
        commits=(info(first, "add feature", at(5)), info(second, "tune readme", at(9))),
        paths=(change("README.md", MODIFIED), change("src/feature.py", CREATED)),
    )


def test_uncommitted_work_counts_modified_created_and_deleted(world: World) -> None:
    root, start = started_repo(world)
    world.write(root, {"src/app.py": "x = 2  # changed\n", "docs/new/notes.md": "n\n", "gone.txt": None})
    paths = (
        change("docs/new/notes.md", CREATED), change("gone.txt", DELETED), change("src/app.py", MODIFIED)
    )
    world.expect_paths(root, start, paths)
    assert world.adapter.changes_since(root, start, since=START) == WorkChanges(paths=paths)


def test_renames_are_detected_committed_or_not_under_the_new_path(world: World) -> None:
    root, start = started_repo(world)
    moved = world.commit(root, "move", at=at(3), files={"old.txt": None, "lib/moved.txt": RENAMED_TEXT})
    world.move(root, "README.md", "README.rst")  # plain mv: the new side is untracked
    paths = (change("README.rst", RENAMED), change("lib/moved.txt", RENAMED))
    world.expect_paths(root, start, paths)
    assert world.adapter.changes_since(root, start, since=START) == WorkChanges(
        commits=(info(moved, "move", at(3)),), paths=paths
    )


def test_ignored_files_never_appear(world: World) -> None:
    root, start = started_repo(world)
    world.write(root, {"debug.log": "noise\n", "build/out.bin": "bin\n", "src/trace.log": "t\n"})
    world.expect_paths(root, start, ())
    assert world.adapter.changes_since(root, start, since=START) == WorkChanges()


def test_a_file_created_in_the_session_then_edited_stays_created(world: World) -> None:
    root, start = started_repo(world)
    added = world.commit(root, "add cfg", at=at(2), files={"cfg.toml": "a = 1\n"})
    world.write(root, {"cfg.toml": "a = 1\nb = 2\n"})
    world.expect_paths(root, start, (change("cfg.toml", CREATED),))
    assert world.adapter.changes_since(root, start, since=START) == WorkChanges(
        commits=(info(added, "add cfg", at(2)),), paths=(change("cfg.toml", CREATED),)
    )


def test_an_edit_reverted_before_the_end_is_not_a_change(world: World) -> None:
    root, start = started_repo(world)
    world.write(root, {"src/app.py": "x = 'temporary'\n"})
    world.write(root, {"src/app.py": "x = 1\n"})
    world.expect_paths(root, start, ())
    assert world.adapter.changes_since(root, start, since=START) == WorkChanges()


def test_commits_on_a_detached_head_count(world: World) -> None:
    root, start = started_repo(world)
    world.detach(root)
    loose = world.commit(root, "experiment", at=at(1), files={"x.txt": "x\n"})
    world.expect_paths(root, start, (change("x.txt", CREATED),))
    assert world.adapter.changes_since(root, start, since=START) == WorkChanges(
        commits=(info(loose, "experiment", at(1)),), paths=(change("x.txt", CREATED),)
    )


def test_unborn_start_counts_commits_from_since_and_every_present_file_as_created(world: World) -> None:
    root = world.repo("fresh")
    # a commit dated before the start (clock skew, a cherry-pick) is not the session's
    world.commit(root, "imported", at=at(-30), files={".gitignore": "*.log\n"})
    same_second = world.commit(root, "first", at=START, files={"a.txt": "a\n"})
    later = world.commit(root, "second", at=at(4), files={"b/c.txt": "c\n"})
    world.write(root, {"untracked.md": "u\n", "ignored.log": "i\n"})
    paths = (change(".gitignore", CREATED), change("a.txt", CREATED), change("b/c.txt", CREATED),
             change("untracked.md", CREATED))
    world.expect_paths(root, None, paths)
    since = START + timedelta(milliseconds=400)  # git keeps whole seconds
    assert world.adapter.changes_since(root, None, since=since) == WorkChanges(
        commits=(info(same_second, "first", START), info(later, "second", at(4))), paths=paths
    )


def test_unknown_start_sha_falls_back_to_commits_from_since(world: World) -> None:
    root, _ = started_repo(world)
    later = world.commit(root, "later", at=at(2), files={"late.txt": "l\n"})
    lost = "0123456789abcdef0123456789abcdef01234567"
    world.expect_paths(root, lost, (change("late.txt", CREATED),))
    assert world.adapter.changes_since(root, lost, since=START) == WorkChanges(
        commits=(info(later, "later", at(2)),), paths=(change("late.txt", CREATED),)
    )


def test_a_whole_session_reports_exactly_what_changed(world: World) -> None:
    root, start = started_repo(world)
    feature = world.commit(root, "feat: add feature\n\nbody\n", at=at(10),
                           files={"src/feature.py": "def f(): ...\n", "README.md": "# demo v2\n"})
    world.write(root, {"src/app.py": "x = 42\n", "notes.md": "todo\n", "gone.txt": None,
                       "debug.log": "ignored\n", "build/a.o": "ignored\n"})
    world.move(root, "old.txt", "renamed.txt")
    paths = (change("README.md", MODIFIED), change("gone.txt", DELETED), change("notes.md", CREATED),
             change("renamed.txt", RENAMED), change("src/app.py", MODIFIED),
             change("src/feature.py", CREATED))
    world.expect_paths(root, start, paths)
    assert world.adapter.changes_since(root, start, since=START) == WorkChanges(
        commits=(info(feature, "feat: add feature", at(10)),), paths=paths
    )
