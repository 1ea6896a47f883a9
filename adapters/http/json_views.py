"""JSON shapes of the dashboard read models (camelCase; money as numbers rounded to 1e-10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from costhq.adapters._shared.views import iso, session_json
from costhq.domain.analytics import (
    DailyPoint,
    Insights,
    ModelUsage,
    Overview,
    Totals,
    cost_per_hour,
)
from costhq.domain.budgets import RuleStatus
from costhq.domain.money import as_json_number as money
from costhq.domain.sessions import Session, format_duration


def row_json(s: Session, now: datetime) -> dict[str, Any]:
    """A sessions-table row: the session plus its cost per hour."""
    out = session_json(s, now)
    out["costPerHour"] = money(cost_per_hour(s.ai_cost, s.duration(now)))
    return out


def totals_json(t: Totals) -> dict[str, Any]:
    return {
        "totalSessions": t.sessions,
        "activeSessions": t.active,
        "totalTime": t.seconds,
        "totalTimeFormatted": format_duration(t.seconds),
        "avgDuration": t.avg_seconds,
        "avgDurationFormatted": format_duration(t.avg_seconds),
        "totalAiCost": money(t.cost),
        "avgCost": money(t.avg_cost),
        "filesChanged": t.files,
        "commits": t.commits,
        "totalAiTokens": t.tokens,
        "aiCalls": t.calls,
        "unpricedCalls": t.unpriced_calls,
    }


def daily_json(d: DailyPoint) -> dict[str, Any]:
    return {
        "date": d.day.isoformat(),
        "cost": money(d.cost),
        "promptTokens": d.prompt_tokens,
        "completionTokens": d.completion_tokens,
        "calls": d.calls,
        "sessions": d.sessions,
    }


def overview_json(o: Overview, now: datetime) -> dict[str, Any]:
    p = o.projection
    return {
        "kpis": totals_json(o.totals),
        "daily": [daily_json(d) for d in o.daily],
        "projection": {
            "avgDaily": money(p.avg_daily),
            "monthToDate": money(p.month_to_date),
            "projectedMonth": money(p.projected_month),
        },
        "mostExpensive": [row_json(s, now) for s in o.top_sessions],
        "velocity": [{"id": v.session_id, "name": v.name, "costPerHour": money(v.per_hour)} for v in o.velocity],
    }


def model_json(m: ModelUsage) -> dict[str, Any]:
    ratio = round(m.prompt_tokens / m.completion_tokens, 2) if m.completion_tokens else None
    return {
        "provider": m.provider,
        "model": m.model,
        "calls": m.calls,
        "cost": money(m.cost),
        "avgCostPerCall": money(m.cost / m.calls) if m.calls else 0,
        "promptTokens": m.prompt_tokens,
        "completionTokens": m.completion_tokens,
        "cacheReadTokens": m.cache_read_tokens,
        "cacheWriteTokens": m.cache_write_tokens,
        "totalTokens": m.total_tokens,
        "promptCompletionRatio": ratio,
        "unpricedCalls": m.unpriced_calls,
    }


def providers_json(models: list[ModelUsage]) -> list[dict[str, Any]]:
    """Per-provider totals folded from the (already SQL-aggregated) per-model rows."""
    acc: dict[str, dict[str, Any]] = {}
    for m in models:
        p = acc.setdefault(
            m.provider,
            {
                "provider": m.provider,
                "calls": 0,
                "cost": 0,
                "promptTokens": 0,
                "completionTokens": 0,
                "totalTokens": 0,
                "models": 0,
                "_cost": m.cost * 0,
            },
        )
        p["calls"] += m.calls
        p["_cost"] += m.cost
        p["promptTokens"] += m.prompt_tokens
        p["completionTokens"] += m.completion_tokens
        p["totalTokens"] += m.total_tokens
        p["models"] += 1
    out = []
    for p in acc.values():
        cost = p.pop("_cost")
        out.append({**p, "cost": money(cost), "avgCostPerCall": money(cost / p["calls"]) if p["calls"] else 0})
    return sorted(out, key=lambda p: (-p["cost"], p["provider"]))


def insights_json(i: Insights) -> dict[str, Any]:
    return {
        "hotspots": [{"path": h.path, "changes": h.changes, "sessions": h.sessions} for h in i.hotspots],
        "heatmap": {"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "grid": i.heatmap},
        "projects": [
            {
                "path": p.path,
                "sessions": p.sessions,
                "cost": money(p.cost),
                "duration": p.seconds,
                "durationFormatted": format_duration(p.seconds),
                "files": p.files,
                "commits": p.commits,
                "tokens": p.tokens,
            }
            for p in i.projects
        ],
    }


def rule_json(s: RuleStatus) -> dict[str, Any]:
    r = s.rule
    pct = float(s.spent / r.limit * 100) if r.limit else 0.0
    return {
        "id": r.id,
        "scope": r.scope.value,
        "limit": money(r.limit),
        "action": r.action.value,
        "model": r.model,
        "sessionId": r.session_id,
        "project": r.project,
        "createdAt": iso(r.created_at),
        "spent": money(s.spent),
        "remaining": money(s.remaining),
        "percent": round(pct, 2),
        "exceeded": s.exceeded,
        "windowStart": iso(s.window_start),
        "windowEnd": iso(s.window_end),
        "projected": money(s.projected) if s.projected is not None else None,
    }
