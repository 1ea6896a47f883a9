"""JSON views of issue 4 (budgets, runaway, audit), shared by the CLI, the dashboard and MCP."""

from __future__ import annotations

from typing import Any

from costhq.adapters._shared.views import iso
from costhq.domain.audit import AuditEntry, VerifyResult
from costhq.domain.budgets import BudgetRule, RuleStatus
from costhq.domain.money import as_json_number, format_usd
from costhq.domain.runaway import RunawayConfig, Trip


def rule_json(r: BudgetRule) -> dict[str, Any]:
    return {"id": r.id, "scope": r.scope.value, "limit": as_json_number(r.limit), "action": r.action.value,
            "model": r.model, "sessionId": r.session_id, "project": r.project, "createdAt": iso(r.created_at)}


def rule_status_json(s: RuleStatus) -> dict[str, Any]:
    return {**rule_json(s.rule), "spent": as_json_number(s.spent), "reserved": as_json_number(s.reserved),
            "remaining": as_json_number(s.remaining), "exceeded": s.exceeded,
            "percent": round(float(s.spent / s.rule.limit * 100), 2),
            "windowStart": iso(s.window_start), "windowEnd": iso(s.window_end),
            "projected": as_json_number(s.projected) if s.projected is not None else None}


def budget_block_json(statuses: list[RuleStatus]) -> dict[str, Any]:
    """The `budget` object of `cs status --json`: the session's rules and its warnings."""
    return {"rules": [rule_status_json(s) for s in statuses],
            "warnings": [f"{s.rule.scope.value} budget #{s.rule.id} exceeded: {format_usd(s.spent)} of "
                         f"{format_usd(s.rule.limit)}"
                         for s in statuses if s.exceeded],
            "blocked": any(s.blocks for s in statuses)}


def trip_json(t: Trip) -> dict[str, Any]:
    return {"id": t.id, "sessionId": t.session_id, "detector": t.detector.value, "action": t.action.value,
            "message": t.message, "at": iso(t.at), "until": iso(t.until), "clearedAt": iso(t.cleared_at)}


def runaway_config_json(c: RunawayConfig) -> dict[str, Any]:
    return {"action": c.action.value, "velocityUsdPerMin": as_json_number(c.velocity_usd_per_min),
            "velocityWindowSeconds": c.velocity_window_s, "identicalK": c.identical_k,
            "identicalWindowSeconds": c.identical_window_s, "loopRepeats": c.loop_repeats,
            "loopWindowSeconds": c.loop_window_s, "churnN": c.churn_n, "churnWindowSeconds": c.churn_window_s}


def runaway_json(config: RunawayConfig, open_trips: list[Trip], blocked: bool) -> dict[str, Any]:
    """The `runaway` object of `cs status --json`."""
    return {"tripped": bool(open_trips), "blocked": blocked, "trips": [trip_json(t) for t in open_trips],
            "action": config.action.value}


def entry_json(e: AuditEntry) -> dict[str, Any]:
    return {"seq": e.seq, "at": e.at, "actor": e.actor, "event": e.event, "payload": dict(e.payload),
            "alg": e.alg, "prevHash": e.prev_hash, "hash": e.hash}


def verify_problem_json(v: VerifyResult) -> dict[str, Any]:
    """The problem fields of a verification (also the error details of `audit_chain_broken`)."""
    return {"badSeq": v.bad_seq, "reason": v.reason, "table": v.table, "rowId": v.row_id, "detail": v.detail,
            "entries": v.count}


def verify_json(v: VerifyResult) -> dict[str, Any]:
    return {"ok": v.ok, "headSeq": v.head_seq, "headHash": v.head_hash, "keyedFrom": v.keyed_from,
            **verify_problem_json(v)}
