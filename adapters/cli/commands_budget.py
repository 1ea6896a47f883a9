"""`cs budget set|list|rm|status`: the spend firewall's rules."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from cyclopts import App, Parameter

from costhq.adapters._shared import firewall_views as fv
from costhq.adapters.cli.output import emit_json, print_table, say
from costhq.adapters.cli.params import Json, positive_session, usd
from costhq.domain.errors import InvalidArgument
from costhq.domain.money import format_usd

Scope = Literal["total", "daily", "weekly", "monthly", "session", "project"]


def register(app: App, c: Any) -> None:
    """Add the `budget` command group to `app`."""
    budget = App(name="budget", help="Budget rules of the spend firewall (block or warn).")
    app.command(budget)

    @budget.command
    def set(
        scope: Scope,
        usd_limit: str,
        *,
        project: str | None = None,
        session: Annotated[int | None, Parameter(name=["--session", "-s"])] = None,
        model: Annotated[str | None, Parameter(name=["--model", "-m"])] = None,
        action: Literal["block", "warn"] = "block",
        json_: Json = False,
    ) -> int:
        """Add a budget rule, e.g. `cs budget set daily 20` or `cs budget set project 50 --project .`.

        Parameters
        ----------
        scope
            total, daily, weekly, monthly (calendar windows in your timezone), session or project.
        usd_limit
            Limit in USD.
        project
            Project path for a project rule (resolved to its git root).
        session
            Session id for a session rule (default: this scope's active session).
        model
            Count only calls of this model.
        action
            block (refuse / exit 1) or warn (report only).
        """
        limit = usd("USD", usd_limit)
        assert limit is not None
        sid, proj = positive_session(session), None
        if scope == "session" and sid is None:
            sid = c.get_session()(cwd=os.getcwd()).session.id
        if scope == "project":
            proj = c.git().scope(os.path.abspath(project or ".")).path
        elif project is not None:
            raise InvalidArgument("--project only goes with the project scope")
        rule = c.set_budget()(scope=scope, limit=limit, action=action, model=model,
                              session_id=sid if scope == "session" else None, project=proj)
        if json_:
            emit_json({"budget": fv.rule_json(rule)})
        else:
            say(f"Budget #{rule.id}: {rule.scope.value} {format_usd(rule.limit)} ({rule.action.value})"
                + (f" for {rule.model}" if rule.model else ""))
        return 0

    @budget.command(name="list")
    def list_(*, json_: Json = False) -> int:
        """List the budget rules."""
        rules = c.list_budgets()()
        if json_:
            emit_json({"budgets": [fv.rule_json(r) for r in rules]})
            return 0
        print_table(["ID", "Scope", "Limit", "Action", "Model", "Session", "Project"],
                    [(r.id, r.scope.value, format_usd(r.limit), r.action.value, r.model, r.session_id, r.project)
                     for r in rules])
        return 0

    @budget.command(name="rm")
    def rm(rule_id: int, *, json_: Json = False) -> int:
        """Remove a budget rule.

        Parameters
        ----------
        rule_id
            The rule id (see `cs budget list`).
        """
        rule = c.remove_budget()(rule_id=rule_id)
        if json_:
            emit_json({"removed": fv.rule_json(rule)})
        else:
            say(f"Removed budget #{rule.id}")
        return 0

    @budget.command
    def status(*, json_: Json = False) -> int:
        """Spend vs limit per rule, with projected end-of-period spend for calendar rules."""
        rows = c.budget_status()()
        if json_:
            emit_json({"budgets": [fv.rule_status_json(s) for s in rows]})
            return 0
        print_table(["ID", "Scope", "Action", "Spent", "Limit", "Reserved", "Projected", "State"],
                    [(s.rule.id, s.rule.scope.value + (f" ({s.rule.model})" if s.rule.model else ""),
                      s.rule.action.value, format_usd(s.spent), format_usd(s.rule.limit), format_usd(s.reserved),
                      format_usd(s.projected) if s.projected is not None else "",
                      "EXCEEDED" if s.exceeded else "ok") for s in rows])
        return 0
