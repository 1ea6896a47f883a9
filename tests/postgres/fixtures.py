"""pytest fixtures of the PostgreSQL tests: one cluster per test session, one database per test.

Import them into a conftest (`from tests.postgres.fixtures import pg_cluster, pg_url`). The
cluster starts on first use only, so a run that selects no PostgreSQL test never starts one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres.cluster import Cluster, server_bin_dir


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL server binaries not found: install Debian's postgresql (scripts/test.sh does)")
    cluster = Cluster(bin_dir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL of a fresh, empty database of its own for this test."""
    return pg_cluster.database()
