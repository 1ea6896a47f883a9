"""Use cases of team mode (issue 16): `cs db migrate` and `cs db push`."""

from __future__ import annotations

import attrs

from costhq.application.ports.team import HistoryPush, MigrationResult, PushCounts, SchemaAdmin


@attrs.frozen
class MigrateStorage:
    """Bring the configured database's schema up to date (the first use of a database does it too)."""

    admin: SchemaAdmin

    def __call__(self) -> MigrationResult:
        return self.admin.migrate()


@attrs.frozen
class PushHistory:
    """Copy local history into a team database: re-running copies nothing twice."""

    pusher: HistoryPush

    def __call__(self, *, to: str) -> PushCounts:
        return self.pusher.push(to)
