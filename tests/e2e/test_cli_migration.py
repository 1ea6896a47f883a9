"""First run with an old `~/.codesession`: the real `cs` brings every row and `pricing.json` across, once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.cli_runner import Cs

OLD_SCHEMA = """
CREATE TABLE sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, start_time TEXT NOT NULL,
  end_time TEXT, duration INTEGER, working_directory TEXT, git_root TEXT, start_git_head TEXT,
  files_changed INTEGER DEFAULT 0, commits INTEGER DEFAULT 0, ai_cost REAL DEFAULT 0, ai_tokens INTEGER DEFAULT 0,
  notes TEXT, status TEXT DEFAULT 'active');
CREATE TABLE ai_usage (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, provider TEXT, model TEXT,
  tokens INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL, timestamp TEXT, agent_name TEXT);
CREATE TABLE file_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, file_path TEXT,
  change_type TEXT, timestamp TEXT);
CREATE TABLE commits (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, hash TEXT, message TEXT,
  timestamp TEXT);
CREATE TABLE session_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, message TEXT, timestamp TEXT);
INSERT INTO sessions VALUES (4, 'Old work', '2025-03-01T10:00:00.000Z', '2025-03-01T11:00:00.000Z', 3600, '/repo',
  '/repo', 'abc', 1, 1, 0.35, 3000, 'shipped', 'completed');
INSERT INTO sessions VALUES (9, 'Left open', '2025-03-02T08:00:00.000Z', NULL, NULL, '/other', NULL, NULL,
  0, 0, 0, 0, NULL, 'active');
INSERT INTO ai_usage VALUES (1, 4, 'anthropic', 'claude-sonnet-4-5', 2000, 1500, 500, 0.25,
  '2025-03-01T10:10:00.000Z', 'coder');
INSERT INTO ai_usage VALUES (2, 4, 'openai', 'gpt-4o', 1000, 800, 200, 0.1, '2025-03-01T10:20:00.000Z', NULL);
INSERT INTO ai_usage VALUES (3, 9, 'openai', 'gpt-4o', 10, 6, 4, 0.0000123, '2025-03-02T08:10:00.000Z', NULL);
INSERT INTO file_changes VALUES (1, 4, 'src/a.py', 'modified', '2025-03-01T10:30:00.000Z');
INSERT INTO file_changes VALUES (2, 4, 'src/b.py', 'created', '2025-03-01T10:31:00.000Z');
INSERT INTO commits VALUES (1, 4, 'deadbeef', 'fix', '2025-03-01T10:50:00.000Z');
INSERT INTO session_notes VALUES (1, 4, 'halfway', '2025-03-01T10:40:00.000Z');
"""


@pytest.fixture
def cs_with_old_data(tmp_path: Path) -> Cs:
    old = tmp_path / "home" / ".codesession"
    old.mkdir(parents=True)
    db = sqlite3.connect(old / "sessions.db")
    db.executescript(OLD_SCHEMA)
    db.commit()
    db.close()
    (old / "pricing.json").write_text(json.dumps({"my-model": {"input": 2, "output": 8}}))
    work = tmp_path / "work"
    work.mkdir()
    return Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=work)


def test_first_run_migrates_every_row_and_the_pricing_file_exactly_once(cs_with_old_data: Cs) -> None:
    cs = cs_with_old_data
    old_bytes = (cs.home / ".codesession" / "sessions.db").read_bytes()

    first = cs("list", "--json")
    assert first.code == 0, first.stderr
    assert "migrated data from" in first.stderr
    assert "(2 sessions, 3 AI calls, 2 file changes, 1 commits, 1 notes, 0 projects)" in first.stderr
    listed = {s["id"]: s for s in first.json["sessions"]}
    assert sorted(listed) == [4, 9]
    assert listed[4]["aiCost"] == 0.35 and listed[4]["aiTokens"] == 3000 and listed[4]["aiCalls"] == 2
    assert listed[4]["filesChanged"] == 2 and listed[4]["commits"] == 1 and listed[4]["status"] == "completed"
    assert listed[9]["status"] == "active" and listed[9]["aiCost"] == 0.0000123

    shown = cs.ok("show", "4", "--files", "--commits")
    assert [u["cost"] for u in shown["aiUsage"]] == [0.25, 0.1]
    assert [u["agentName"] for u in shown["aiUsage"]] == ["coder", None]
    assert [f["filePath"] for f in shown["files"]] == ["src/a.py", "src/b.py"]
    assert [c["hash"] for c in shown["commits"]] == ["deadbeef"]
    assert [a["message"] for a in shown["annotations"]] == ["halfway"]

    custom = cs.ok("pricing", "list")["custom"]
    assert custom == [{"model": "my-model", "source": "custom", "inputPer1M": 2, "outputPer1M": 8}]
    # Issue 14: the migrated calls and the copied override are in the audit chain.
    verified = cs.ok("audit", "verify")
    assert (verified["ok"], verified["entries"]) == (True, 4)  # 2 migrations, the usage digests, the price

    # A second run finds ~/.costhq and never migrates again; the old dir is left exactly as it was.
    again = cs("list", "--json")
    assert again.code == 0 and "migrated" not in again.stderr
    assert len(again.json["sessions"]) == 2
    assert (cs.home / ".codesession" / "sessions.db").read_bytes() == old_bytes
