"""Ports: storage administration for team mode (issue 16): schema versions and pushing history."""

from __future__ import annotations

from typing import Protocol

import attrs


@attrs.frozen(kw_only=True)
class MigrationResult:
    """What `cs db migrate` did: the back end, where (never with a password), from and to version."""

    backend: str
    location: str
    found: int
    current: int


@attrs.frozen(kw_only=True)
class PushCounts:
    """Rows one `cs db push` copied (0 everywhere when everything was pushed before)."""

    target: str
    sessions: int
    ai_usage: int
    file_changes: int
    commits: int
    annotations: int


class SchemaAdmin(Protocol):
    """The configured database's schema ladder."""

    def migrate(self) -> MigrationResult:
        """Bring the schema to this program's version (idempotent).

        Raises:
            IncompatibleStorage: the database is newer than this program, or not CostHQ's.
        """
        ...


class HistoryPush(Protocol):
    """Copies this machine's local history into a team database, each row exactly once."""

    def push(self, target_url: str) -> PushCounts: ...
