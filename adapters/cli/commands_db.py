"""`cs db migrate|push`: the storage's schema version and copying local history to a team database (issue 16)."""

from __future__ import annotations

from typing import Annotated, Any

from cyclopts import App, Parameter

from costhq.adapters.cli.output import emit_json, print_kv
from costhq.adapters.cli.params import Json


def register(app: App, c: Any) -> None:
    """Add the `db` command group to `app`."""
    db = App(name="db", help="Storage: schema migrations, pushing local history to a team PostgreSQL database.")
    app.command(db)

    @db.command
    def migrate(*, json_: Json = False) -> int:
        """Bring the configured database (SQLite file, or COSTHQ_DATABASE_URL) to this version's schema.

        Idempotent; the first use of a database does it too. A database newer than this CostHQ is refused.
        """
        r = c.migrate_storage()()
        if json_:
            emit_json({"backend": r.backend, "location": r.location, "fromVersion": r.found, "toVersion": r.current,
                       "migrated": r.found < r.current})
        else:
            state = f"migrated from version {r.found}" if r.found < r.current else "already up to date"
            print_kv("Schema", [("Back end", r.backend), ("Database", r.location), ("Version", r.current),
                                ("Result", state)])
        return 0

    @db.command
    def push(*, to: Annotated[str, Parameter(name="--to")], json_: Json = False) -> int:
        """Copy this machine's local history (sessions.db) into a team PostgreSQL database, exactly once.

        Parameters
        ----------
        to
            The team database: postgresql://user@host/db (password from the URL, ~/.pgpass, a service
            file or PG* variables; it is never printed).
        """
        r = c.push_history()(to=to)
        counts = {"sessions": r.sessions, "aiUsage": r.ai_usage, "fileChanges": r.file_changes,
                  "commits": r.commits, "annotations": r.annotations}
        if json_:
            emit_json({"target": r.target, "copied": counts})
        else:
            print_kv(f"Pushed to {r.target}", [("New sessions", r.sessions), ("AI calls", r.ai_usage),
                                                ("File changes", r.file_changes), ("Commits", r.commits),
                                                ("Notes", r.annotations)])
        return 0
