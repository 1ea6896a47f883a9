"""The proxy's spool files: append-only JSON-lines segments of usage waiting to be recorded.

Segments are `proxy-spool-<pid>-<n>.jsonl` in the data dir, rotated past 1 MB and deleted (or
truncated) once every record in them is committed; a start claims (renames) only the segments
of processes that are no longer running, for replay. An entry that can never be recorded is
moved once to `spool/quarantine/` in the data dir (with one line on stderr), never retried.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

_ROTATE_BYTES = 1024 * 1024
_NAME = re.compile(r"^proxy-spool-(\d+)-(\d+|replay-\d+)\.jsonl$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # type: ignore[attr-defined]
        if handle:
            ctypes.windll.kernel32.CloseHandle(handle)  # type: ignore[attr-defined]
        return bool(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """Append-only segments with per-segment pending counts (thread-safe)."""

    def __init__(self, directory: Path) -> None:
        self._dir, self._pid = directory, os.getpid()
        self._lock = threading.Lock()
        self._segments: dict[int, list[Any]] = {}  # n -> [path, file, pending, size]
        self._current = -1
        directory.mkdir(parents=True, exist_ok=True)
        self._rotate()

    def _rotate(self) -> None:
        self._current += 1
        path = self._dir / f"proxy-spool-{self._pid}-{self._current}.jsonl"
        self._segments[self._current] = [path, open(path, "ab"), 0, 0]  # noqa: SIM115 - closed in done/close

    def append(self, line: bytes) -> int:
        with self._lock:
            n = self._current
            seg = self._segments[n]
            seg[1].write(line)
            seg[1].flush()
            seg[2] += 1
            seg[3] += len(line)
            if seg[3] > _ROTATE_BYTES:
                self._rotate()
            return n

    def done(self, n: int) -> None:
        with self._lock:
            seg = self._segments.get(n)
            if seg is None:
                return
            seg[2] -= 1
            if seg[2] > 0:
                return
            if n == self._current:
                seg[1].truncate(0)
                seg[1].seek(0)
                seg[3] = 0
            else:
                seg[1].close()
                seg[0].unlink(missing_ok=True)
                del self._segments[n]

    def close(self) -> None:
        with self._lock:
            for path, fh, pending, _size in self._segments.values():
                fh.close()
                if pending == 0:
                    path.unlink(missing_ok=True)
            self._segments.clear()

    def claim_leftovers(self) -> list[Path]:
        """Rename the segments of dead processes to ours, for replay."""
        claimed = []
        for i, path in enumerate(sorted(self._dir.glob("proxy-spool-*.jsonl"))):
            m = _NAME.match(path.name)
            if not m or int(m.group(1)) == self._pid or _alive(int(m.group(1))):
                continue
            target = self._dir / f"proxy-spool-{self._pid}-replay-{i}.jsonl"
            try:
                path.replace(target)
            except OSError:
                continue  # another proxy claimed it first
            claimed.append(target)
        return claimed


class Quarantine:
    """Spool entries that cannot be recorded, set aside once in `<data dir>/spool/quarantine/`.

    Each line is the spool entry as it was plus `"quarantine": {"code": ...}` (the error code);
    copied back into the data dir as `proxy-spool-<dead pid>-0.jsonl`, it is replayed at the next start.
    """

    def __init__(self, data_dir: Path) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.path = data_dir / "spool" / "quarantine" / f"proxy-{os.getpid()}-{stamp}.jsonl"
        self._lock = threading.Lock()

    def put(self, entries: list[tuple[dict[str, Any], str]]) -> None:
        """Append `(entry, code)` pairs and say so in one stderr line."""
        if not entries:
            return
        lines = b"".join(json.dumps({**entry, "quarantine": {"code": code}}, separators=(",", ":")).encode() + b"\n"
                         for entry, code in entries)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
        codes = ", ".join(sorted({code for _entry, code in entries}))
        n = len(entries)
        sys.stderr.write(f"costhq proxy: {n} usage record{'s' if n > 1 else ''} could not be recorded ({codes}); "
                         f"moved to {self.path}, not retried\n")
        sys.stderr.flush()
