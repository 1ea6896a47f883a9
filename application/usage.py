"""Recording AI usage: the one pipeline every path records through (issue 17), pricing at record time.

Rules:
- `cs log-ai`, MCP, the proxy, the library and the importers all record through `record_within`,
  inside one unit of work per call or batch: the identity rule first (application/identity.py: a
  replay of a stored key, or a call another path already stored, is skipped and answered with the
  record that holds it), then the call's price at its own timestamp (a registered local model by
  compute time), its session, and `store_usage`: the record and the session's totals, one
  `usage.logged` audit entry and the firewall's after-record check. Importers store history in
  bulk (`bulk=True`): neither audited call by call nor fed to the firewall.
- `LogUsage` records one call and raises its error (and, once the call is stored, a firewall
  refusal); `RecordUsage` records a batch in one unit of work, so one commit: a call that cannot
  be stored (unknown session, nothing active, invalid input) gets its error and the others are
  stored; when the batch's transaction itself fails (storage busy, disk error) each call is
  retried in a unit of work of its own, so one bad call cannot sink the rest.
- Work the calls of a batch share is done once: a scope look-up per directory, the session per
  target, one identity look-up, and the firewall's reads (application/batch_reads.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, cast

import attrs

from costhq.application.audit import record as audit_record
from costhq.application.identity import keyed, load_ledger, settle_identity, sighting
from costhq.application.ports.clock import Clock
from costhq.application.ports.git import GitMetadata
from costhq.application.ports.pricing import PriceBook
from costhq.application.ports.storage import UnitOfWork
from costhq.application.session_scope import BACKGROUND_SESSION_NAME as BACKGROUND_SESSION_NAME
from costhq.application.session_scope import CallTargets, background_session
from costhq.application.usage_input import Priced as Priced
from costhq.application.usage_input import UsageInput as UsageInput
from costhq.application.usage_input import build_record as build_record
from costhq.application.usage_input import price_or_error as price_or_error
from costhq.application.usage_input import price_usage as price_usage
from costhq.domain.audit_coverage import usage_digest
from costhq.domain.errors import CostHQError
from costhq.domain.git import Scope
from costhq.domain.identity import Decision, Verdict
from costhq.domain.pricing import PriceQuote, PriceSource
from costhq.domain.sessions import Session
from costhq.domain.usage import UsageRecord

if TYPE_CHECKING:
    from costhq.application.firewall import UsageFirewall, UsageVerdict
    from costhq.application.local_pricing import PriceLocalCall
    from costhq.application.ports.firewall import FirewallUnitOfWork
    from costhq.application.ports.local import LocalUnitOfWork
    from costhq.domain.local_models import LocalCompute


@attrs.frozen(kw_only=True)
class LoggedUsage:
    """A stored record plus the quote used (for `pricing` transparency) and the session after it.

    `identity` is NEW for a call stored now; REPLAY or SEEN when the call was already stored (its
    key, or by another path): `record` is then the record that holds it, and nothing was written.
    """

    record: UsageRecord
    quote: PriceQuote | None
    session: Session
    verdict: UsageVerdict | None = None  # issue 4: budget statuses and runaway trips after this call
    local: LocalCompute | None = None  # issue 8: the compute side of a local-model call
    identity: Verdict = Verdict.NEW


@attrs.frozen(kw_only=True)
class QueuedUsage:
    """One call to record, with where it goes.

    Attributes:
        call: the call.
        cwd: where it was made; the active session of its scope records it when `session_id` is None.
        session_id: the session to record it on.
        background: with no `session_id` and nothing active in the scope, record it on the
            "Background API Session" (created on demand) instead of failing with NoActiveSession.
        proxied: attribute it by the proxy's rule instead (`session_scope.proxy_session`: the
            header's session > the pinned one > the most recently active > the background session).
        header_session: a proxied call's `x-costhq-session`.
        pinned_session: the proxy's `--session`.
        fingerprint: a proxied request's runaway fingerprint when the guard did not observe it before
            forwarding: the runaway detector sees it with the call's cost, in one pass (issue 15).
    """

    call: UsageInput
    cwd: str = "."
    session_id: int | None = None
    background: bool = False
    proxied: bool = False
    header_session: int | None = None
    pinned_session: int | None = None
    fingerprint: str | None = None


@attrs.frozen(kw_only=True)
class BatchOutcome:
    """What became of one queued call.

    Attributes:
        logged: the stored record and the session right after it (or, for a replay or a call
            another path stored, the record that holds it); its `verdict.refusal` is a firewall
            refusal of a stored call (LogUsage raises it, a batch reports it here).
        identity: NEW, or REPLAY / SEEN when it was skipped (already recorded).
        record: the record stored (also set by bulk recording, which builds no `logged`).
        error: not stored, and why.
    """

    logged: LoggedUsage | None = None
    identity: Verdict = Verdict.NEW
    record: UsageRecord | None = None
    error: CostHQError | None = None

    @property
    def duplicate(self) -> bool:
        """Skipped: the call was already recorded."""
        return self.identity is not Verdict.NEW


@attrs.frozen
class _Pipeline:
    """The ports of the recording use cases; `_record` is the pipeline of the module rules."""

    uow: Callable[[], UnitOfWork]
    clock: Clock
    git: GitMetadata
    prices: PriceBook
    firewall: UsageFirewall | None = None  # issue 4: budgets + runaway, checked after the record
    local: PriceLocalCall | None = None  # issue 8: registered local models are priced by compute time

    def _record(self, items: Sequence[QueuedUsage], allow_unpriced: bool) -> list[BatchOutcome]:
        if not items:
            return []
        # Prices and scopes are looked up before the transaction (outside the write lock), each scope once.
        apis = [price_or_error(self.prices, item.call, allow_unpriced=allow_unpriced) for item in items]
        scopes: dict[str, Scope] = {}
        for item in items:
            if item.session_id is None and not item.proxied and item.cwd not in scopes:
                scopes[item.cwd] = self.git.scope(item.cwd)
        try:
            return self._write(items, apis, scopes, allow_unpriced)
        except CostHQError as exc:
            if len(items) == 1:
                return [BatchOutcome(error=exc)]
        outcomes = []
        for item, api in zip(items, apis, strict=True):  # one unit of work each: a bad call sinks alone
            try:
                outcomes.extend(self._write([item], [api], scopes, allow_unpriced))
            except CostHQError as exc:
                outcomes.append(BatchOutcome(error=exc))
        return outcomes

    def _write(self, items: Sequence[QueuedUsage], apis: list[Priced | CostHQError], scopes: dict[str, Scope],
               allow_unpriced: bool) -> list[BatchOutcome]:
        now = self.clock.now()
        with self.uow() as real:
            uow = real
            reads = getattr(real, "batch_reads", None)  # a savepoint of a longer batch (the proxy's recorder)
            if len(items) > 1 or reads is not None:
                from costhq.application.batch_reads import BatchView  # a batch's read-once firewall reads

                uow = cast("UnitOfWork", BatchView(real, reads))
            targets = CallTargets(uow, scopes, now)
            return record_within(uow, items, apis, session_of=targets.session, now=now, firewall=self.firewall,
                                 local=self.local, allow_unpriced=allow_unpriced)


@attrs.frozen
class LogUsage(_Pipeline):
    """Record one AI call on the named session, else the active session of `cwd`'s scope."""

    def __call__(
        self, *, call: UsageInput, cwd: str, session_id: int | None = None, allow_unpriced: bool = False
    ) -> LoggedUsage:
        [outcome] = self._record([QueuedUsage(call=call, cwd=cwd, session_id=session_id)], allow_unpriced)
        if outcome.error is not None:
            raise outcome.error
        logged = outcome.logged
        assert logged is not None
        if logged.verdict is not None and logged.verdict.refusal is not None:
            raise logged.verdict.refusal  # the record is committed: data is never lost, the agent still stops
        return logged


