"""`cs today [--ai|--share|--json]`, `cs today add PATH`, `cs today rm PATH`."""

from __future__ import annotations

from typing import Any

from cyclopts import App

from costhq.adapters._shared.views_integrations import today_json
from costhq.adapters.cli.output import emit_json, print_table, say
from costhq.adapters.cli.params import Json
from costhq.domain.money import format_usd
from costhq.domain.today import ProjectReport


def _git_text(r: ProjectReport) -> str:
    st = r.state
    if not r.exists:
        return "missing"
    if not st.is_git:
        return "not git"
    sync = f" ↑{st.ahead} ↓{st.behind}" if st.upstream else ""
    return f"{st.branch or '(detached)'}{sync}"


def _last(r: ProjectReport) -> str:
    s = r.last_session
    return "-" if s is None else f"#{s.id} {s.name} ({format_usd(s.ai_cost)})"


def ai_text(reports: list[ProjectReport]) -> str:
    """Markdown context for pasting into an agent: every project, its git state and open work."""
    lines = ["# Today's projects", ""]
    for r in reports:
        st = r.state
        lines.append(f"## {r.project.name} ({r.project.path})")
        lines.append(f"- git: {_git_text(r)}; {len(st.dirty)} changed file(s); {st.todos} TODO/FIXME")
        lines.extend(f"  - {p}" for p in st.dirty[:20])
        lines.append(f"- last session: {_last(r)}")
        lines.append("")
    return "\n".join(lines).rstrip()


def share_text(reports: list[ProjectReport]) -> str:
    """A short summary to share (project names only, no paths)."""
    cost = sum((r.last_session.ai_cost for r in reports if r.last_session), start=0)
    dirty = sum(len(r.state.dirty) for r in reports)
    names = ", ".join(r.project.name for r in reports) or "no projects"
    return f"Today: {len(reports)} project(s) ({names}) • {dirty} files in flight • last sessions {format_usd(cost)}"


def register(app: App, c: Any) -> None:
    """Add `today` (with `add` / `rm`) to `app`."""
    today_app = App(name="today", help="Registered projects: git state, TODOs, last session and cost.")
    app.command(today_app)

    @today_app.default
    def show(*, ai: bool = False, share: bool = False, json_: Json = False) -> int:
        """Show every registered project.

        Parameters
        ----------
        ai
            Markdown context for an AI agent.
        share
            A short, path-free summary to share.
        """
        reports = c.today()()
        if json_:
            emit_json(today_json(reports, c.clock().now()))
        elif ai:
            say(ai_text(reports))
        elif share:
            say(share_text(reports))
        elif not reports:
            say("No projects registered; add one with `cs today add PATH`")
        else:
            print_table(["Project", "Git", "Dirty", "TODOs", "Last session"],
                        [(r.project.name, _git_text(r), len(r.state.dirty), r.state.todos, _last(r))
                         for r in reports], title="Today")
        return 0

    @today_app.command
    def add(path: str, *, json_: Json = False) -> int:
        """Register a project (stored by its git root).

        Parameters
        ----------
        path
            A directory inside the project.
        """
        p = c.today_add()(path=path)
        if json_:
            emit_json({"path": p.path, "name": p.name})
        else:
            say(f"Added {p.name} ({p.path})")
        return 0

    @today_app.command
    def rm(path: str, *, json_: Json = False) -> int:
        """Unregister a project.

        Parameters
        ----------
        path
            The project path.
        """
        removed = c.today_remove()(path=path)
        if json_:
            emit_json({"removed": removed})
        else:
            say(f"Removed {removed}")
        return 0
