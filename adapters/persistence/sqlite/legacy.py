"""Import of the old Node tool's database (`~/.codesession/sessions.db`, DESIGN §5).

Assumptions: the old file may be live and in WAL, so `sessions.db` and its `-wal`/`-shm`
are copied to a temp dir and only the copy is read (the old dir is never modified). Older
files lack some columns (found with `PRAGMA table_info`) or tables. REAL costs convert
exactly via `Decimal(repr(float))` to 1e-10 USD; ids are kept; session totals are recomputed
from the imported rows. The whole import is one transaction: all or nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import apsw
import attrs

from costhq.adapters.persistence.audit_head import FileAuditAnchor, head_path
from costhq.adapters.persistence.converter import RowConverter, time_text
from costhq.adapters.persistence.rows import USAGE_COLUMNS
from costhq.adapters.persistence.sqlite.audit import ApswAuditLog
from costhq.adapters.persistence.sqlite.connection import open_connection
from costhq.adapters.persistence.sqlite.db import Db
from costhq.adapters.persistence.sqlite.transaction import WriteTransaction, translate_errors
from costhq.domain.audit import AuditEntry, AuditEvent
from costhq.domain.audit_coverage import usage_entries
from costhq.domain.money import to_units
from costhq.domain.usage import UsageRecord

_EPOCH = "1970-01-01T00:00:00.000000Z"
_CHANGE_TYPES = {
    "created": "created", "add": "created", "added": "created", "a": "created",
    "modified": "modified", "change": "modified", "changed": "modified", "m": "modified",
    "deleted": "deleted", "unlink": "deleted", "removed": "deleted", "d": "deleted",
    "renamed": "renamed", "r": "renamed",
}


@attrs.frozen
class MigrationReport:
    """Rows imported per table, plus rows skipped because their session did not exist.

    Attributes:
        counts: new table name -> rows imported.
        skipped: rows of the old file that pointed at a missing session.
    """

    counts: dict[str, int]
    skipped: int = 0

    def summary(self) -> str:
        """One line for the stderr migration message."""
        c = self.counts
        text = (f"{c['sessions']} sessions, {c['ai_usage']} AI calls, {c['file_changes']} file changes, "
                f"{c['commits']} commits, {c['annotations']} notes, {c['today_projects']} projects")
        return text + (f", {self.skipped} orphan rows skipped" if self.skipped else "")


def _time(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):  # epoch seconds or milliseconds
        seconds = value / 1000 if value > 1e11 else value
        return time_text(datetime.fromtimestamp(seconds, UTC))
    parsed = datetime.fromisoformat(str(value).strip())
    return time_text(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _units(cost: Any) -> int | None:
    if cost is None:
        return None
    # repr gives the shortest string that round-trips the double: 0.1 -> '0.1', not 0.1000000000000000055...
    return to_units(Decimal(repr(cost)) if isinstance(cost, float) else Decimal(str(cost)))


def _read(old: apsw.Connection, table: str, wanted: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows of `table` as dicts over `wanted`; columns the old file lacks read as None."""
    present = {row[1] for row in old.execute("SELECT * FROM pragma_table_info(?)", (table,))}
    if not present:
        return []
    cols = ", ".join(f'"{c}" AS "{c}"' if c in present else f'NULL AS "{c}"' for c in wanted)
    cur = old.execute(f'SELECT {cols} FROM "{table}" ORDER BY rowid')
    return [dict(zip(wanted, row, strict=True)) for row in cur]


def _sessions(old: apsw.Connection) -> list[dict[str, Any]]:
    out = []
    for r in _read(old, "sessions", ("id", "name", "start_time", "end_time", "working_directory", "git_root",
                                     "start_git_head", "branch", "notes", "status")):
        end = _time(r["end_time"])
        status = r["status"] if r["status"] in ("active", "completed") else ("completed" if end else "active")
        out.append({**r, "name": r["name"] or f"Session {r['id']}", "status": status,
                    "start_time": _time(r["start_time"]) or _EPOCH, "end_time": end,
                    "working_directory": r["working_directory"] or ""})
    return out


def _usage(old: apsw.Connection) -> list[dict[str, Any]]:
    out = []
    for r in _read(old, "ai_usage", ("id", "session_id", "provider", "model", "tokens", "prompt_tokens",
                                     "completion_tokens", "cost", "timestamp", "agent_name")):
        prompt, completion = int(r["prompt_tokens"] or 0), int(r["completion_tokens"] or 0)
        units = _units(r["cost"])
        out.append({
            "id": r["id"], "session_id": r["session_id"], "provider": r["provider"] or "unknown",
            "model": r["model"] or "unknown", "input_tokens": prompt, "output_tokens": completion,
            "total_tokens": int(r["tokens"]) if r["tokens"] is not None else prompt + completion,
            "cost_units": units, "price_source": "manual" if units is not None else "unpriced",
            "agent_name": r["agent_name"], "timestamp": _time(r["timestamp"]) or _EPOCH,
        })
    return out


def _activity(old: apsw.Connection) -> dict[str, list[dict[str, Any]]]:
    files = [{**r, "change_type": _CHANGE_TYPES.get(str(r["change_type"]).lower(), "modified"),
              "timestamp": _time(r["timestamp"]) or _EPOCH}
             for r in _read(old, "file_changes", ("id", "session_id", "file_path", "change_type", "timestamp"))]
    commits = [{**r, "message": r["message"] or "", "timestamp": _time(r["timestamp"]) or _EPOCH}
               for r in _read(old, "commits", ("id", "session_id", "hash", "message", "timestamp"))]
    notes = [{**r, "message": r["message"] or "", "timestamp": _time(r["timestamp"]) or _EPOCH}
             for r in _read(old, "session_notes", ("id", "session_id", "message", "timestamp"))]
    projects = [{**r, "added_at": _time(r["added_at"]) or _EPOCH}
                for r in _read(old, "today_projects", ("id", "path", "name", "added_at"))]
    return {"file_changes": files, "commits": commits, "annotations": notes, "today_projects": projects}


