"""The audit chain's head file (port: AuditAnchor): the newest `SEQ:HASH`, kept beside the database.

Why a file: an anchor outside `sessions.db` catches a chain whose tail (or every row) was deleted,
without anyone passing `--expect-head`. It is written after each committing unit of work that
appended an entry, as a temp file renamed over the old one: atomic for readers, and **never
fsynced**, so the request path pays no disk flush. Consequences, by design: after a power cut
(not a crash) the file may lag the database; it never leads it, because it is written only
after the commit, and a writer that finds a newer head in the file leaves it (two processes
committing at once can still leave the older of their two heads: the file then lags by one
commit, which weakens the anchor, never raises a false alarm). With an audit key the file also
holds an HMAC tag of the head, so only someone with the key can move it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from costhq.domain.audit import AuditEntry, anchor_tag, parse_head

HEAD_FILE = "audit-head"


def head_path(db_path: str | os.PathLike[str]) -> Path:
    """The head file of a database: `audit-head` in the same directory (the data dir)."""
    return Path(db_path).resolve().parent / HEAD_FILE


class FileAuditAnchor:
    """AuditAnchor on `<data dir>/audit-head` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], key: bytes | None = None) -> None:
        self.path = Path(path)
        self._key = key

    def read(self) -> tuple[str, str | None] | None:
        """(`SEQ:HASH`, tag or None), or None when there is no head file yet."""
        try:
            lines = self.path.read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError):
            return None
        if not lines:
            return None
        tag = next((x.removeprefix("hmac:") for x in lines[1:] if x.startswith("hmac:")), None)
        return lines[0], tag

    def write(self, entry: AuditEntry) -> None:
        """Record `entry` as the head unless the file already names a later seq; no fsync."""
        found = self.read()
        if found is not None and (parse_head(found[0])[0] or 0) >= entry.seq:
            return
        head = f"{entry.seq}:{entry.hash}"
        text = head + "\n" + (f"hmac:{anchor_tag(head, self._key)}\n" if self._key else "")
        tmp = self.path.with_name(f".{HEAD_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        # A failed head write must never fail the committed change it follows.
        with contextlib.suppress(OSError):
            tmp.write_text(text, encoding="ascii")
            os.replace(tmp, self.path)
