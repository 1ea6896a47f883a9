"""Schema step v8 (issue 17) on a real v7 file: old request ids become keys and upstream ids, in place."""

from __future__ import annotations

from pathlib import Path

import apsw

from costhq.adapters.persistence.sqlite import schema
from costhq.adapters.persistence.sqlite.connection import open_connection
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.domain.identity import Ledger, Sighting, Verdict
from costhq.domain.usage import Origin

# (origin, request_id) as CostHQ <= v7 stored them; v7 kept request ids unique.
OLD = [("proxy", "msg_01"), ("proxy", "req_011"), ("proxy", "costhq-4f2a"), ("import", "req_A"),
       ("import", "claude-code:msg_B"), ("import", "codex:rollout-x:100:40:30:10"), ("library", "req_lib"),
       ("cli", None)]


def _v7_file(path: Path) -> None:
    conn = apsw.Connection(str(path))
    conn.pragma("foreign_keys", "ON")
    with conn:
        for step in schema.STEPS[:7]:
            step(conn)
        conn.pragma("user_version", 7)
        conn.pragma("application_id", schema.APPLICATION_ID)
        conn.execute("INSERT INTO sessions (id, name, status, start_time, working_directory)"
                     " VALUES (1, 's', 'active', '2026-11-20T10:00:00.000000Z', '/r')")
        conn.executemany(
            "INSERT INTO ai_usage (session_id, provider, model, input_tokens, total_tokens, cost_units, price_source,"
            " origin, request_id, timestamp) VALUES (1, 'anthropic', 'm', 10, 10, 30000, 'custom', ?, ?,"
            " '2026-11-20T10:00:00.000000Z')", OLD)
    conn.close()


def test_an_old_file_is_keyed_in_place_and_keeps_its_rollups(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    _v7_file(path)
    raw = apsw.Connection(str(path))
    triggers = sorted(r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    rollup = raw.execute("SELECT * FROM usage_hourly").fetchall()
    raw.close()

    conn = open_connection(str(path))
    try:
        assert conn.pragma("user_version") == schema.CURRENT_VERSION >= 8
        rows = conn.execute("SELECT origin, call_key, upstream_request_id, response_id, usage_missing,"
                            " input_estimated FROM ai_usage ORDER BY id").fetchall()
        after = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert set(triggers) <= after  # later steps may add triggers; none of the old ones is lost
        assert conn.execute("SELECT * FROM usage_hourly").fetchall() == rollup
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()
    assert rows == [
        ("proxy", "legacy:msg_01", None, "msg_01", 0, 0),
        ("proxy", "legacy:req_011", "req_011", None, 0, 0),
        ("proxy", "legacy:costhq-4f2a", None, None, 0, 0),
        ("import", "import:claude-code:req_A", "req_A", None, 0, 0),
        ("import", "import:claude-code:msg_B", None, "msg_B", 0, 0),
        ("import", "import:codex:rollout-x:100:40:30:10", None, None, 0, 0),
        ("library", "legacy:req_lib", "req_lib", None, 0, 0),
        ("cli", None, None, None, 0, 0),
    ]
    assert "ai_usage_request_id" not in indexes and "ai_usage_call_key" in indexes


def test_after_the_upgrade_re_imports_replay_and_old_proxy_rows_still_meet_their_transcript(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    _v7_file(path)
    probes = [
        Sighting(origin=Origin.IMPORT, provider="anthropic", call_key="import:claude-code:req_A",
                 upstream_request_id="req_A"),
        Sighting(origin=Origin.IMPORT, provider="anthropic", call_key="import:claude-code:msg_B", response_id="msg_B"),
        Sighting(origin=Origin.IMPORT, provider="anthropic", call_key="import:claude-code:req_new",
                 upstream_request_id="req_new", response_id="msg_01"),  # the old proxy kept the response id
        Sighting(origin=Origin.PROXY, provider="anthropic", call_key="legacy:costhq-4f2a"),  # an old spool line
    ]
    with ApswUnitOfWork(str(path)) as uow:
        ledger = Ledger.of(uow.usage.identities(probes))
    assert [(d.verdict, d.usage_id) for d in map(ledger.decide, probes)] == [
        (Verdict.REPLAY, 4), (Verdict.REPLAY, 5), (Verdict.SEEN, 1), (Verdict.REPLAY, 3)]