@attrs.frozen
class RecordUsage(_Pipeline):
    """Record `items` in order, in one unit of work; see the module rules. One outcome per item."""

    def __call__(self, *, items: Sequence[QueuedUsage], allow_unpriced: bool = False) -> list[BatchOutcome]:
        return self._record(items, allow_unpriced)


def record_within(uow: UnitOfWork, items: Sequence[QueuedUsage], apis: Sequence[Priced | CostHQError], *,
                  session_of: Callable[[QueuedUsage], Session], now: datetime,
                  firewall: UsageFirewall | None = None, local: PriceLocalCall | None = None,
                  allow_unpriced: bool = False, bulk: bool = False) -> list[BatchOutcome]:
    """Record `items` (priced `apis`) inside the caller's unit of work: the pipeline of the module rules.

    `session_of` picks each new call's session; `bulk` stores the new records with one `add_many`
    at the end (imports: no audit entry or firewall check per call, no `logged` in the outcomes).
    """
    calls = [keyed(item.call) for item in items]
    sightings = [sighting(call, now) for call in calls]
    ledger = load_ledger(uow, sightings)
    outcomes: list[BatchOutcome] = []
    queued: list[UsageRecord] = []
    for item, call, seen, api in zip(items, calls, sightings, apis, strict=True):
        decision = settle_identity(uow, ledger, seen)
        if decision.verdict is not Verdict.NEW:
            outcomes.append(_already(uow, decision, bulk))
            continue
        try:  # a call refused here has written nothing of its own: the batch goes on
            compute, priced = choose_price(local, uow, call, api, allow_unpriced)
            session = session_of(item)
        except CostHQError as exc:
            outcomes.append(BatchOutcome(error=exc))
            continue
        if bulk:
            cost, source, _quote, rates = priced
            queued.append(build_record(call, session.id, now, (cost, source, rates)))
            ledger.stored(seen, None)
            outcomes.append(BatchOutcome(record=queued[-1]))
        else:
            logged = store_usage(uow, firewall, call, session, now, priced, compute, fingerprint=item.fingerprint)
            ledger.stored(seen, logged.record.id)
            outcomes.append(BatchOutcome(logged=logged, record=logged.record))
    if queued:
        uow.usage.add_many(queued)
    return outcomes


