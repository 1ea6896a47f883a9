"""Generated agent-log fixture trees (Claude Code, Codex) with known exact totals (issue 7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CLAUDE_MODEL = "claude-test"
CODEX_MODEL = "gpt-test"
# Prices set with `cs pricing set` so expected costs are exact and catalogue-independent.
CLAUDE_PRICE = ["--provider", "anthropic", CLAUDE_MODEL, "3", "15", "--cache-read", "0.3", "--cache-write", "3.75"]
CODEX_PRICE = ["--provider", "openai", CODEX_MODEL, "1", "10", "--cache-read", "0.1"]

# 4 distinct calls: input 42, cache read 3500, cache write 60 (5m) + 40 (1h), output 161.
CLAUDE_TOTALS = {"calls": 4, "input": 42, "cache_read": 3500, "cache_write": 100, "output": 161, "tokens": 3803}
CLAUDE_COST = 0.003966  # (42*3 + 161*15 + 3500*0.3 + 100*3.75) / 1e6
# 3 distinct turns: uncached input 210, cached 90, output 80 (reasoning 20 inside).
CODEX_TOTALS = {"calls": 3, "input": 210, "cache_read": 90, "output": 80, "reasoning": 20, "tokens": 380}
CODEX_COST = 0.001019  # (210*1 + 80*10 + 90*0.1) / 1e6


def _assistant(msg: str, req: str, ts: str, cwd: str, usage: dict[str, Any], *, text: str = "x",
               sidechain: bool = False, model: str = CLAUDE_MODEL) -> str:
    return json.dumps({
        "parentUuid": None, "isSidechain": sidechain, "userType": "external", "cwd": cwd, "sessionId": "s1",
        "version": "2.0.0", "type": "assistant", "uuid": f"u-{msg}-{text}", "timestamp": ts, "requestId": req,
        "message": {"id": msg, "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": text}], "usage": usage}})


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def claude_tree(home: Path, repo_a: Path, repo_b: Path, *, day: str = "2026-11-20") -> list[Path]:
    """`~/.claude/projects` (with a subagent file) and `~/.config/claude/projects` transcripts."""
    a, b = str(repo_a), str(repo_b)
    usage_a = {"input_tokens": 10, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000,
               "cache_creation": {"ephemeral_5m_input_tokens": 60, "ephemeral_1h_input_tokens": 40},
               "output_tokens": 50, "service_tier": "standard"}
    main = write_lines(home / ".claude/projects/-repo-a/sess1.jsonl", [
        json.dumps({"type": "user", "cwd": a, "timestamp": f"{day}T10:00:00.000Z",
                    "message": {"role": "user", "content": "hello"}}),
        # One API response written as three content-block lines that repeat the same usage.
        *(_assistant("msg_A", "req_A", f"{day}T10:00:05.000Z", a, usage_a, text=t) for t in ("t1", "t2", "t3")),
        _assistant("msg_B", "req_B", f"{day}T10:30:00.000Z", a,
                   {"input_tokens": 20, "cache_read_input_tokens": 2000, "output_tokens": 70}),
        '{"type":"assistant","message":{"usage":{"input_tokens": 5',  # truncated: malformed
        _assistant("msg_S", "", f"{day}T10:31:00.000Z", a, {"input_tokens": 0, "output_tokens": 0},
                   model="<synthetic>"),
    ])
    sub = write_lines(home / ".claude/projects/-repo-a/sess1/subagents/agent-1.jsonl", [
        _assistant("msg_C", "req_C", f"{day}T10:40:00.000Z", a,
                   {"input_tokens": 5, "cache_read_input_tokens": 500, "output_tokens": 30}, sidechain=True),
    ])
    other = write_lines(home / ".config/claude/projects/-repo-b/sess2.jsonl", [
        _assistant("msg_D", "req_D", f"{day}T12:00:00.000Z", b, {"input_tokens": 7, "output_tokens": 11}),
    ])
    return [main, sub, other]


def _tc(ts: str, total: tuple[int, int, int, int], last: tuple[int, int, int, int] | None) -> str:
    def u(v: tuple[int, int, int, int]) -> dict[str, int]:
        return {"input_tokens": v[0], "cached_input_tokens": v[1], "output_tokens": v[2],
                "reasoning_output_tokens": v[3], "total_tokens": v[0] + v[2]}
    info: dict[str, Any] = {"total_token_usage": u(total), "model_context_window": 272000}
    if last is not None:
        info["last_token_usage"] = u(last)
    return json.dumps({"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": info}})


def codex_tree(codex_home: Path, repo: Path, *, day: str = "2026-11-20") -> Path:
    """One rollout with a re-emitted cumulative total and a turn without `last_token_usage`."""
    y, m, d = day.split("-")
    return write_lines(codex_home / f"sessions/{y}/{m}/{d}/rollout-{day}T09-00-00-abc.jsonl", [
        json.dumps({"timestamp": f"{day}T09:00:00Z", "type": "session_meta",
                    "payload": {"id": "abc", "cwd": str(repo)}}),
        json.dumps({"timestamp": f"{day}T09:00:01Z", "type": "turn_context",
                    "payload": {"cwd": str(repo), "model": CODEX_MODEL}}),
        json.dumps({"timestamp": f"{day}T09:00:02Z", "type": "event_msg",
                    "payload": {"type": "token_count", "info": None}}),
        _tc(f"{day}T09:01:00Z", (100, 40, 30, 10), (100, 40, 30, 10)),
        _tc(f"{day}T09:01:01Z", (100, 40, 30, 10), (100, 40, 30, 10)),  # re-emitted: duplicate
        _tc(f"{day}T09:05:00Z", (250, 90, 70, 20), (150, 50, 40, 10)),
        _tc(f"{day}T09:09:00Z", (300, 90, 80, 20), None),  # growth of the total is this turn
    ])
