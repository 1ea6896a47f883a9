"""Audit use cases: append helper for every state change, verify, head, export, log.

Rule: a state change and its audit entry share one unit of work (one transaction), so an
entry exists exactly when the change was committed. The chain itself is domain.audit's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.storage import UnitOfWork
from costhq.domain.audit import AuditEntry, AuditEvent, VerifyResult, verify
from costhq.domain.errors import InvalidArgument


def record(uow: UnitOfWork, event: str, *, actor: str, at: datetime, **payload: Any) -> AuditEntry:
    """Append one audit entry inside `uow`'s transaction."""
    return uow.audit.append(AuditEvent(event=event, actor=actor, payload=payload, at=at))


@attrs.frozen
class RecordAuditEvent:
    """Append an entry in its own unit of work (for changes stored outside the database,
    like `pricing.json`: called right after the file write)."""

    uow: Callable[[], UnitOfWork]
    clock: Clock

    def __call__(self, *, event: str, actor: str, payload: dict[str, Any]) -> AuditEntry:
        with self.uow() as uow:
            return record(uow, event, actor=actor, at=self.clock.now(), **payload)


@attrs.frozen
class VerifyAudit:
    """Recompute the chain; report the first bad seq (see domain.audit.verify)."""

    uow: Callable[[], UnitOfWork]
    key: bytes | None = None

    def __call__(self, *, expect_head: str | None = None) -> VerifyResult:
        with self.uow() as uow:
            entries = list(uow.audit.entries())
        return verify(entries, key=self.key, expect_head=expect_head)


@attrs.frozen
class AuditHead:
    """The newest entry (seq + hash to keep elsewhere), None when the log is empty."""

    uow: Callable[[], UnitOfWork]

    def __call__(self) -> AuditEntry | None:
        with self.uow() as uow:
            return uow.audit.head()


@attrs.frozen
class ReadAudit:
    """Entries for `cs audit export` (all, oldest first) or `cs audit log -l N` (the newest N)."""

    uow: Callable[[], UnitOfWork]

    def __call__(self, *, last: int | None = None) -> Iterator[AuditEntry]:
        if last is not None and last < 1:
            raise InvalidArgument("-l must be a positive integer")
        with self.uow() as uow:
            rows = uow.audit.last(last) if last is not None else list(uow.audit.entries())
        return iter(rows)
