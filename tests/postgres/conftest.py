"""Fixtures of the PostgreSQL back end's own tests (a throwaway cluster; see fixtures.py)."""

from tests.postgres.fixtures import pg_cluster, pg_url  # noqa: F401  (fixtures)
