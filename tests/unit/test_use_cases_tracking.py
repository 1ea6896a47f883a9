"""Tracking use cases with in-memory storage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from costhq.adapters._shared.clock import FixedClock
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.application.tracking import NoteBranchSwitch, RecordCommit, RecordFileChange
from costhq.domain.errors import InvalidArgument
from costhq.domain.git import CommitInfo
from costhq.domain.sessions import ChangeType, NewSession

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def world() -> tuple[InMemoryStore, FixedClock, int]:
    store, clock = InMemoryStore(), FixedClock(T0)
    with InMemoryUnitOfWork(store) as uow:
        sid = uow.sessions.add(NewSession(name="s", start_time=T0, working_directory="/r")).id
    return store, clock, sid


def test_file_changes_are_recorded_once_per_path_and_type(world) -> None:
    store, clock, sid = world
    record = RecordFileChange(lambda: InMemoryUnitOfWork(store), clock)
    first = record(session_id=sid, path="src/a.py", change_type=ChangeType.CREATED)
    assert first is not None and first.file_path == "src/a.py" and first.timestamp == T0
    assert record(session_id=sid, path="src/a.py", change_type=ChangeType.CREATED) is None
    record(session_id=sid, path="src/a.py", change_type=ChangeType.MODIFIED)
    with InMemoryUnitOfWork(store) as uow:
        assert uow.sessions.get(sid).files_changed == 1
        assert len(uow.activity.files(sid)) == 2
    with pytest.raises(InvalidArgument):
        record(session_id=sid, path="../escape.py", change_type=ChangeType.CREATED)


def test_nothing_is_recorded_after_the_session_ended(world) -> None:
    store, clock, sid = world
    with InMemoryUnitOfWork(store) as uow:
        uow.sessions.end(sid, end_time=T0, notes=None)
    uow = lambda: InMemoryUnitOfWork(store)  # noqa: E731
    assert RecordFileChange(uow, clock)(session_id=sid, path="a.py", change_type=ChangeType.CREATED) is None
    commit = CommitInfo(hash="a" * 40, message="m", timestamp=T0)
    assert RecordCommit(uow, clock)(session_id=sid, commit=commit) is None
    assert NoteBranchSwitch(uow, clock)(session_id=sid, old="main", new="x") is None


def test_commits_and_branch_switches(world) -> None:
    store, clock, sid = world
    uow = lambda: InMemoryUnitOfWork(store)  # noqa: E731
    commit = CommitInfo(hash="b" * 40, message="feat: x", timestamp=T0, author="Dev")
    assert RecordCommit(uow, clock)(session_id=sid, commit=commit).hash == "b" * 40
    assert RecordCommit(uow, clock)(session_id=sid, commit=commit) is None
    note = NoteBranchSwitch(uow, clock)(session_id=sid, old="main", new=None)
    assert note.message == "Switched branch: main -> (detached)"
    with InMemoryUnitOfWork(store) as u:
        assert u.sessions.get(sid).commits == 1
