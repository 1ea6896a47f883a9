"""The OpenAPI 3.1 document, built from the API route table (summaries from endpoint docstrings)."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route

from costhq.adapters._shared.version import VERSION

SUMMARIES = {
    "sessions": "Search, sort, filter (status) and paginate sessions",
    "session": "One session with files, commits, aiUsage, annotations and a unified timeline",
    "stats": "Totals across all sessions",
    "overview": "KPIs, daily series (tz), spend projection, most expensive sessions, cost velocity",
    "models": "Per-model and per-provider cost, tokens and calls",
    "insights": "File hotspots, 7x24 activity heatmap, projects",
    "team": "Spend by user, machine and project (?user=&machine=&project=&since=&until= local dates)",
    "export": "All sessions as JSON or CSV (?format=json|csv)",
    "events": "Server-sent events: live session updates",
    "pricing": "Built-in prices and custom overrides",
    "pricing_put": "Add or edit a custom price override",
    "pricing_delete": "Remove one override (?model=&provider=) or all",
    "alerts": "Alert rules with current spend vs limit",
    "alerts_post": "Create an alert rule",
    "alert_delete": "Delete an alert rule",
    "reset": 'Start Fresh: delete all data; body {"confirm": "RESET"}',
    "card": "The shareable stats card as PNG (?period=month|year|all)",
    "hardware": "Local model hardware presets",
    "csrf": "The CSRF token (loopback only)",
    "openapi": "This document",
}


def build(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        path = "/api/v1" + r.path
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "integer"}}
            for n in re.findall(r"{(\w+)}", r.path)
        ]
        for method in sorted((r.methods or set()) - {"HEAD"}):
            op: dict[str, Any] = {
                "operationId": r.name,
                "summary": SUMMARIES.get(r.name, r.name),
                "responses": {"200": {"description": "OK"}},
            }
            if params:
                op["parameters"] = params
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CostHQ dashboard API",
            "version": VERSION,
            "description": "Local API of `cs dashboard`; also served under /api/*. "
            "State-changing calls need X-CSRF-Token (loopback) or the token (remote).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
    }
