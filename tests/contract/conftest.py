"""Shared contract-suite fixtures: one factory per port, parametrized over [in_memory, apsw, postgres]."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.application.ports.storage import UnitOfWork
from tests.postgres.fixtures import pg_cluster, pg_url  # noqa: F401  (fixtures)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database file in the test's temp dir (never `:memory:`: no WAL, one db per connection)."""
    return tmp_path / "costhq.db"


@pytest.fixture(params=["in_memory", "apsw", "postgres"])
def make_uow(request: pytest.FixtureRequest, db_path: Path) -> Callable[[], UnitOfWork]:
    """A UnitOfWork factory; every call is a new unit of work on the same storage."""
    if request.param == "in_memory":
        store = InMemoryStore()
        return lambda: InMemoryUnitOfWork(store)
    if request.param == "postgres":
        from costhq.adapters.persistence.postgres.uow import PgUnitOfWork

        url = request.getfixturevalue("pg_url")
        return lambda: PgUnitOfWork(url)
    return lambda: ApswUnitOfWork(str(db_path))
