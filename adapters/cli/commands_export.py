"""`cs export`: sessions as JSON or CSV, to stdout or a file (written atomically)."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

from cyclopts import App, Parameter

from costhq.adapters._shared import views
from costhq.adapters.cli.output import emit_json, envelope, say
from costhq.adapters.cli.params import Json, whole
from costhq.domain.errors import InvalidArgument

CSV_COLUMNS = ["id", "name", "status", "startTime", "endTime", "duration", "workingDirectory", "gitRoot",
               "branch", "filesChanged", "commits", "aiTokens", "aiCost", "aiCalls", "unpricedCalls", "notes"]


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    """The export document in `fmt` (json|csv)."""
    if fmt == "json":
        return json.dumps(envelope({"sessions": rows}), indent=2, ensure_ascii=False) + "\n"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_atomically(path: Path, text: str) -> None:
    """Never leave a half-written export behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def register(app: App, c: Any) -> None:
    """Add `export`."""

    @app.command
    def export(
        *,
        format: Annotated[str, Parameter(name=["--format", "-f"])] = "json",
        limit: Annotated[int | None, Parameter(name=["--limit", "-l"], converter=whole)] = None,
        output: Annotated[Path | None, Parameter(name=["--output", "-o"])] = None,
        json_: Json = False,
    ) -> int:
        """Export sessions as JSON or CSV.

        Parameters
        ----------
        format
            json or csv.
        limit
            Only the N most recent sessions.
        output
            Write to this file instead of stdout.
        """
        fmt = format.lower()
        if fmt not in ("json", "csv"):
            raise InvalidArgument(f"unknown export format {format!r}: use json or csv")
        if limit is not None and limit < 1:
            raise InvalidArgument("--limit must be a positive integer")
        sessions = c.list_sessions()(limit=limit or 1_000_000_000)
        now = c.clock().now()
        text = render([views.session_json(s, now) for s in sessions], fmt)
        if output is None:
            sys.stdout.write(text)
            return 0
        write_atomically(output, text)
        if json_:
            emit_json({"output": str(output.resolve()), "format": fmt, "sessions": len(sessions)})
        else:
            say(f"Exported {len(sessions)} session(s) to {output}")
        return 0
