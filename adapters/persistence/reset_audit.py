"""The Start Fresh audit entry, shared by the APSW adapter and the in-memory fake."""

from __future__ import annotations

from costhq.domain.analytics import ResetCounts
from costhq.domain.audit import AuditEvent


def reset_event(event: AuditEvent, counts: ResetCounts) -> AuditEvent:
    """The Start Fresh audit entry: the caller's facts plus how many rows went."""
    removed = {"sessions": counts.sessions, "aiUsage": counts.ai_usage, "fileChanges": counts.file_changes,
               "commits": counts.commits, "annotations": counts.annotations}
    return AuditEvent(event=event.event, actor=event.actor, payload={**event.payload, **removed}, at=event.at)
