"""JSON views of issue 7 (imports, reports, blocks, today, statusline), shared by CLI and MCP."""

from __future__ import annotations

from typing import Any

from costhq.adapters._shared.views import iso, session_json
from costhq.domain.money import as_json_number
from costhq.domain.reports import Block, ReportRow


def import_json(r: Any) -> dict[str, Any]:
    """`cs import --json`."""
    return {"source": r.source, "dryRun": r.dry_run, "imported": r.imported, "skipped": r.skipped,
            "alreadyCaptured": r.captured,
            "cost": as_json_number(r.cost), "tokens": r.tokens, "unpricedCalls": r.unpriced,
            "sessions": [{"id": sid, "calls": n} for sid, n in sorted(r.sessions.items())],
            "files": r.stats.files, "lines": r.stats.lines, "malformedLines": r.stats.malformed,
            "duplicateLines": r.stats.duplicates, "bytesRead": r.stats.bytes_read}


def row_json(r: ReportRow) -> dict[str, Any]:
    return {"key": r.key, "calls": r.calls, "inputTokens": r.input, "cacheReadTokens": r.cache_read,
            "cacheWriteTokens": r.cache_write, "outputTokens": r.output, "reasoningTokens": r.reasoning,
            "totalTokens": r.total_tokens, "cost": as_json_number(r.cost), "unpricedCalls": r.unpriced_calls,
            "firstCall": iso(r.first), "lastCall": iso(r.last)}


def block_json(b: Block) -> dict[str, Any]:
    return {"start": iso(b.start), "end": iso(b.end), "active": b.active, "calls": b.calls,
            "totalTokens": b.total_tokens, "cost": as_json_number(b.cost), "unpricedCalls": b.unpriced_calls,
            "firstCall": iso(b.first), "lastCall": iso(b.last), "burnRatePerHour": as_json_number(b.burn_rate),
            "projectedCost": as_json_number(b.projected_cost)}


def report_json(rep: Any) -> dict[str, Any]:
    """`cs report <kind> --json`."""
    w = rep.where
    out: dict[str, Any] = {"report": rep.kind.value, "timezone": w.timezone, "since": iso(w.since),
                           "until": iso(w.until), "project": w.project, "model": w.model,
                           "user": w.user, "machine": w.machine, "by": rep.by and rep.by.value}  # issue 16
    if rep.kind.value == "blocks":
        out["blocks"] = [block_json(b) for b in rep.blocks]
    else:
        by = rep.by and rep.by.value  # each row names its user, machine or project under that key
        out["rows"] = [{**row_json(r), by: r.group} if by else row_json(r) for r in rep.rows]
    out["totals"] = {"calls": rep.calls, "totalTokens": rep.total_tokens, "cost": as_json_number(rep.cost),
                     "unpricedCalls": rep.unpriced_calls}
    return out


def today_json(reports: list[Any], now: Any) -> dict[str, Any]:
    """`cs today --json`."""
    projects = []
    for r in reports:
        st = r.state
        projects.append({
            "path": r.project.path, "name": r.project.name, "exists": r.exists, "git": st.is_git,
            "branch": st.branch, "upstream": st.upstream, "ahead": st.ahead, "behind": st.behind,
            "dirtyFiles": list(st.dirty), "dirtyCount": len(st.dirty), "todoCount": st.todos,
            "lastSession": session_json(r.last_session, now) if r.last_session else None})
    return {"projects": projects}
