"""Codex CLI session logs as a usage source (port: UsageLogSource).

Outside assumptions (Codex rollout files `${CODEX_HOME:-~/.codex}/sessions/**/*.jsonl`):
`event_msg` lines with payload type `token_count` carry `info.total_token_usage` (cumulative)
and `info.last_token_usage` (this turn); `input_tokens` INCLUDES `cached_input_tokens`, and
`reasoning_output_tokens` is inside `output_tokens` (OpenAI convention). The model comes from
the latest `turn_context` payload. Codex re-emits the same token_count; an event whose
cumulative total equals the previous one is a duplicate.
Identity (docs/identity.md): key `import:codex:<file name>:<cumulative total>`, so re-imports
are replays. Rollouts keep no upstream request id or response id (token_count events carry
usage only), so a Codex call the proxy also captured is matched by its token classes within a
few minutes (domain/identity.py, rule 3).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from costhq.adapters.watchers.jsonl_scan import LineScan, jsonl_files, parse_time
from costhq.domain.imports import ImportedCall
from costhq.domain.usage import TokenCounts

SOURCE = "codex"
DEFAULT_MODEL = "gpt-5"  # older rollouts have no turn_context before their first token_count
_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


def _counts(usage: object) -> tuple[int, int, int, int] | None:
    if not isinstance(usage, dict):
        return None
    values = [usage.get(f, 0) for f in _FIELDS]
    if not all(isinstance(v, int) and v >= 0 for v in values):
        return None
    return values[0], values[1], values[2], values[3]


def codex_tokens(inp: int, cached: int, out: int, reasoning: int) -> TokenCounts:
    """OpenAI usage -> disjoint classes: uncached input = input - cached."""
    cached = min(cached, inp)
    return TokenCounts(input=inp - cached, cache_read=cached, output=out, reasoning=min(reasoning, out))


class CodexLineHandler:
    """Parses rollout lines; model, cwd and the last cumulative total are tracked per file."""

    def __init__(self) -> None:
        self.malformed = 0
        self.duplicates = 0
        self._path = self._stem = ""
        self._model = DEFAULT_MODEL
        self._cwd: str | None = None
        self._total: tuple[int, int, int, int] | None = None

    def start_file(self, path: str) -> None:
        self._path, self._stem = path, os.path.splitext(os.path.basename(path))[0]
        self._model, self._cwd, self._total = DEFAULT_MODEL, None, None

    def __call__(self, obj: dict[str, Any]) -> Iterable[ImportedCall]:
        payload = obj.get("payload")
        if not isinstance(payload, dict):
            return ()
        kind = obj.get("type")
        if kind in ("turn_context", "session_meta"):
            if isinstance(payload.get("model"), str):
                self._model = payload["model"]
            if isinstance(payload.get("cwd"), str):
                self._cwd = payload["cwd"]
            return ()
        if kind != "event_msg" or payload.get("type") != "token_count" or payload.get("info") is None:
            return ()
        return self._token_count(obj, payload["info"])

    def _token_count(self, obj: dict[str, Any], info: object) -> Iterable[ImportedCall]:
        ts = parse_time(obj.get("timestamp"))
        total = _counts(info.get("total_token_usage")) if isinstance(info, dict) else None
        if ts is None or total is None or not isinstance(info, dict):
            self.malformed += 1
            return ()
        if total == self._total:
            self.duplicates += 1
            return ()
        last = _counts(info.get("last_token_usage"))
        if last is None:  # no per-turn figure: the growth of the cumulative total is this turn
            prev = self._total or (0, 0, 0, 0)
            last = (total[0] - prev[0], total[1] - prev[1], total[2] - prev[2], total[3] - prev[3])
        self._total = total
        tokens = codex_tokens(*(max(v, 0) for v in last))
        if tokens.is_empty:
            return ()
        return (ImportedCall(source=SOURCE, provider="openai", model=self._model, tokens=tokens, timestamp=ts,
                             call_key=f"import:codex:{self._stem}:{':'.join(map(str, total))}", cwd=self._cwd,
                             agent="codex", path=self._path),)

    def end_file(self) -> Iterable[ImportedCall]:
        return ()  # every call is complete on its own line


def codex_root(env: Mapping[str, str], home: str) -> str:
    """`$CODEX_HOME/sessions`, else `~/.codex/sessions`."""
    base = env.get("CODEX_HOME") or os.path.join(home, ".codex")
    return os.path.join(os.path.expanduser(base), "sessions")


class CodexLogs:
    """UsageLogSource over Codex rollout files."""

    name = SOURCE

    def __init__(self, env: Mapping[str, str], home: str) -> None:
        self._env = env
        self._home = home

    def scan(self, *, paths: list[str] | None = None, since: datetime | None = None) -> LineScan:
        roots = paths or [codex_root(self._env, self._home)]
        files = [f for root in roots if os.path.exists(root) for f in jsonl_files(root)]
        # Lines without "payload" carry nothing we read; model/cwd lines have no "token_count".
        return LineScan(files, b'"payload"', CodexLineHandler(), since=since)

    def scan_file(self, path: str, *, offset: int = 0) -> LineScan:
        return LineScan([path], b'"payload"', CodexLineHandler(), offset=offset)
