"""Pygit2Metadata behaviour the fake cannot model: real paths, the index, worktrees, read-only use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pygit2
import pytest

from costhq.adapters.watchers.pygit2_metadata import Pygit2Metadata
from costhq.domain.git import GitHead, PathChange, Scope, WorkChanges
from costhq.domain.sessions import ChangeType

START = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
SIG = pygit2.Signature("Ada Lovelace", "ada@example.com", int(START.timestamp()), 0)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[pygit2.Repository]:
    """A repository whose only commit (the session start) holds keep.txt and drop.txt."""
    repo = pygit2.init_repository(str(tmp_path / "repo"), initial_head="main")
    for name in ("keep.txt", "drop.txt"):
        Path(repo.workdir, name).write_text(f"{name}\n")
        repo.index.add(name)
    repo.index.write()
    repo.create_commit("HEAD", SIG, SIG, "start", repo.index.write_tree(), [])
    yield repo
    repo.free()


def root_of(repo: pygit2.Repository) -> str:
    return os.path.realpath(repo.workdir)


def start_of(repo: pygit2.Repository) -> str:
    return str(repo.head.target)


def test_scope_resolves_symlinks_to_the_real_work_tree(repo: pygit2.Repository, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(root_of(repo))
    root = root_of(repo)
    assert Pygit2Metadata().scope(str(link)) == Scope(path=root, git_root=root)


def test_scope_outside_git_resolves_symlinks_and_relative_parts(tmp_path: Path) -> None:
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    expected = str((tmp_path / "real" / "sub").resolve())
    assert Pygit2Metadata().scope(str(tmp_path / "alias" / "x" / ".." / "sub")) == Scope(expected, None)


def test_a_linked_worktree_is_its_own_scope_with_its_own_branch(
    repo: pygit2.Repository, tmp_path: Path
) -> None:
    repo.add_worktree("side", str(tmp_path / "side"))
    side = str((tmp_path / "side").resolve())
    git = Pygit2Metadata()
    assert git.scope(side) == Scope(path=side, git_root=side)
    assert git.head(side) == GitHead(sha=start_of(repo), branch="side")


def test_staged_work_counts_and_work_only_in_the_index_does_not(repo: pygit2.Repository) -> None:
    start, work = start_of(repo), Path(repo.workdir)
    (work / "staged.txt").write_text("new\n")
    (work / "fleeting.txt").write_text("gone before the end\n")
    repo.index.add("staged.txt")
    repo.index.add("fleeting.txt")
    repo.index.remove("drop.txt")  # `git rm --cached`: no longer tracked, still on disk
    repo.index.write()
    (work / "fleeting.txt").unlink()
    assert Pygit2Metadata().changes_since(root_of(repo), start, since=START) == WorkChanges(
        paths=(
            PathChange(path="drop.txt", change_type=ChangeType.DELETED),
            PathChange(path="staged.txt", change_type=ChangeType.CREATED),
        )
    )


def test_an_unknown_start_with_no_commit_since_counts_only_uncommitted_work(repo: pygit2.Repository) -> None:
    Path(repo.workdir, "keep.txt").write_text("keep.txt, edited\n")
    changes = Pygit2Metadata().changes_since(root_of(repo), "not-a-sha", since=START.replace(year=2026))
    assert changes == WorkChanges(paths=(PathChange(path="keep.txt", change_type=ChangeType.MODIFIED),))


def test_reading_changes_writes_nothing_to_the_repository(repo: pygit2.Repository) -> None:
    work, git_dir = Path(repo.workdir), Path(repo.path)
    (work / "keep.txt").write_text("edited, same second as the index write\n")
    (work / "new.txt").write_text("untracked\n")
    before = {p: p.read_bytes() for p in git_dir.rglob("*") if p.is_file()}
    Pygit2Metadata().changes_since(root_of(repo), start_of(repo), since=START)
    assert {p: p.read_bytes() for p in git_dir.rglob("*") if p.is_file()} == before


def test_a_multi_line_message_keeps_its_first_non_blank_line(repo: pygit2.Repository) -> None:
    start = start_of(repo)
    later = pygit2.Signature("Ada Lovelace", "ada@example.com", int(START.timestamp()) + 60, 0)
    oid = repo.create_commit("HEAD", later, later, "\n\nsubject\nbody\n", repo.index.write_tree(), [start])
    [commit] = Pygit2Metadata().changes_since(root_of(repo), start, since=START).commits
    assert (commit.hash, commit.message, commit.author) == (str(oid), "subject", "Ada Lovelace")
    assert commit.timestamp == datetime(2025, 3, 14, 9, 1, tzinfo=UTC)
