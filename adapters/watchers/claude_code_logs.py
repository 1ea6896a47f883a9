"""Claude Code transcripts as a usage source (port: UsageLogSource).

Outside assumptions (Claude Code's JSONL transcripts): files live under
`<config>/projects/<project>/*.jsonl` plus `<session>/subagents/*.jsonl`, where `<config>` is
each entry of `CLAUDE_CONFIG_DIR` (comma separated) or else `~/.config/claude` and
`~/.claude`. Every assistant line has `message.usage` (Anthropic convention: `input_tokens`
excludes cache reads and writes; `cache_creation` splits writes into 5m/1h), `message.model`,
`message.id` (the response id), `requestId` (the upstream `request-id` header), `timestamp` and
`cwd`. One response is written as several lines: one per content block, and while it streams,
snapshots whose output tokens grow. So lines are grouped by message id (else request id) and
the message's *final* usage is kept: the largest total, the later line on a tie (as ccusage
does). A sidechain line replaying a parent's message under a new request id is the same
response: the parent's line wins. Messages are emitted when their file ends; a message id seen
in an earlier file of the scan (a resumed session's copy) is a duplicate.
Identity (docs/identity.md): key `import:claude-code:<requestId>` (else the message id, else
file + line uuid), stable across reads; `requestId` and `message.id` match the proxy's record.
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
    """Parses transcript lines, keeping each message's final usage; de-duplicates across every file of one scan."""

    def __init__(self) -> None:
        self.malformed = 0
        self.duplicates = 0
        self._emitted: set[str] = set()  # message (or request) ids of earlier files
        self._held: dict[str, tuple[bool, ImportedCall]] = {}  # this file's messages: (sidechain, best line)
        self._path = ""
        self._subagent = False

    def start_file(self, path: str) -> None:
        self._path = path
        self._subagent = f"{os.sep}subagents{os.sep}" in path

    def __call__(self, obj: dict[str, Any]) -> Iterable[ImportedCall]:
        parsed = self._parse(obj)
        if parsed is None:
            return ()
        sidechain, call = parsed
        group = call.response_id or call.upstream_request_id
        if not group:
            return () if call.tokens.is_empty else (call,)
        if group in self._emitted:
            self.duplicates += 1
            return ()
        held = self._held.get(group)
        if held is not None:
            self.duplicates += 1
        if held is None or _better(sidechain, call, *held):
            self._held[group] = (sidechain, call)
        return ()

    def _parse(self, obj: dict[str, Any]) -> tuple[bool, ImportedCall] | None:
        """(sidechain, call) of an assistant line; None for any other line."""
        message = obj.get("message")
        if obj.get("type") != "assistant" or not isinstance(message, dict):
            return None
        usage, model = message.get("usage"), message.get("model")
        ts = parse_time(obj.get("timestamp"))
        if not isinstance(usage, dict) or not isinstance(model, str) or ts is None:
            self.malformed += 1
            return None
        if model == "<synthetic>":  # Claude Code's own placeholder replies: no API call behind them
            return None
        msg_id, req_id = str(message.get("id") or ""), str(obj.get("requestId") or "")
        sidechain = self._subagent or obj.get("isSidechain") is True
        cwd, key = obj.get("cwd"), req_id or msg_id or f"{self._path}:{obj.get('uuid')}"
        return sidechain, ImportedCall(
            source=SOURCE, provider="anthropic", model=model, tokens=claude_tokens(usage), timestamp=ts,
            call_key=f"import:{SOURCE}:{key}", upstream_request_id=req_id or None, response_id=msg_id or None,
            cwd=cwd if isinstance(cwd, str) else None, path=self._path,
            agent="claude-code/subagent" if sidechain else "claude-code")

    def end_file(self) -> Iterable[ImportedCall]:
        held, self._held = self._held, {}
        self._emitted.update(held)
        return [call for _side, call in held.values() if not call.tokens.is_empty]


def _better(sidechain: bool, call: ImportedCall, held_sidechain: bool, held: ImportedCall) -> bool:
    """Does a later line of a message replace the one held? The parent's over a sidechain replay's;
    then the larger total (a streaming snapshot grows); a tie goes to the later line."""
    if sidechain != held_sidechain:
        return not sidechain
    return call.tokens.total >= held.tokens.total


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
