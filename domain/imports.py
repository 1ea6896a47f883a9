"""Imported agent usage: calls read from local agent logs (Claude Code, Codex) and import cursors.

Rules: a call's own key is `import:<tool>:<stable transcript key>` (a re-import or a retried hook
is a replay); the upstream ids it carries (Claude Code: `requestId` and `message.id`) match the
same call captured by the proxy or the library (domain/identity.py). Token classes are already
normalised to `TokenCounts` (uncached input only), the final usage of each message, by the
parser that read them.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from costhq.domain.usage import TokenCounts

IMPORTED_SESSION_NAME = "Imported"


@attrs.frozen(kw_only=True)
class ImportedCall:
    """One AI call found in an agent's log.

    Attributes:
        source: `claude-code` or `codex`.
        provider: provider id (`anthropic`, `openai`).
        model: model as logged.
        tokens: disjoint token classes.
        timestamp: aware UTC time of the call.
        call_key: `import:<tool>:<stable transcript key>`, the same on every read of the log.
        upstream_request_id: the upstream's request-id header, when the log keeps it.
        response_id: the response's id, when the log keeps it.
        cwd: working directory the agent ran in (None when the log does not say).
        agent: `claude-code`, `claude-code/subagent`, `codex`.
        path: the log file it came from.
    """

    source: str
    provider: str
    model: str
    tokens: TokenCounts
    timestamp: datetime
    call_key: str
    upstream_request_id: str | None = None
    response_id: str | None = None
    cwd: str | None = None
    agent: str | None = None
    path: str = ""


@attrs.frozen(kw_only=True)
class ScanStats:
    """What a log scan saw besides calls.

    Attributes:
        files: log files read.
        lines: lines read.
        malformed: lines that carried usage but could not be parsed (skipped).
        duplicates: repeated usage lines dropped by the parser (content blocks, streaming snapshots
            superseded by the final usage, replayed messages, re-emitted totals).
        bytes_read: bytes read.
    """

    files: int = 0
    lines: int = 0
    malformed: int = 0
    duplicates: int = 0
    bytes_read: int = 0

    def plus(self, other: ScanStats) -> ScanStats:
        """Sum of two scans."""
        return ScanStats(files=self.files + other.files, lines=self.lines + other.lines,
                         malformed=self.malformed + other.malformed,
                         duplicates=self.duplicates + other.duplicates,
                         bytes_read=self.bytes_read + other.bytes_read)


@attrs.frozen(kw_only=True)
class ImportCursor:
    """How far a transcript has been imported (`cs auto-log`).

    Attributes:
        path: transcript path.
        offset: byte offset just past the last complete line imported.
        size: file size when the cursor was written.
        inode: file identity; a new inode (rotation, rewrite) restarts from 0.
        mtime_ns: modification time when written.
    """

    path: str
    offset: int
    size: int
    inode: int
    mtime_ns: int

    def start_for(self, *, size: int, inode: int) -> int:
        """Where to resume reading a file now `size` bytes long with `inode`: 0 when it was
        replaced or truncated, else the saved offset."""
        if inode != self.inode or size < self.offset:
            return 0
        return self.offset