_INSERTS = {
    "sessions": "INSERT INTO sessions (id, name, status, start_time, end_time, working_directory, git_root,"
    " start_git_head, branch, notes) VALUES (:id, :name, :status, :start_time, :end_time,"
    " :working_directory, :git_root, :start_git_head, :branch, :notes)",
    "ai_usage": "INSERT INTO ai_usage (id, session_id, provider, model, input_tokens, output_tokens,"
    " total_tokens, cost_units, price_source, rates, origin, agent_name, timestamp) VALUES (:id, :session_id,"
    " :provider, :model, :input_tokens, :output_tokens, :total_tokens, :cost_units, :price_source, '{}',"
    " 'cli', :agent_name, :timestamp)",
    "file_changes": "INSERT INTO file_changes (id, session_id, file_path, change_type, timestamp)"
    " VALUES (:id, :session_id, :file_path, :change_type, :timestamp) ON CONFLICT DO NOTHING",
    "commits": "INSERT INTO commits (id, session_id, hash, message, timestamp)"
    " VALUES (:id, :session_id, :hash, :message, :timestamp) ON CONFLICT DO NOTHING",
    "annotations": "INSERT INTO annotations (id, session_id, message, timestamp)"
    " VALUES (:id, :session_id, :message, :timestamp)",
    "today_projects": "INSERT INTO today_projects (id, path, name, added_at)"
    " VALUES (:id, :path, :name, :added_at) ON CONFLICT DO NOTHING",
}

def _count(conn: apsw.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0])


_RECOMPUTE = """
UPDATE sessions SET
    ai_cost_units = COALESCE((SELECT SUM(cost_units) FROM ai_usage u WHERE u.session_id = sessions.id), 0),
    ai_tokens = COALESCE((SELECT SUM(total_tokens) FROM ai_usage u WHERE u.session_id = sessions.id), 0),
    ai_calls = (SELECT COUNT(*) FROM ai_usage u WHERE u.session_id = sessions.id),
    unpriced_calls = (SELECT COUNT(*) FROM ai_usage u WHERE u.session_id = sessions.id AND cost_units IS NULL),
    files_changed = (SELECT COUNT(DISTINCT file_path) FROM file_changes f WHERE f.session_id = sessions.id),
    commits = (SELECT COUNT(*) FROM commits c WHERE c.session_id = sessions.id),
    last_activity = MAX(start_time,
        COALESCE((SELECT MAX(timestamp) FROM ai_usage u WHERE u.session_id = sessions.id), ''),
        COALESCE((SELECT MAX(timestamp) FROM file_changes f WHERE f.session_id = sessions.id), ''),
        COALESCE((SELECT MAX(timestamp) FROM commits c WHERE c.session_id = sessions.id), ''),
        COALESCE((SELECT MAX(timestamp) FROM annotations a WHERE a.session_id = sessions.id), ''))
"""


def _read_copy(old_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Read every table from a temp copy of the db and its WAL files."""
    with tempfile.TemporaryDirectory(prefix="costhq-legacy-") as tmp:
        for suffix in ("", "-wal", "-shm"):
            src = old_dir / f"sessions.db{suffix}"
            if src.exists():
                shutil.copy2(src, Path(tmp) / src.name)
        with translate_errors():
            old = apsw.Connection(str(Path(tmp) / "sessions.db"))
            try:
                return {"sessions": _sessions(old), "ai_usage": _usage(old), **_activity(old)}
            finally:
                old.close()


def migrate_codesession(old_dir: Path, new_db: Path) -> MigrationReport:
    """Import the old tool's `sessions.db` into the CostHQ database at `new_db` (all or nothing).

    Raises:
        Conflict: `new_db` already holds rows with the same ids.
        StorageError / StorageBusy: the old copy or the new file could not be used.
    """
    data = _read_copy(Path(old_dir))
    session_ids = {s["id"] for s in data["sessions"]}
    skipped = 0
    for table in ("ai_usage", "file_changes", "commits", "annotations"):
        kept = [r for r in data[table] if r["session_id"] in session_ids]
        skipped += len(data[table]) - len(kept)
        data[table] = kept
    counts: dict[str, int] = {}
    conn = open_connection(str(new_db))
    try:
        with WriteTransaction(conn), translate_errors():
            for table, sql in _INSERTS.items():
                # Row counts, not total_changes(): triggers (the usage rollup) add changes of their own.
                before = _count(conn, table)
                conn.executemany(sql, data[table])
                counts[table] = _count(conn, table) - before
            conn.execute(_RECOMPUTE)
            head = _audit_migrated(conn)
    finally:
        conn.close()
    if head is not None:
        FileAuditAnchor(head_path(new_db)).write(head)
    return MigrationReport(counts=counts, skipped=skipped)


def _audit_migrated(conn: apsw.Connection) -> AuditEntry | None:
    """Issue 14: the chain covers every usage record, the migrated ones too (their digests, in
    `usage.imported` entries of the same transaction); returns the newest entry."""
    db = Db(conn, RowConverter())
    log = ApswAuditLog(db)
    rows = db.many(f"SELECT {USAGE_COLUMNS} FROM ai_usage ORDER BY id", (), UsageRecord)
    for chunk in usage_entries(rows):
        log.append(AuditEvent(event="usage.imported", actor="system", payload={"usage": chunk,
                              "source": "codesession"}, at=datetime.now(UTC)))
    return log.appended
