"""In-memory unit of work specifics the contract suite cannot express for both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.application.errors import StorageBusy
from costhq.domain.sessions import NewSession

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_nested_unit_of_work_in_one_thread_is_busy_like_a_second_sqlite_writer() -> None:
    store = InMemoryStore()
    with InMemoryUnitOfWork(store) as outer:
        outer.sessions.add(NewSession(name="a", start_time=T0, working_directory="/w"))
        with pytest.raises(StorageBusy), InMemoryUnitOfWork(store):
            pass
    with InMemoryUnitOfWork(store) as uow:  # the lock was released and the outer work committed
        assert [s.name for s in uow.sessions.recent(5)] == ["a"]