def _already(uow: UnitOfWork, decision: Decision, bulk: bool) -> BatchOutcome:
    """The outcome of a call that was already recorded: with the record that holds it, unless bulk."""
    if bulk or decision.usage_id is None:
        return BatchOutcome(identity=decision.verdict)
    record = uow.usage.get(decision.usage_id)
    session = uow.sessions.get(record.session_id) if record is not None else None
    if record is None or session is None:
        return BatchOutcome(identity=decision.verdict)
    logged = LoggedUsage(record=record, quote=None, session=session, identity=decision.verdict)
    return BatchOutcome(logged=logged, identity=decision.verdict, record=record)


def choose_price(local_pricer: PriceLocalCall | None, uow: UnitOfWork, call: UsageInput,
                 api: Priced | CostHQError, allow_unpriced: bool) -> tuple[LocalCompute | None, Priced]:
    """A registered local model is priced by compute time; any other call by `api` (or its error)."""
    local = None if local_pricer is None else \
        local_pricer.within(cast("LocalUnitOfWork", uow), call, allow_unpriced=allow_unpriced)
    if local is not None:
        return local, (local.cost, PriceSource.LOCAL, None, {"usdPerHour": local.usd_per_hour})
    if isinstance(api, CostHQError):
        raise api
    return None, api


def store_usage(uow: UnitOfWork, firewall: UsageFirewall | None, call: UsageInput, session: Session,
                now: datetime, priced: Priced, local: LocalCompute | None, *,
                fingerprint: str | None = None) -> LoggedUsage:
    """Everything one call writes, inside the caller's unit of work: the record (and the session's
    totals), its compute side, its `usage.logged` audit entry and the firewall's after-record check."""
    cost, source, quote, rates = priced
    record = uow.usage.add(build_record(call, session.id, now, (cost, source, rates)))
    if local is not None:
        local = cast("LocalUnitOfWork", uow).local.add_compute(attrs.evolve(local, usage_id=record.id))
    audit_record(uow, "usage.logged", actor=call.origin.value, at=now, session_id=session.id,
                 usage_id=record.id, provider=record.provider, model=record.effective_model,
                 tokens=record.total_tokens, cost=record.cost, price_source=record.price_source.value,
                 call_key=record.call_key, digest=usage_digest(record))  # issue 14: the chain covers the row
    verdict = None
    if firewall is not None:
        verdict = firewall.after_record(cast("FirewallUnitOfWork", uow), record,
                                        project=session.working_directory, now=now, fingerprint=fingerprint)
    after = uow.sessions.get(session.id)
    assert after is not None
    return LoggedUsage(record=record, quote=quote, session=after, verdict=verdict, local=local)


@attrs.frozen
class EnsureBackgroundSession:
    """The active "Background API Session" (created on demand) so no spend is ever dropped."""

    uow: Callable[[], UnitOfWork]
    clock: Clock

    def __call__(self, *, scope: str) -> Session:
        now = self.clock.now()
        with self.uow() as uow:
            return background_session(uow, scope=scope, now=now)
