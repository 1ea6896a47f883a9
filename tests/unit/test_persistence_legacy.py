"""Import of the old Node tool's `sessions.db`: every row, exact money, WAL-only rows, old dir untouched."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from costhq.adapters.persistence.sqlite.legacy import MigrationReport, migrate_codesession
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.application.errors import Conflict
from costhq.domain.pricing import PriceSource
from costhq.domain.sessions import ChangeType, NewSession, SessionStatus
from costhq.domain.usage import Origin, TokenCounts

D = Decimal

NEW_STYLE = """
CREATE TABLE sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, start_time TEXT NOT NULL,
  end_time TEXT, duration INTEGER, working_directory TEXT, git_root TEXT, start_git_head TEXT,
  files_changed INTEGER DEFAULT 0, commits INTEGER DEFAULT 0, ai_cost REAL DEFAULT 0, ai_tokens INTEGER DEFAULT 0,
  notes TEXT, status TEXT DEFAULT 'active');
CREATE TABLE file_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, file_path TEXT,
  change_type TEXT, timestamp TEXT);
CREATE TABLE commits (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, hash TEXT, message TEXT,
  timestamp TEXT);
CREATE TABLE ai_usage (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, provider TEXT, model TEXT,
  tokens INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL, timestamp TEXT, agent_name TEXT);
CREATE TABLE session_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, message TEXT, timestamp TEXT);
CREATE TABLE today_projects (id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT UNIQUE, name TEXT, added_at TEXT);
"""
# The first releases: no git columns, no token split, no agent, no notes or projects tables.
OLD_STYLE = """
CREATE TABLE sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, start_time TEXT NOT NULL,
  end_time TEXT, duration INTEGER, working_directory TEXT, files_changed INTEGER DEFAULT 0,
  commits INTEGER DEFAULT 0, ai_cost REAL DEFAULT 0, ai_tokens INTEGER DEFAULT 0, notes TEXT,
  status TEXT DEFAULT 'active');
CREATE TABLE file_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, file_path TEXT,
  change_type TEXT, timestamp TEXT);
CREATE TABLE commits (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, hash TEXT, message TEXT,
  timestamp TEXT);
CREATE TABLE ai_usage (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, provider TEXT, model TEXT,
  tokens INTEGER, cost REAL, timestamp TEXT);
