"""JSON views shared by the CLI, the HTTP API and the MCP server (camelCase, spec field names)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from costhq.domain.money import as_json_number
from costhq.domain.pricing import PriceQuote, PriceSource
from costhq.domain.sessions import Annotation, Commit, FileChange, Session, Stats, format_duration
from costhq.domain.usage import UsageRecord


def iso(ts: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and `Z` (spec format)."""
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def session_json(s: Session, now: datetime) -> dict[str, Any]:
    """A session with totals; `duration` is final for ended sessions, live otherwise."""
    duration = s.duration(now)
    return {
        "id": s.id,
        "name": s.name,
        "status": s.status.value,
        "startTime": iso(s.start_time),
        "endTime": iso(s.end_time),
        "duration": duration,
        "durationFormatted": format_duration(duration),
        "workingDirectory": s.working_directory,
        "gitRoot": s.git_root,
        "startGitHead": s.start_git_head,
        "branch": s.branch,
        "filesChanged": s.files_changed,
        "commits": s.commits,
        "aiTokens": s.ai_tokens,
        "aiCost": as_json_number(s.ai_cost),
        "aiCalls": s.ai_calls,
        "unpricedCalls": s.unpriced_calls,
        "notes": s.notes,
    }


def status_json(s: Session, now: datetime) -> dict[str, Any]:
    """`cs status --json` contract: the session plus liveDuration fields."""
    out = session_json(s, now)
    live = s.duration(now)
    out["liveDuration"] = live
    out["liveDurationFormatted"] = format_duration(live)
    return out


def usage_json(u: UsageRecord) -> dict[str, Any]:
    """One AI call."""
    t = u.tokens
    return {
        "id": u.id,
        "sessionId": u.session_id,
        "provider": u.provider,
        "model": u.effective_model,
        "requestedModel": u.model,
        "tokens": u.total_tokens,
        "promptTokens": t.input,
        "completionTokens": t.output,
        "cacheReadTokens": t.cache_read,
        "cacheWriteTokens": t.cache_write,
        "cacheWrite1hTokens": t.cache_write_1h,
        "reasoningTokens": t.reasoning,
        "cost": as_json_number(u.cost) if u.cost is not None else None,
        "priceSource": u.price_source.value,
        "origin": u.origin.value,
        "agentName": u.agent,
        "requestId": u.request_id,
        "callKey": u.call_key,
        "upstreamRequestId": u.upstream_request_id,
        "responseId": u.response_id,
        "durationMs": u.duration_ms,
        "stream": u.stream,
        "partial": u.partial,
        "usageMissing": u.usage_missing,
        "inputEstimated": u.input_estimated,
        "timestamp": iso(u.timestamp),
    }


def file_json(f: FileChange) -> dict[str, Any]:
    return {"id": f.id, "sessionId": f.session_id, "filePath": f.file_path,
            "changeType": f.change_type.value, "timestamp": iso(f.timestamp)}


def commit_json(c: Commit) -> dict[str, Any]:
    return {"id": c.id, "sessionId": c.session_id, "hash": c.hash, "message": c.message,
            "author": c.author, "timestamp": iso(c.timestamp)}


def annotation_json(a: Annotation) -> dict[str, Any]:
    return {"id": a.id, "sessionId": a.session_id, "message": a.message, "timestamp": iso(a.timestamp)}


def pricing_json(record: UsageRecord, quote: PriceQuote | None) -> dict[str, Any]:
    """The `pricing` transparency object of `cs log-ai --json`."""
    source = record.price_source
    out: dict[str, Any] = {"source": source.value, "modelKnown": quote is not None}
    if quote is not None:
        out["matched"] = quote.key
        out.update({k: as_json_number(v) for k, v in record.rates.items()})
        if quote.correction and source is PriceSource.BUILT_IN:
            out["correction"] = quote.correction  # issue 17: a reviewed price correction amended the built-in rates
    if source is PriceSource.UNPRICED:
        out["unpriced"] = True
    return out


def stats_json(st: Stats) -> dict[str, Any]:
    return {
        "totalSessions": st.total_sessions,
        "activeSessions": st.active_sessions,
        "totalTime": st.total_seconds,
        "totalTimeFormatted": format_duration(st.total_seconds),
        "filesChanged": st.files_changed,
        "commits": st.commits,
        "totalAiCost": as_json_number(st.ai_cost),
        "totalAiTokens": st.ai_tokens,
        "aiCalls": st.ai_calls,
        "unpricedCalls": st.unpriced_calls,
        "avgCost": as_json_number(st.ai_cost / st.total_sessions) if st.total_sessions else 0,
    }
