"""What an edge reports about one AI call (`UsageInput`), its price at record time, and its record.

Kept apart from the recording pipeline (application/usage.py, which re-exports these names) so each
module stays one concept: this one prices, that one records.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from costhq.application.ports.pricing import PriceBook
from costhq.domain.errors import CostHQError, InvalidArgument, MissingTokens, UnknownModel
from costhq.domain.pricing import PriceQuote, PriceSource
from costhq.domain.usage import Origin, TokenCounts, UsageRecord


@attrs.frozen(kw_only=True)
class UsageInput:
    """One AI call as reported by an edge (CLI flags, proxy, library, importer).

    Attributes:
        provider: provider id.
        model: model as requested.
        tokens: disjoint token classes.
        total_tokens: a reported total when no split is known (`cs log-ai -t`).
        cost: explicit USD cost (source `manual`); computed from prices when None.
        request_id: legacy: the only key of calls spooled before call keys existed (see
            application/identity.py `keyed`); new calls leave it None.
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


def price_or_error(prices: PriceBook, call: UsageInput, *, allow_unpriced: bool) -> Priced | CostHQError:
    """`price_usage`, its error returned instead of raised: the recording pipeline raises it only once
    the unit of work has said the model is not a registered local one (priced by compute time)."""
    try:
        return price_usage(prices, call, allow_unpriced=allow_unpriced)
    except CostHQError as exc:
        return exc


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
