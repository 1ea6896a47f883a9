"""Session commands: start, end, status, show, list, note, recover (`stats` is in commands_stats.py)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from cyclopts import App, Parameter

from costhq.adapters._shared import views
from costhq.adapters.cli.firewall_status import firewall_extra
from costhq.adapters.cli.output import emit_json, print_kv, print_table, say
from costhq.adapters.cli.params import Json, SessionArg, SessionOpt, hours, positive_session, usd, whole
from costhq.domain.money import format_usd
from costhq.domain.sessions import Session, format_duration


def _summary_line(s: Session, now: Any) -> str:
    return (f"Session: {format_duration(s.duration(now))} • {s.files_changed} files • "
            f"{s.commits} commits • {format_usd(s.ai_cost)} AI cost")


def register(app: App, c: Any) -> None:
    """Add the session commands to `app`, pulling use cases from the container `c`."""

    @app.command
    def start(
        name: str,
        *,
        resume: bool = False,
        close_stale: bool = False,
        keep_open: bool = False,
        budget: str | None = None,
        json_: Json = False,
    ) -> int:
        """Start tracking a session in this directory's scope (its git root).

        Without --json, stays in the foreground watching files and commits with a live
        status line; Ctrl-C ends the session and prints its summary.

        Parameters
        ----------
        name
            Session name.
        resume
            Resume the active session of this scope instead of failing.
        close_stale
            End this scope's active sessions first, then start.
        keep_open
            On Ctrl-C, stop watching but leave the session active.
        budget
            Hard USD cap for this session (a blocking session budget rule).
        """
        limit = usd("--budget", budget)  # issue 4: validated before anything is written
        result = c.start_session()(name=name, cwd=os.getcwd(), resume=resume, close_stale=close_stale)
        if limit is not None:
            c.set_budget()(scope="session", limit=limit, session_id=result.session.id)
        now = c.clock().now()
        if json_:
            emit_json({**views.session_json(result.session, now), "resumed": result.resumed,
                       "closedStale": list(result.closed_stale)})
            return 0
        verb = "resumed" if result.resumed else "started"
        say(f"Session {verb}: #{result.session.id} {result.session.name} ({result.session.working_directory})")
        live = getattr(c, "live_tracking", None)  # provided by bootstrap (issue 5): foreground watchers
        return int(live()(result.session.id, keep_open=keep_open)) if live is not None else 0

    @app.command
    def end(
        *,
        notes: Annotated[str | None, Parameter(name=["--notes", "-n"])] = None,
        session: SessionOpt = None,
        json_: Json = False,
    ) -> int:
        """End the active session (or one by id) and print its summary.

        Parameters
        ----------
        notes
            Closing notes.
        """
        s = c.end_session()(cwd=os.getcwd(), session_id=positive_session(session), notes=notes)
        now = c.clock().now()
        if json_:
            emit_json(views.session_json(s, now))
        else:
            say("Session ended")
            say(_summary_line(s, now))
        return 0

    @app.command
    def status(*, session: SessionOpt = None, json_: Json = False) -> int:
        """Show the active session of this scope (or one by id) with live totals."""
        detail = c.get_session()(cwd=os.getcwd(), session_id=positive_session(session))
        s, now = detail.session, c.clock().now()
        extra: dict[str, Any] = firewall_extra(c, s, human=not json_)  # issue 4: `budget` and `runaway` objects
        if json_:
            emit_json({**views.status_json(s, now), **extra})
            return 0
        rows = [("Session", f"#{s.id} {s.name}"), ("Status", s.status.value), ("Scope", s.working_directory),
                ("Duration", format_duration(s.duration(now))), ("Files Changed", s.files_changed),
                ("Commits", s.commits), ("AI Calls", s.ai_calls), ("AI Tokens", f"{s.ai_tokens:,}"),
                ("AI Cost", format_usd(s.ai_cost))]
        if s.unpriced_calls:
            rows.append(("Unpriced calls", s.unpriced_calls))
        rows += [(k, v) for k, v in extra.get("humanRows", [])]
        print_kv(None, rows)
        return 0

    @app.command
    def show(
        session_id: SessionArg = None,
        *,
        files: bool = False,
        commits: bool = False,
        json_: Json = False,
    ) -> int:
        """Show session details (the active or latest session when no id is given).

        Parameters
        ----------
        session_id
            Session id.
        files
            List the changed files.
        commits
            List the commits.
        """
        sid = positive_session(session_id) or c.latest_session()(cwd=os.getcwd())
        d = c.get_session()(cwd=os.getcwd(), session_id=sid, detail=True)
        now = c.clock().now()
        if json_:
            out = views.session_json(d.session, now)
            out.update(commitCount=d.session.commits, files=[views.file_json(f) for f in d.files],
                       commits=[views.commit_json(x) for x in d.commits],
                       aiUsage=[views.usage_json(u) for u in d.usage],
                       annotations=[views.annotation_json(a) for a in d.annotations])
            emit_json(out)
            return 0
        s = d.session
        print_kv(f"Session: {s.name}", [
            ("Status", s.status.value.capitalize()), ("Started", _local(s.start_time)),
            ("Ended", _local(s.end_time)), ("Duration", format_duration(s.duration(now))),
            ("Files Changed", s.files_changed), ("Commits", s.commits), ("AI Tokens", f"{s.ai_tokens:,}"),
            ("AI Cost", format_usd(s.ai_cost)), ("Directory", s.working_directory),
            ("Git HEAD", (s.start_git_head or "")[:12] + (f" ({s.branch})" if s.branch else "")),
            ("Notes", s.notes)])
        if files:
            print_table(["Change", "File", "Time"],
                        [(f.change_type.value, f.file_path, _local(f.timestamp)) for f in d.files], title="Files")
        if commits:
            print_table(["Hash", "Message", "Time"],
                        [(x.hash[:7], x.message, _local(x.timestamp)) for x in d.commits], title="Commits")
        return 0

    @app.command(name="list")
    def list_(*, limit: Annotated[int, Parameter(name=["--limit", "-l"], converter=whole)] = 10,
              json_: Json = False) -> int:
        """List recent sessions.

        Parameters
        ----------
        limit
            How many sessions to show.
        """
        sessions = c.list_sessions()(limit=limit)
        now = c.clock().now()
        if json_:
            emit_json({"sessions": [views.session_json(s, now) for s in sessions]})
            return 0
        print_table(["ID", "Name", "Status", "Started", "Duration", "Files", "Commits", "AI Cost"],
                    [(s.id, s.name, s.status.value, _local(s.start_time), format_duration(s.duration(now)),
                      s.files_changed, s.commits, format_usd(s.ai_cost)) for s in sessions])
        return 0

    @app.command
    def note(message: str, *, session: SessionOpt = None, json_: Json = False) -> int:
        """Add a timestamped annotation to the session.

        Parameters
        ----------
        message
            The note.
        """
        a = c.add_note()(message=message, cwd=os.getcwd(), session_id=positive_session(session))
        if json_:
            emit_json(views.annotation_json(a))
        else:
            say(f"Note added to session #{a.session_id}")
        return 0

    @app.command
    def recover(*, max_age: str = "24", json_: Json = False) -> int:
        """End every active session older than --max-age hours.

        Parameters
        ----------
        max_age
            Age in hours (0 to 1,000,000) past which an active session counts as stale; 0 ends every
            active session.
        """
        ended = c.recover_stale()(max_age_hours=hours("--max-age", max_age))
        now = c.clock().now()
        if json_:
            emit_json({"recovered": len(ended), "sessions": [views.session_json(s, now) for s in ended]})
        else:
            say(f"Recovered {len(ended)} stale session(s)" + "".join(f"\n  #{s.id} {s.name}" for s in ended))
        return 0


def _local(ts: Any) -> str:
    return "" if ts is None else ts.astimezone().strftime("%b %d, %Y %H:%M")
