"""Pricing use cases: list built-in and custom prices, set and reset overrides."""

from __future__ import annotations

from decimal import Decimal

import attrs

from costhq.application.audit import RecordAuditEvent
from costhq.application.ports.pricing import CustomPriceStore, PriceBook
from costhq.domain.errors import InvalidPricing, NotFound
from costhq.domain.pricing import CustomPrice, PriceCorrection, PriceQuote, custom_key


@attrs.frozen(kw_only=True)
class PriceListing:
    """Prices for `cs pricing list`.

    Attributes:
        custom: the user's overrides.
        builtin: catalogue entries (price corrections applied).
        corrections: every price correction with its state; one that no longer applies carries a
            warning (e.g. the built-in data gained the entry, so the correction can be retired).
    """

    custom: list[CustomPrice]
    builtin: list[PriceQuote]
    corrections: list[PriceCorrection] = attrs.field(factory=list)


@attrs.frozen
class ListPrices:
    """Built-in catalogue entries (filtered) and every custom override."""

    prices: PriceBook
    custom: CustomPriceStore

    def __call__(self, *, provider: str | None = None, search: str | None = None) -> PriceListing:
        needle = (search or "").lower()
        custom = [c for c in self.custom.all() if needle in c.key.lower()]
        if provider:
            custom = [c for c in custom if c.key.lower().startswith(provider.lower() + "/")]
        return PriceListing(custom=custom, builtin=list(self.prices.builtin(provider=provider, search=search)),
                            corrections=self.prices.corrections())


@attrs.frozen
class SetCustomPrice:
    """Store an override (USD per 1M tokens), namespaced by provider when given; unset cache rates
    fall back as `CustomPrice` says (1-hour writes: the 5-minute rate, else the input rate)."""

    custom: CustomPriceStore
    audit: RecordAuditEvent | None = None  # issue 4: pricing.json is outside the DB: audited after the write

    def __call__(
        self,
        *,
        model: str,
        input_per_1m: Decimal,
        output_per_1m: Decimal,
        provider: str | None = None,
        cache_read_per_1m: Decimal | None = None,
        cache_write_per_1m: Decimal | None = None,
        cache_write_1h_per_1m: Decimal | None = None,
    ) -> CustomPrice:
        try:
            price = CustomPrice(
                key=custom_key(model, provider),
                input=input_per_1m,
                output=output_per_1m,
                cache_read=cache_read_per_1m,
                cache_write=cache_write_per_1m,
                cache_write_1h=cache_write_1h_per_1m,
            )
        except ValueError as exc:
            raise InvalidPricing(str(exc)) from exc
        self.custom.put(price)
        if self.audit is not None:
            self.audit(event="pricing.set", actor="cli", payload={
                "key": price.key, "input": price.input, "output": price.output, "cache_read": price.cache_read,
                "cache_write": price.cache_write, "cache_write_1h": price.cache_write_1h})
        return price


@attrs.frozen
class ResetPricing:
    """Remove one override (`model`, optionally namespaced) or all of them."""

    custom: CustomPriceStore
    audit: RecordAuditEvent | None = None  # issue 4: audited after the file write

    def __call__(self, *, model: str | None = None, provider: str | None = None) -> int:
        key = None if model is None else custom_key(model, provider)
        if key is None:
            removed = self.custom.clear()
        elif not self.custom.remove(key):
            raise NotFound(f"No custom price for {key}")
        else:
            removed = 1
        if self.audit is not None:
            self.audit(event="pricing.reset", actor="cli", payload={"key": key, "removed": removed})
        return removed
