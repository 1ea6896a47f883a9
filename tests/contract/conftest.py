"""Shared contract-suite fixtures: one factory per port, parametrized over [in_memory, real]."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from costhq.adapters.persistence.apsw_uow import ApswUnitOfWork
from costhq.adapters.persistence.memory import InMemoryStore, InMemoryUnitOfWork
from costhq.application.ports.storage import UnitOfWork


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database file in the test's temp dir (never `:memory:`: no WAL, one db per connection)."""
    return tmp_path / "costhq.db"


@pytest.fixture(params=["in_memory", "apsw"])
def make_uow(request: pytest.FixtureRequest, db_path: Path) -> Callable[[], UnitOfWork]:
    """A UnitOfWork factory; every call is a new unit of work on the same storage."""
    if request.param == "in_memory":
        store = InMemoryStore()
        return lambda: InMemoryUnitOfWork(store)
    return lambda: ApswUnitOfWork(str(db_path))
