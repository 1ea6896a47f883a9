"""Audit use cases: append helper for every state change, verify, head, export, log.

Rules: a state change and its audit entry share one unit of work (one transaction), so an
entry exists exactly when the change was committed. The chain itself is domain.audit's; what
it must cover (every usage record, budget rule and price override) is domain.audit_coverage's.
Verification reads the chain, the money rows and the rules in one snapshot, and checks the
head file of the data dir (and any head the caller kept elsewhere) against the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.firewall import AuditAnchor, FirewallUnitOfWork
from costhq.application.ports.pricing import CustomPriceStore
from costhq.application.ports.storage import UnitOfWork
from costhq.domain.audit import AuditEntry, AuditEvent, Problem, VerifyResult, anchor_tag, verify
from costhq.domain.audit_coverage import StoredMoney, coverage_problem, usage_digest, usage_entries
from costhq.domain.errors import InvalidArgument


def record(uow: UnitOfWork, event: str, *, actor: str, at: datetime, **payload: Any) -> AuditEntry:
    """Append one audit entry inside `uow`'s transaction."""
    return uow.audit.append(AuditEvent(event=event, actor=actor, payload=payload, at=at))


def record_imported(uow: UnitOfWork, *, since: int, actor: str, at: datetime) -> None:
    """Audit every usage record stored in `uow` after id `since` (a bulk import): their digests
    go into `usage.imported` entries (domain.audit_coverage.IMPORT_CHUNK per entry)."""
    for chunk in usage_entries(uow.audit.usage_after(since)):
        record(uow, "usage.imported", actor=actor, at=at, usage=chunk)


@attrs.frozen
class AdoptCustomPrices:
    """Audit price overrides that arrived without an entry (the old tool's `pricing.json`, copied on
    first run), as `pricing.set` entries, so the chain covers every override from then on."""

    uow: Callable[[], UnitOfWork]
    clock: Clock
    prices: CustomPriceStore

    def __call__(self) -> int:
        found = self.prices.all()
        with self.uow() as uow:
            for p in found:
                record(uow, "pricing.set", actor="system", at=self.clock.now(), key=p.key, input=p.input,
                       output=p.output, cache_read=p.cache_read, cache_write=p.cache_write, adopted=True)
        return len(found)


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
    """Recompute the chain, check it against the head file and `expect_head`, then check that it
    covers every stored money row; report the first bad seq and its kind (domain.audit.verify)."""

    uow: Callable[[], FirewallUnitOfWork]
    key: bytes | None = None
    prices: CustomPriceStore | None = None
    anchor: AuditAnchor | None = None

    def __call__(self, *, expect_head: str | None = None) -> VerifyResult:
        with self.uow() as uow:
            entries = list(uow.audit.entries())
            stored = StoredMoney(usage={r.id or 0: usage_digest(r) for r in uow.audit.usage_after(0)},
                                 rules={r.id: r for r in uow.budgets.all()},
                                 prices={p.key: p for p in self.prices.all()} if self.prices else {})
        anchors, forged = self._anchors(expect_head)
        return verify(entries, key=self.key, anchors=anchors,
                      coverage=lambda chain: forged or coverage_problem(chain, stored))

    def _anchors(self, expect_head: str | None) -> tuple[dict[str, str], Problem | None]:
        anchors, forged = {}, None
        found = self.anchor.read() if self.anchor is not None else None
        if found is not None:
            head, tag = found
            if self.key and tag is not None and tag != anchor_tag(head, self.key):
                forged = Problem(None, "forged", "the head file's tag does not match the audit key", "audit-head")
            anchors["head file"] = head
        if expect_head is not None:
            anchors["expected"] = expect_head
        return anchors, forged


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
