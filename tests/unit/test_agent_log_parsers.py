"""Claude Code and Codex parsers on generated fixture trees: exact totals, dedupe, malformed lines."""

from __future__ import annotations

from pathlib import Path

from costhq.adapters.watchers.claude_code_logs import ClaudeCodeLogs, claude_roots
from costhq.adapters.watchers.codex_logs import CodexLogs
from tests.e2e.helpers_integrations import CLAUDE_TOTALS, CODEX_TOTALS, claude_tree, codex_tree, write_lines


def test_claude_scan_counts_each_response_once_across_both_config_dirs_and_subagents(tmp_path: Path) -> None:
    claude_tree(tmp_path, tmp_path / "a", tmp_path / "b")
    scan = ClaudeCodeLogs({}, str(tmp_path)).scan()
    calls = list(scan)
    assert [c.call_key for c in calls] == [f"import:claude-code:req_{x}" for x in "DABC"]
    assert [(c.upstream_request_id, c.response_id) for c in calls] == [(f"req_{x}", f"msg_{x}") for x in "DABC"]
    assert sum(c.tokens.input for c in calls) == CLAUDE_TOTALS["input"]
    assert sum(c.tokens.cache_read for c in calls) == CLAUDE_TOTALS["cache_read"]
    assert sum(c.tokens.cache_write_5m for c in calls) == 60
    assert sum(c.tokens.cache_write_1h for c in calls) == 40
    assert sum(c.tokens.output for c in calls) == CLAUDE_TOTALS["output"]
    assert [c.agent for c in calls] == ["claude-code", "claude-code", "claude-code", "claude-code/subagent"]
    assert (scan.stats.files, scan.stats.malformed, scan.stats.duplicates) == (3, 1, 2)


def test_claude_config_dir_env_is_comma_separated_and_replaces_the_defaults(tmp_path: Path) -> None:
    for d in ("one", "two", ".claude"):
        (tmp_path / d / "projects").mkdir(parents=True)
    env = {"CLAUDE_CONFIG_DIR": f"{tmp_path / 'one'}, {tmp_path / 'two'}"}
    assert claude_roots(env, str(tmp_path)) == [str(tmp_path / "one/projects"), str(tmp_path / "two/projects")]


def test_claude_incremental_read_stops_before_a_partial_line(tmp_path: Path) -> None:
    files = claude_tree(tmp_path, tmp_path / "a", tmp_path / "b")
    with files[2].open("a") as fh:
        fh.write('{"type":"assistant","message":{"usage"')  # the agent is mid-write
    src = ClaudeCodeLogs({}, str(tmp_path))
    scan = src.scan_file(str(files[2]))
    assert [c.call_key for c in scan] == ["import:claude-code:req_D"]
    assert scan.end_offset == len(files[2].read_bytes().split(b"\n")[0]) + 1
    again = src.scan_file(str(files[2]), offset=scan.end_offset)
    assert list(again) == [] and again.end_offset == scan.end_offset


def test_codex_uses_per_turn_usage_and_drops_re_emitted_totals(tmp_path: Path) -> None:
    codex_tree(tmp_path / "codex", tmp_path / "repo")
    scan = CodexLogs({"CODEX_HOME": str(tmp_path / "codex")}, str(tmp_path)).scan()
    calls = list(scan)
    assert len(calls) == CODEX_TOTALS["calls"]
    assert [(c.tokens.input, c.tokens.cache_read, c.tokens.output, c.tokens.reasoning) for c in calls] == [
        (60, 40, 30, 10), (100, 50, 40, 10), (50, 0, 10, 0)]
    assert {c.model for c in calls} == {"gpt-test"} and {c.cwd for c in calls} == {str(tmp_path / "repo")}
    assert calls[0].call_key == "import:codex:rollout-2026-11-20T09-00-00-abc:100:40:30:10"
    assert (calls[0].upstream_request_id, calls[0].response_id) == (None, None)  # rollouts keep no upstream ids
    assert scan.stats.duplicates == 1


def test_codex_malformed_token_count_is_counted_and_skipped(tmp_path: Path) -> None:
    write_lines(tmp_path / "sessions/r.jsonl", [
        '{"timestamp":"2026-11-20T09:00:00Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":"x"}}}',
        '{"type":"event_msg","payload": nope',
    ])
    scan = CodexLogs({"CODEX_HOME": str(tmp_path)}, str(tmp_path)).scan()
    assert list(scan) == [] and scan.stats.malformed == 2


FIXTURE = Path(__file__).parent.parent / "fixtures" / "claude_code" / "session.jsonl"


def test_each_message_keeps_its_final_usage_not_its_first_snapshot(tmp_path: Path) -> None:
    """The fixture streams msg_01A as 3 snapshots (output 1, 1, 250), replays it in a sidechain under
    another request id, and streams msg_01B as 2 snapshots (1, 250): two calls, 250 output each."""
    scan = ClaudeCodeLogs({}, str(tmp_path)).scan(paths=[str(FIXTURE)])
    calls = list(scan)
    assert [(c.call_key, c.upstream_request_id, c.response_id, c.agent) for c in calls] == [
        ("import:claude-code:req_011CA", "req_011CA", "msg_01A", "claude-code"),
        ("import:claude-code:req_011CB", "req_011CB", "msg_01B", "claude-code")]
    assert {(c.tokens.input, c.tokens.cache_read, c.tokens.cache_write_5m, c.tokens.cache_write_1h, c.tokens.output)
            for c in calls} == {(100, 2000, 1000, 500, 250)}
    assert [c.timestamp.isoformat() for c in calls] == ["2026-11-20T10:00:04+00:00", "2026-11-20T10:00:11+00:00"]
    assert (scan.stats.lines, scan.stats.duplicates, scan.stats.malformed) == (9, 4, 0)


def test_a_sidechain_replay_in_a_later_file_is_the_same_response(tmp_path: Path) -> None:
    lines = FIXTURE.read_text().splitlines()
    write_lines(tmp_path / "p/a.jsonl", lines[:4])  # msg_01A's snapshots
    write_lines(tmp_path / "p/a/subagents/b.jsonl", [lines[5]])  # its sidechain replay, another request id
    calls = list(ClaudeCodeLogs({}, str(tmp_path)).scan(paths=[str(tmp_path / "p")]))
    assert [(c.call_key, c.tokens.output) for c in calls] == [("import:claude-code:req_011CA", 250)]
