"""`cs db push` (port: HistoryPush): this machine's SQLite history into a team PostgreSQL database.

Exactly once: every copied row carries a key made of the push source (`user@machine:path of
sessions.db`) and its local id — sessions in (`push_source`, `local_id`), calls and
annotations in `push_key` — and is inserted with ON CONFLICT DO NOTHING; file changes and
commits are unique per session already. A second push copies only what is new (and updates a
session's status, end and notes); a call already in the team database under the same call key
is skipped too. The copied calls' digests go into `usage.imported` audit entries (the chain
covers every usage row). Sessions get team ids and keep their local id as `local_id`. Session totals
are recomputed from the team rows of the pushed sessions, so they always match their calls.
The whole push is ONE transaction under an advisory lock on the source: a failure copies
nothing, and two pushes of one source at once run one after the other. Compute rows of local
models (`local_usage`) are not pushed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from costhq.adapters.persistence.converter import RowConverter
from costhq.adapters.persistence.postgres.db import PgDb, translate_errors
from costhq.adapters.persistence.postgres.uow import PgUnitOfWork
from costhq.adapters.persistence.postgres.url import is_postgres, redact
from costhq.adapters.persistence.rows import SESSION_COLUMNS, USAGE_COLUMNS, USAGE_FIELDS
from costhq.adapters.persistence.sqlite.connection import open_connection
from costhq.adapters.persistence.sqlite.db import Db
from costhq.application.ports.team import PushCounts
from costhq.domain.audit import AuditEvent
from costhq.domain.audit_coverage import usage_entries
from costhq.domain.errors import InvalidArgument
from costhq.domain.usage import UsageRecord

_SESSION_FIELDS = [c.split(" AS ")[0] for c in SESSION_COLUMNS.split(", ")
                   if c.split(" AS ")[0] not in ("id", "user_name", "machine")]
_INSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(_SESSION_FIELDS)}, user_name, machine, push_source, local_id)"
    f" VALUES ({', '.join(f'%({f})s' for f in _SESSION_FIELDS)}, %(user)s, %(machine)s, %(source)s, %(id)s)"
    " ON CONFLICT (push_source, local_id) DO UPDATE SET name = excluded.name, status = excluded.status,"
    " end_time = excluded.end_time, notes = excluded.notes, branch = excluded.branch,"
    " last_activity = GREATEST(sessions.last_activity, excluded.last_activity)"
    " RETURNING id, (xmax = 0) AS inserted")
_INSERT_USAGE = (f"INSERT INTO ai_usage ({', '.join(USAGE_FIELDS)}, push_key)"
                 f" VALUES ({', '.join(f'%({f})s' for f in USAGE_FIELDS)}, %(push_key)s) ON CONFLICT DO NOTHING")
_INSERTS = {
    "file_changes": ("INSERT INTO file_changes (session_id, file_path, change_type, timestamp) VALUES"
                     " (%(session_id)s, %(file_path)s, %(change_type)s, %(timestamp)s) ON CONFLICT DO NOTHING"),
    "commits": ("INSERT INTO commits (session_id, hash, message, author, timestamp) VALUES"
                " (%(session_id)s, %(hash)s, %(message)s, %(author)s, %(timestamp)s) ON CONFLICT DO NOTHING"),
    "annotations": ("INSERT INTO annotations (session_id, message, timestamp, push_key) VALUES"
                    " (%(session_id)s, %(message)s, %(timestamp)s, %(push_key)s) ON CONFLICT DO NOTHING"),
}
_LOCAL = {
    "ai_usage": f"SELECT {USAGE_COLUMNS} FROM ai_usage ORDER BY id",
    "file_changes": "SELECT id AS id, session_id AS session_id, file_path AS file_path, change_type AS change_type,"
                    " timestamp AS timestamp FROM file_changes ORDER BY id",
    "commits": "SELECT id AS id, session_id AS session_id, hash AS hash, message AS message, author AS author,"
               " timestamp AS timestamp FROM commits ORDER BY id",
    "annotations": "SELECT id AS id, session_id AS session_id, message AS message, timestamp AS timestamp"
                   " FROM annotations ORDER BY id",
}
_RECOUNT = (
    "UPDATE sessions s SET ai_cost_units = t.units, ai_tokens = t.tokens, ai_calls = t.calls,"
    " unpriced_calls = t.unpriced, files_changed = t.files, commits = t.commits FROM ("
    " SELECT x.id, COALESCE(SUM(u.cost_units), 0)::bigint AS units, COALESCE(SUM(u.total_tokens), 0)::bigint AS tokens,"
    " COUNT(u.id) AS calls, COUNT(u.id) FILTER (WHERE u.id IS NOT NULL AND u.cost_units IS NULL) AS unpriced,"
    " (SELECT COUNT(DISTINCT f.file_path) FROM file_changes f WHERE f.session_id = x.id) AS files,"
    " (SELECT COUNT(*) FROM commits c WHERE c.session_id = x.id) AS commits"
    " FROM sessions x LEFT JOIN ai_usage u ON u.session_id = x.id WHERE x.id = ANY(%s) GROUP BY x.id) t"
    " WHERE s.id = t.id")


def _read_local(path: str) -> dict[str, list[dict[str, Any]]]:
    conn = open_connection(path, readonly=True)
    try:
        db = Db(conn, RowConverter())
        with conn:
            out = {"sessions": db.rows(f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY id")}
            out.update({table: db.rows(sql) for table, sql in _LOCAL.items()})
        return out
    finally:
        conn.close()


class SqliteToPostgresPush:
    """HistoryPush from the data dir's `sessions.db` (see the module docstring)."""

    def __init__(self, db_path: str, *, user: str, machine: str, audit_key: bytes | None = None) -> None:
        self._path = db_path
        self._user, self._machine = user, machine
        self._audit_key = audit_key

    @property
    def source(self) -> str:
        return f"{self._user}@{self._machine}:{Path(self._path).resolve()}"

    def push(self, target_url: str) -> PushCounts:
        if not is_postgres(target_url):
            raise InvalidArgument(f"--to must be a postgresql:// URL or a libpq connection string, not"
                                  f" {redact(target_url)!r}")
        local = _read_local(self._path)
        source = self.source
        with PgUnitOfWork(target_url, audit_key=self._audit_key, user=self._user, machine=self._machine) as uow:
            db = uow.db
            db.run("SELECT pg_advisory_xact_lock(hashtext(%s))", (source,))
            since = uow.audit.usage_mark()
            team_ids: dict[int, int] = {}
            new_sessions = 0
            for s in local["sessions"]:
                # A session stored before schema v10 has no who: it is this machine's owner's (docs/team.md).
                who = {"user": s["user_name"] or self._user, "machine": s["machine"] or self._machine}
                row = db.rows(_INSERT_SESSION, {**s, **who, "source": source})[0]
                team_ids[s["id"]] = int(row["id"])
                new_sessions += bool(row["inserted"])
            counts = {table: self._copy(db, table, rows, team_ids, source) for table, rows in local.items()
                      if table != "sessions"}
            if team_ids:
                db.run(_RECOUNT, (list(team_ids.values()),))
            db.run("INSERT INTO pushes (push_source, user_name, machine, last_push) VALUES (%s, %s, %s, %s)"
                   " ON CONFLICT (push_source) DO UPDATE SET last_push = excluded.last_push",
                   (source, self._user, self._machine, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
            result = PushCounts(target=redact(target_url), sessions=new_sessions, **counts)
            uow.audit.append(AuditEvent(event="team.push", actor="cli", at=datetime.now(UTC), payload={
                "source": source, "sessions": result.sessions, "ai_usage": result.ai_usage,
                "file_changes": result.file_changes, "commits": result.commits, "annotations": result.annotations}))
            # Issue 14: the chain covers every usage row, the pushed ones too (by their team ids).
            pushed = db.many(f"SELECT {USAGE_COLUMNS} FROM ai_usage WHERE id > %s"
                             " AND starts_with(push_key, %s) ORDER BY id", (since, f"{source}#"), UsageRecord)
            for chunk in usage_entries(pushed):
                uow.audit.append(AuditEvent(event="usage.imported", actor="cli", at=datetime.now(UTC),
                                            payload={"usage": chunk, "source": source}))
        return result

    @staticmethod
    def _copy(db: PgDb, table: str, rows: list[dict[str, Any]], team_ids: dict[int, int], source: str) -> int:
        if not rows:
            return 0
        params = [{**r, "session_id": team_ids[r["session_id"]], "push_key": f"{source}#{r['id']}"} for r in rows]
        with translate_errors(db.url), db.conn.cursor() as cur:
            cur.executemany(_INSERT_USAGE if table == "ai_usage" else _INSERTS[table], params)
            return int(cur.rowcount)
