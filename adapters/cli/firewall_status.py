"""The issue-4 part of `cs status`: the session's budget rules and runaway state."""

from __future__ import annotations

from typing import Any

from costhq.adapters._shared import firewall_views as fv
from costhq.adapters.cli.output import warn
from costhq.domain.money import format_usd
from costhq.domain.sessions import Session


def firewall_extra(c: Any, s: Session, *, human: bool) -> dict[str, Any]:
    """`budget` and `runaway` objects for `--json`; with `human`, `humanRows` plus warnings on stderr.

    Warn rules show here and never block (issue 4).
    """
    statuses = c.budget_status()(session_id=s.id, project=s.working_directory)
    rep = c.runaway_status()(session_id=s.id)
    budget = fv.budget_block_json(statuses)
    runaway = fv.runaway_json(rep.config, rep.open_trips, rep.blocked)
    if not human:
        return {"budget": budget, "runaway": runaway}
    for line in budget["warnings"]:
        warn(line)
    for t in rep.open_trips:
        warn(f"runaway ({t.detector.value}, {t.action.value}): {t.message}")
    rows = [(f"Budget #{x.rule.id} ({x.rule.scope.value})", f"{format_usd(x.spent)} / {format_usd(x.rule.limit)}"
             + (" EXCEEDED" if x.exceeded else "")) for x in statuses]
    if rep.open_trips:
        rows.append(("Runaway", ", ".join(t.detector.value for t in rep.open_trips)))
    return {"humanRows": rows}
