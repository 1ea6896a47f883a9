"""Rendering for the `cs` CLI: the JSON envelope, errors, and human tables (rich, imported lazily)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from costhq.adapters._shared.version import envelope


def emit_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(envelope(payload), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_error(code: str, message: str, *, as_json: bool, details: dict[str, Any] | None = None) -> int:
    """Print an error in the documented shape; always exit code 1."""
    if as_json:
        err: dict[str, Any] = {"code": code, "message": message}
        if details:
            err["details"] = details
        emit_json({"error": err})
    else:
        sys.stderr.write(f"error: {message}\n")
    return 1


def warn(message: str) -> None:
    """Warnings always go to stderr, so `--json` stdout stays one document."""
    sys.stderr.write(f"warning: {message}\n")


def print_kv(title: str | None, rows: Sequence[tuple[str, Any]]) -> None:
    """A two-column Metric/Value table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("Metric")
    table.add_column("Value")
    for k, v in rows:
        table.add_row(k, "" if v is None else str(v))
    Console().print(table)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    """An aligned table; colours only on a TTY (rich decides)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    Console().print(table)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
