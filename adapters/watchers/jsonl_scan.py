"""Streaming JSONL reading shared by the agent-log parsers (adapter: observed local files).

Files are read in binary, one line at a time, never whole; only complete lines (ending in a
newline) count, so a line the agent is still writing is left for the next incremental read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, Protocol

from costhq.domain.imports import ImportedCall, ScanStats


class Handler(Protocol):
    """Turns parsed lines into calls; one instance per scan, so de-duplication spans files.

    `end_file` gives the calls it held back until the file's end (a message's final usage is
    only known once every line of it has been read)."""

    malformed: int
    duplicates: int

    def start_file(self, path: str) -> None: ...
    def __call__(self, obj: dict[str, Any]) -> Iterable[ImportedCall]: ...
    def end_file(self) -> Iterable[ImportedCall]: ...


def parse_time(text: object) -> datetime | None:
    """ISO-8601 (with `Z`) -> aware UTC; None when missing or unreadable."""
    if not isinstance(text, str):
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def jsonl_files(root: str) -> list[str]:
    """Every `*.jsonl` under `root` (or `root` itself when it is a file), sorted for stable order."""
    if os.path.isfile(root):
        return [root]
    found: list[str] = []
    for dirpath, _dirs, files in os.walk(root):
        found.extend(os.path.join(dirpath, f) for f in files if f.endswith(".jsonl"))
    return sorted(found)


class LineScan:
    """A `UsageLogScan`: streams calls out of files; `stats` and `end_offset` fill in as it goes.

    `needle` is a byte string every interesting line contains: other lines are counted but
    never JSON-decoded, which is what keeps a 200 MB import fast. A line holding the needle
    that does not decode to a JSON object is counted as malformed and skipped.
    """

    def __init__(self, files: list[str], needle: bytes, handler: Handler,
                 *, offset: int = 0, since: datetime | None = None) -> None:
        self._files = files
        self._needle = needle
        self._handler = handler
        self._offset = offset
        self._since_time = since
        self._counts = [0, 0, 0, 0]  # files, lines, malformed, bytes
        self.end_offset = offset

    @property
    def stats(self) -> ScanStats:
        files, lines, malformed, size = self._counts
        return ScanStats(files=files, lines=lines, malformed=malformed + self._handler.malformed,
                         duplicates=self._handler.duplicates, bytes_read=size)

    def __iter__(self) -> Iterator[ImportedCall]:
        for path in self._files:
            try:
                fh = open(path, "rb")  # noqa: SIM115 - closed below; the generator may stop early
            except OSError:
                continue
            with fh:
                self._handler.start_file(path)
                self._counts[0] += 1
                yield from self._lines(fh)
            yield from self._since(self._handler.end_file())

    def _since(self, calls: Iterable[ImportedCall]) -> Iterator[ImportedCall]:
        since = self._since_time
        return (c for c in calls if since is None or c.timestamp >= since)

    def _lines(self, fh: BinaryIO) -> Iterator[ImportedCall]:
        counts, needle, since, handler = self._counts, self._needle, self._since_time, self._handler
        fh.seek(self._offset)
        pos = self._offset
        for line in fh:
            if not line.endswith(b"\n"):
                break  # still being written: leave it for the next read
            pos += len(line)
            counts[1] += 1
            counts[3] += len(line)
            if needle not in line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                counts[2] += 1
                continue
            if not isinstance(obj, dict):
                counts[2] += 1
                continue
            for call in handler(obj):
                if since is None or call.timestamp >= since:
                    yield call
            self.end_offset = pos
        self.end_offset = pos