"""


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def insert(db: sqlite3.Connection, table: str, **row: object) -> None:
    cols = [c for c in row if c in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}]
    db.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
               [row[c] for c in cols])


def fill(db: sqlite3.Connection) -> None:
    insert(db, "sessions", id=3, name="Fix bug", start_time="2025-03-01T10:00:00.000Z",
           end_time="2025-03-01T11:30:00.500Z", duration=5400, working_directory="/repo", git_root="/repo",
           start_git_head="abc123", files_changed=9, commits=9, ai_cost=99.0, ai_tokens=1, notes="done",
           status="completed")
    insert(db, "sessions", id=7, name="Still going", start_time="2025-03-02 08:00:00",
           working_directory="/other", status="active")
    usage = [  # id, session, tokens, prompt, completion, cost, timestamp, agent
        (1, 3, 1500, 1000, 500, 0.1, "2025-03-01T10:10:00.000Z", "coder"),
        (2, 3, 300, 200, 100, 0.2, "2025-03-01T10:20:00.000Z", None),
        (4, 3, None, 40, 2, 0.0123456789, "2025-03-01T10:30:00.123Z", None),
        (5, 3, 10, None, None, 0.00000000015, "2025-03-01T10:40:00.000Z", None),  # rounds half-even to 2e-10
        (6, 7, 77, 70, 7, None, "2025-03-02T09:00:00.000Z", "bot"),
        (8, 99, 5, 5, 0, 1.0, "2025-03-02T09:00:00.000Z", None),  # orphan: session 99 is gone
    ]
    for uid, sid, tokens, prompt, completion, cost, ts, agent in usage:
        insert(db, "ai_usage", id=uid, session_id=sid, provider="anthropic", model="claude-sonnet-4-5",
               tokens=tokens, prompt_tokens=prompt, completion_tokens=completion, cost=cost, timestamp=ts,
               agent_name=agent)
    for fid, path, kind in [(1, "a.py", "created"), (2, "a.py", "modified"), (3, "b.py", "deleted"),
                            (4, "a.py", "modified")]:  # 4 repeats 2: skipped
        insert(db, "file_changes", id=fid, session_id=3, file_path=path, change_type=kind,
               timestamp=f"2025-03-01T10:0{fid}:00.000Z")
    insert(db, "commits", id=1, session_id=3, hash="h1", message="fix", timestamp="2025-03-01T11:00:00.000Z")
    insert(db, "commits", id=2, session_id=3, hash="h2", message="test", timestamp="2025-03-01T11:05:00.000Z")
    if "session_notes" in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}:
        insert(db, "session_notes", id=1, session_id=3, message="halfway", timestamp="2025-03-01T11:20:00.000Z")
        insert(db, "today_projects", id=1, path="/repo", name="repo", added_at="2025-03-01T09:00:00.000Z")


@pytest.fixture(params=["new_style", "old_style"])
def style(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def old_dir(style: str, tmp_path: Path) -> Iterator[Path]:
    """A live codesession dir: WAL, auto-checkpoint off, the writer still open (rows only in -wal)."""
    folder = tmp_path / ".codesession"
    folder.mkdir()
    db = sqlite3.connect(folder / "sessions.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.executescript(NEW_STYLE if style == "new_style" else OLD_STYLE)
    fill(db)
    db.commit()
    yield folder
    db.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_rows_live_only_in_the_wal_file(old_dir: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "sessions.db").write_bytes((old_dir / "sessions.db").read_bytes())
    main_only = sqlite3.connect(alone / "sessions.db")
    assert main_only.execute("SELECT name FROM sqlite_master").fetchall() == []
    main_only.close()


def test_migration_imports_every_row_exactly_and_leaves_the_old_dir_untouched(
    old_dir: Path, style: str, tmp_path: Path
) -> None:
    has_extras = style == "new_style"
    split_total = 42 if has_extras else 0  # row 4 has no `tokens`, only the split old files lack
    before = snapshot(old_dir)
    new_db = tmp_path / "costhq" / "sessions.db"
    report = migrate_codesession(old_dir, new_db)

    assert report == MigrationReport(
        counts={"sessions": 2, "ai_usage": 5, "file_changes": 3, "commits": 2,
                "annotations": 1 if has_extras else 0, "today_projects": 1 if has_extras else 0},
        skipped=1,
    )
    assert snapshot(old_dir) == before
    with ApswUnitOfWork(str(new_db)) as uow:
        fixed, going = uow.sessions.get(3), uow.sessions.get(7)
        usage = uow.usage.for_session(3) + uow.usage.for_session(7)
        files, commits, notes = uow.activity.files(3), uow.activity.commits(3), uow.activity.annotations(3)
        stats = uow.sessions.stats(utc("2025-03-02T08:00:10"))
    assert fixed is not None and going is not None
    assert (fixed.name, fixed.status, fixed.start_time, fixed.end_time, fixed.notes) == (
        "Fix bug", SessionStatus.COMPLETED, utc("2025-03-01T10:00:00"), utc("2025-03-01T11:30:00.500"), "done")
    assert (fixed.git_root, fixed.start_git_head) == (("/repo", "abc123") if has_extras else (None, None))
    # totals are recomputed from the imported rows, never copied from the old counters
    assert (fixed.ai_cost, fixed.ai_tokens, fixed.ai_calls, fixed.unpriced_calls) == (
        D("0.3123456791"), 1500 + 300 + split_total + 10, 4, 0)
    assert (fixed.files_changed, fixed.commits, fixed.last_activity) == (
        2, 2, utc("2025-03-01T11:20:00") if has_extras else utc("2025-03-01T11:05:00"))
    assert (going.status, going.start_time, going.ai_cost, going.ai_calls, going.unpriced_calls) == (
        SessionStatus.ACTIVE, utc("2025-03-02T08:00:00"), D(0), 1, 1)
    assert [(u.id, u.cost, u.total_tokens) for u in usage] == [
        (1, D("0.1"), 1500), (2, D("0.2"), 300), (4, D("0.0123456789"), split_total), (5, D("0.0000000002"), 10),
        (6, None, 77)]
    first = usage[0]
    assert first.tokens == (TokenCounts(input=1000, output=500) if has_extras else TokenCounts())
    assert (first.price_source, first.origin, first.rates, first.request_id) == (
        PriceSource.MANUAL, Origin.CLI, {}, None)
    assert first.agent == ("coder" if has_extras else None)
    assert usage[-1].price_source is PriceSource.UNPRICED
    assert [(f.id, f.file_path, f.change_type) for f in files] == [
        (1, "a.py", ChangeType.CREATED), (2, "a.py", ChangeType.MODIFIED), (3, "b.py", ChangeType.DELETED)]
    assert [(c.id, c.hash, c.message, c.timestamp) for c in commits] == [
        (1, "h1", "fix", utc("2025-03-01T11:00:00")), (2, "h2", "test", utc("2025-03-01T11:05:00"))]
    assert [(n.id, n.message) for n in notes] == ([(1, "halfway")] if has_extras else [])
    assert (stats.total_sessions, stats.active_sessions, stats.total_seconds, stats.ai_cost) == (
        2, 1, 5400 + 10, D("0.3123456791"))


def test_a_failed_import_leaves_the_new_database_without_any_imported_row(old_dir: Path, tmp_path: Path) -> None:
    new_db = tmp_path / "costhq.db"
    with ApswUnitOfWork(str(new_db)) as uow:  # id 3 is taken, so the import conflicts
        for name in ("one", "two", "three"):
            uow.sessions.add(NewSession(name=name, start_time=utc("2025-01-01T00:00:00"), working_directory="/w"))
    with pytest.raises(Conflict):
        migrate_codesession(old_dir, new_db)
    with ApswUnitOfWork(str(new_db)) as uow:
        assert [s.name for s in uow.sessions.recent(10)] == ["three", "two", "one"]
        assert uow.sessions.get(7) is None
        assert uow.usage.for_session(3) == []
