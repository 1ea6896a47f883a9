"""Recording AI usage: pricing at record time, never losing a record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, cast

import attrs

from costhq.application.audit import record as audit_record
from costhq.application.ports.clock import Clock
from costhq.application.ports.git import GitMetadata
from costhq.application.ports.pricing import PriceBook
from costhq.application.ports.storage import UnitOfWork
from costhq.application.session_scope import resolve_session
from costhq.domain.audit_coverage import usage_digest
from costhq.domain.errors import CostHQError, InvalidArgument, MissingTokens, UnknownModel
from costhq.domain.git import Scope
from costhq.domain.pricing import PriceQuote, PriceSource
from costhq.domain.sessions import NewSession, Session
from costhq.domain.usage import Origin, TokenCounts, UsageRecord

if TYPE_CHECKING:
    from costhq.application.firewall import UsageFirewall, UsageVerdict
    from costhq.application.local_pricing import PriceLocalCall
    from costhq.application.ports.firewall import FirewallUnitOfWork
    from costhq.application.ports.local import LocalUnitOfWork
    from costhq.domain.local_models import LocalCompute

BACKGROUND_SESSION_NAME = "Background API Session"


@attrs.frozen(kw_only=True)
class UsageInput:
    """One AI call as reported by an edge (CLI flags, proxy, library, importer).

    Attributes:
        provider: provider id.
        model: model as requested.
        tokens: disjoint token classes.
        total_tokens: a reported total when no split is known (`cs log-ai -t`).
        cost: explicit USD cost (source `manual`); computed from prices when None.
        request_id: legacy replay key of importers and hooks (see `call_key`).
        call_key: this record's own key, minted by the path that saw the call (the proxy's
            `x-costhq-call`, a library call id, an importer's transcript key): a second record
            with the same key is a replay (spool recovery, re-import, a retried hook) and is skipped.
        upstream_request_id: the upstream's `request-id` / `x-request-id` response header.
        response_id: the response body's id (`msg_...`, `resp_...`, `chatcmpl-...`).
        usage_missing: the call was answered without usage (kept as a 0-token call).
        input_estimated: input tokens were estimated from the request (a cut stream).
    """

    provider: str
    model: str
    tokens: TokenCounts = attrs.field(factory=TokenCounts)
    total_tokens: int | None = None
    cost: Decimal | None = None
    served_model: str | None = None
    origin: Origin = Origin.CLI
    agent: str | None = None
    request_id: str | None = None
    call_key: str | None = None
    upstream_request_id: str | None = None
    response_id: str | None = None
    usage_missing: bool = False
    input_estimated: bool = False
    duration_ms: int | None = None
    stream: bool = False
    partial: bool = False
    error: bool = False
    timestamp: datetime | None = None


@attrs.frozen(kw_only=True)
class LoggedUsage:
    """A stored record plus the quote used (for `pricing` transparency) and the session after it."""

    record: UsageRecord
    quote: PriceQuote | None
    session: Session
    verdict: UsageVerdict | None = None  # issue 4: budget statuses and runaway trips after this call
    local: LocalCompute | None = None  # issue 8: the compute side of a local-model call


Priced = tuple[Decimal | None, PriceSource, PriceQuote | None, dict[str, Decimal]]  # cost, source, quote, rates


def price_usage(prices: PriceBook, call: UsageInput, *, allow_unpriced: bool) -> Priced:
    """Decide cost, source, quote and rates of a call (DESIGN §3-4).

    Raises:
        MissingTokens: no tokens and no cost.
        UnknownModel: no price known, no cost given, and unpriced records not allowed.
    """
    if not call.provider.strip() or not call.model.strip():
        raise InvalidArgument("provider and model must not be empty")
    if call.cost is not None and (not call.cost.is_finite() or call.cost < 0):
        raise InvalidArgument("cost must be a finite, non-negative number")
    quote = prices.quote(call.provider, call.served_model or call.model, call.timestamp)
    if quote is None and call.served_model:
        quote = prices.quote(call.provider, call.model, call.timestamp)
    rates = quote.price.rates_at(call.tokens.total_input) if quote else {}
    if call.cost is not None:
        return call.cost, PriceSource.MANUAL, quote, rates
    # A failed call, or a stream cut before any usage arrived, is counted with whatever was seen.
    if call.tokens.is_empty and not (call.error or call.partial or call.usage_missing):
        if call.total_tokens:
            raise MissingTokens(
                "A total alone cannot be priced: give --prompt-tokens and --completion-tokens, or -c COST"
            )
        raise MissingTokens("Give token counts (--prompt-tokens/--completion-tokens) or a cost (-c)")
    if quote is None:
        if not allow_unpriced:
            raise UnknownModel(
                f"No price known for {call.provider}/{call.model}; pass -c COST or set one with "
                "`cs pricing set`",
                model=call.model,
                provider=call.provider,
            )
        return None, PriceSource.UNPRICED, None, {}
    return quote.price.cost(call.tokens), quote.source, quote, rates


def build_record(
    call: UsageInput, session_id: int, now: datetime, priced: tuple[Decimal | None, PriceSource, dict[str, Decimal]]
) -> UsageRecord:
    """The immutable record for storage."""
    cost, source, rates = priced
    return UsageRecord(
        session_id=session_id,
        provider=call.provider.strip().lower(),
        model=call.model.strip(),
        served_model=call.served_model,
        tokens=call.tokens,
        total_tokens=max(call.total_tokens or 0, call.tokens.total),
        cost=cost,
        price_source=source,
        rates=rates,
        origin=call.origin,
        agent=call.agent,
        request_id=call.request_id,
        call_key=call.call_key,
        upstream_request_id=call.upstream_request_id,
        response_id=call.response_id,
        usage_missing=call.usage_missing,
        input_estimated=call.input_estimated,
        duration_ms=call.duration_ms,
        stream=call.stream,
        partial=call.partial,
        error=call.error,
        timestamp=call.timestamp or now,
    )


@attrs.frozen
class LogUsage:
    """Record one AI call on the named session, else the active session of `cwd`'s scope."""

    uow: Callable[[], UnitOfWork]
    clock: Clock
    git: GitMetadata
    prices: PriceBook
    firewall: UsageFirewall | None = None  # issue 4: budgets + runaway, checked after the record
    local: PriceLocalCall | None = None  # issue 8: registered local models are priced by compute time

    def __call__(
        self, *, call: UsageInput, cwd: str, session_id: int | None = None, allow_unpriced: bool = False
    ) -> LoggedUsage:
        # The API price is looked up before the transaction (price data stays out of the write
        # lock); its error waits until the unit of work has said the model is not a local one.
        api: Priced | CostHQError
        try:
            api = price_usage(self.prices, call, allow_unpriced=allow_unpriced)
        except CostHQError as exc:
            api = exc
        scope = self.git.scope(cwd) if session_id is None else Scope(cwd, None)
        now = self.clock.now()
        with self.uow() as uow:  # one transaction: local-model lookup, record, audit, firewall
            local, priced = choose_price(self.local, uow, call, api, allow_unpriced)
            session = resolve_session(uow, scope, session_id)
            logged = store_usage(uow, self.firewall, call, session, now, priced, local)
        if logged.verdict is not None and logged.verdict.refusal is not None:
            raise logged.verdict.refusal  # the record is committed: data is never lost, the agent still stops
        return logged


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
                now: datetime, priced: Priced, local: LocalCompute | None) -> LoggedUsage:
    """Everything one call writes, inside the caller's unit of work: the record (and the session's
    totals), its compute side, its `usage.logged` audit entry and the firewall's after-record check."""
    cost, source, quote, rates = priced
    record = uow.usage.add(build_record(call, session.id, now, (cost, source, rates)))
    if local is not None:
        local = cast("LocalUnitOfWork", uow).local.add_compute(attrs.evolve(local, usage_id=record.id))
    audit_record(uow, "usage.logged", actor=call.origin.value, at=now, session_id=session.id,
                 usage_id=record.id, provider=record.provider, model=record.effective_model,
                 tokens=record.total_tokens, cost=record.cost, price_source=record.price_source.value,
                 request_id=record.request_id, digest=usage_digest(record))  # issue 14: the chain covers the row
    verdict = None
    if firewall is not None:
        verdict = firewall.after_record(cast("FirewallUnitOfWork", uow), record,
                                        project=session.working_directory, now=now)
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


def background_session(uow: UnitOfWork, *, scope: str, now: datetime) -> Session:
    """The active background session, created (and audited) in `uow` when there is none."""
    existing = uow.sessions.find_by_name(BACKGROUND_SESSION_NAME, status="active")
    if existing is not None:
        return existing
    session = uow.sessions.add(NewSession(name=BACKGROUND_SESSION_NAME, start_time=now, working_directory=scope))
    audit_record(uow, "session.start", actor="system", at=now, session_id=session.id, name=session.name,
                 scope=scope)
    return session
