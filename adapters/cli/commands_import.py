"""`cs import claude-code|codex` and `cs auto-log` (the Claude Code Stop hook)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Literal

from cyclopts import App

from costhq.adapters._shared.views_integrations import import_json
from costhq.adapters.cli.commands_report import local_zone_name, parse_when
from costhq.adapters.cli.output import emit_json, say, warn
from costhq.adapters.cli.params import Json, SessionOpt, positive_session
from costhq.domain.money import format_usd

Source = Literal["claude-code", "codex"]


def register(app: App, c: Any) -> None:
    """Add `import` and `auto-log` to `app`."""

    @app.command(name="import")
    def import_(
        source: Source,
        *,
        since: str | None = None,
        path: list[str] | None = None,
        session: SessionOpt = None,
        attach: bool = False,
        dry_run: bool = False,
        json_: Json = False,
    ) -> int:
        """Import usage from an agent's local logs (idempotent: re-running adds nothing twice).

        Parameters
        ----------
        source
            claude-code or codex.
        since
            Only calls at or after this date (YYYY-MM-DD, local) or ISO time.
        path
            Read these files/directories instead of the agent's default log dirs (repeatable).
        attach
            Put each call into the session whose project and time window contain it.
        dry_run
            Compute what would be imported without writing.
        """
        rep = c.import_usage()(source=source, paths=path, since=parse_when(since, local_zone_name(), "--since"),
                               session_id=positive_session(session), attach=attach, dry_run=dry_run)
        if rep.stats.malformed:
            warn(f"skipped {rep.stats.malformed} malformed line(s)")
        if json_:
            emit_json(import_json(rep))
            return 0
        verb = "Would import" if dry_run else "Imported"
        say(f"{verb} {rep.imported} call(s) from {source}: {rep.tokens:,} tokens, {format_usd(rep.cost)}"
            f" ({rep.skipped} already recorded, {rep.captured} of them captured by the proxy or library, "
            f"{rep.stats.duplicates} duplicate lines, "
            f"{rep.stats.files} files)")
        return 0

    @app.command(name="auto-log")
    def auto_log(*, json_: Json = False) -> int:
        """Claude Code Stop hook: import the transcript named on stdin into this scope's active session.

        Silent and never blocking: always exits 0; problems go to stderr.
        """
        try:
            hook = json.loads(sys.stdin.read() or "{}")
            transcript, cwd = hook.get("transcript_path"), hook.get("cwd") or os.getcwd()
            if not isinstance(transcript, str) or not transcript:
                raise ValueError("hook input has no transcript_path")
            result = c.auto_log()(transcript=os.path.expanduser(transcript), cwd=cwd)
        except Exception as exc:  # the hook must never fail the agent: report and exit 0
            sys.stderr.write(f"costhq auto-log: {getattr(exc, 'message', None) or exc}\n")
            return 0
        if json_:
            emit_json({"sessionId": result.session_id, "imported": result.imported, "skipped": result.skipped,
                       "alreadyCaptured": result.captured, "offset": result.offset})
        return 0
