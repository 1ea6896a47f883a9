"""`cs stats [--user U] [--machine M] [--project P] [--by user|machine|project]`: totals across sessions."""

from __future__ import annotations

import os
from typing import Any, Literal

from cyclopts import App

from costhq.adapters._shared import views
from costhq.adapters.cli.output import emit_json, print_kv, print_table
from costhq.adapters.cli.params import Json
from costhq.domain.money import format_usd
from costhq.domain.reports import ReportFilter
from costhq.domain.sessions import Stats, format_duration

By = Literal["user", "machine", "project"]


def _kv(st: Stats) -> list[tuple[str, Any]]:
    return [("Total Sessions", st.total_sessions), ("Total Time", format_duration(st.total_seconds)),
            ("Files Changed", st.files_changed), ("Commits", st.commits), ("AI Calls", st.ai_calls),
            ("AI Tokens", f"{st.ai_tokens:,}"), ("Total AI Cost", format_usd(st.ai_cost)),
            ("Unpriced calls", st.unpriced_calls)]


def register(app: App, c: Any) -> None:
    """Add `stats` to `app`."""

    @app.command
    def stats(*, user: str | None = None, machine: str | None = None, project: str | None = None,
              by: By | None = None, json_: Json = False) -> int:
        """Overall statistics across all sessions (or those of a user, machine or project).

        Parameters
        ----------
        user
            Only sessions of this user (config `[user] name`, default the OS user).
        machine
            Only sessions recorded on this machine (`[user] machine`, default the host name).
        project
            Only sessions of this project (its scope path: git root).
        by
            Also list the figures per user, machine or project (most expensive first).
        """
        from costhq.adapters.cli.commands_local import compute_json, print_compute  # issue 8

        scope = os.path.realpath(project) if project else None
        if user is None and machine is None and scope is None and by is None:
            st, spend = c.get_stats()(), None
        else:  # issue 16: team figures come from the dashboard's aggregates
            from costhq.domain.sessions import Dimension
            from costhq.domain.team import TeamFilter

            spend = c.get_team_spend()(where=TeamFilter(user=user, machine=machine, project=scope),
                                       by=Dimension(by) if by else None)
            st = spend.total
        local = c.local_compute_report()(where=ReportFilter(project=scope, user=user, machine=machine))
        if json_:
            out: dict[str, Any] = {**views.stats_json(st), "localCompute": compute_json(local)}
            if spend is not None:
                out["filters"] = {"user": user, "machine": machine, "project": scope}
                if by:
                    out["by"] = by
                    out["groups"] = [{"key": g.key, **views.stats_json(g.stats)} for g in spend.groups]
            emit_json(out)
            return 0
        print_kv(None, _kv(st))
        if spend is not None and by:
            print_table([by.capitalize(), "Sessions", "Time", "AI Calls", "AI Tokens", "AI Cost", "Unpriced"],
                        [(g.key, g.stats.total_sessions, format_duration(g.stats.total_seconds), g.stats.ai_calls,
                          f"{g.stats.ai_tokens:,}", format_usd(g.stats.ai_cost), g.stats.unpriced_calls)
                         for g in spend.groups], title=f"by {by}")
        print_compute(local)
        return 0
