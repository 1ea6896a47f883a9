"""Claude Code transcripts as a usage source (port: UsageLogSource).

Outside assumptions (Claude Code's JSONL transcripts): files live under
`<config>/projects/<project>/*.jsonl` plus `<session>/subagents/*.jsonl`, where `<config>` is
each entry of `CLAUDE_CONFIG_DIR` (comma separated) or else `~/.config/claude` and
`~/.claude`. Every assistant line has `message.usage` (Anthropic convention: `input_tokens`
excludes cache reads and writes; `cache_creation` splits writes into 5m/1h), `message.model`,
`message.id`, `requestId`, `timestamp` and `cwd`. Claude Code writes one line per content
block and repeats the same usage on each, so lines are de-duplicated on message id +
request id (counting them all overcounts 2-6x).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from costhq.adapters.watchers.jsonl_scan import LineScan, jsonl_files, parse_time
from costhq.domain.imports import ImportedCall
from costhq.domain.usage import TokenCounts

SOURCE = "claude-code"


def _int(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def claude_tokens(usage: Mapping[str, Any]) -> TokenCounts:
    """Anthropic usage -> disjoint classes; an unsplit cache write counts as 5-minute."""
    written = _int(usage.get("cache_creation_input_tokens"))
    split = usage.get("cache_creation")
    one_hour = _int(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
    one_hour = min(one_hour, written) if written else one_hour
    return TokenCounts(input=_int(usage.get("input_tokens")), cache_read=_int(usage.get("cache_read_input_tokens")),
                       cache_write_5m=max(written - one_hour, 0), cache_write_1h=one_hour,
                       output=_int(usage.get("output_tokens")))


class ClaudeLineHandler:
    """Parses transcript lines; de-duplicates across every file of one scan."""

    def __init__(self) -> None:
        self.malformed = 0
        self.duplicates = 0
        self._seen: set[tuple[str, str]] = set()
        self._path = ""
        self._subagent = False

    def start_file(self, path: str) -> None:
        self._path = path
        self._subagent = f"{os.sep}subagents{os.sep}" in path

    def __call__(self, obj: dict[str, Any]) -> Iterable[ImportedCall]:
        message = obj.get("message")
        if obj.get("type") != "assistant" or not isinstance(message, dict):
            return ()
        usage, model = message.get("usage"), message.get("model")
        ts = parse_time(obj.get("timestamp"))
        if not isinstance(usage, dict) or not isinstance(model, str) or ts is None:
            self.malformed += 1
            return ()
        if model == "<synthetic>":  # Claude Code's own placeholder replies: no API call behind them
            return ()
        msg_id, req_id = str(message.get("id") or ""), str(obj.get("requestId") or "")
        if msg_id or req_id:
            if (msg_id, req_id) in self._seen:
                self.duplicates += 1
                return ()
            self._seen.add((msg_id, req_id))
        tokens = claude_tokens(usage)
        if tokens.is_empty:
            return ()
        # The provider's request id matches what the proxy stores, so proxy-captured calls dedupe.
        request_id = req_id or (f"claude-code:{msg_id}" if msg_id else f"claude-code:{self._path}:{obj.get('uuid')}")
        cwd = obj.get("cwd")
        sidechain = self._subagent or obj.get("isSidechain") is True
        return (ImportedCall(source=SOURCE, provider="anthropic", model=model, tokens=tokens, timestamp=ts,
                             request_id=request_id, cwd=cwd if isinstance(cwd, str) else None,
                             agent="claude-code/subagent" if sidechain else "claude-code", path=self._path),)


def claude_roots(env: Mapping[str, str], home: str) -> list[str]:
    """Project dirs to scan: `CLAUDE_CONFIG_DIR` entries, else the two default config dirs."""
    configured = [p.strip() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    bases = configured or [os.path.join(home, ".config", "claude"), os.path.join(home, ".claude")]
    roots = [os.path.join(os.path.expanduser(b), "projects") for b in bases]
    return [r for r in dict.fromkeys(roots) if os.path.isdir(r)]


class ClaudeCodeLogs:
    """UsageLogSource over Claude Code transcripts."""

    name = SOURCE

    def __init__(self, env: Mapping[str, str], home: str) -> None:
        self._env = env
        self._home = home

    def scan(self, *, paths: list[str] | None = None, since: datetime | None = None) -> LineScan:
        roots = paths or claude_roots(self._env, self._home)
        files = [f for root in roots for f in jsonl_files(root)]
        return LineScan(files, b'"usage"', ClaudeLineHandler(), since=since)

    def scan_file(self, path: str, *, offset: int = 0) -> LineScan:
        return LineScan([path], b'"usage"', ClaudeLineHandler(), offset=offset)
