"""Prices and the cost engine.

Rules (DESIGN §4): token classes are disjoint here — `input` is *uncached* input;
cache reads and cache writes (5m / 1h) are separate classes, each with its own rate.
Long-context tiers are cliff tiers: once the request's total input (incl. cache)
passes a threshold, every token of that class pays the tier rate.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from costhq.domain.money import ZERO, quantize
from costhq.domain.usage import TokenCounts

PER_MILLION = Decimal(1_000_000)


class PriceSource(enum.Enum):
    """Where the price of a usage record came from."""

    BUILT_IN = "built-in"
    CUSTOM = "custom"
    MANUAL = "manual"
    UNPRICED = "unpriced"
    LOCAL = "local"


@attrs.frozen
class Rate:
    """USD per 1M tokens, with optional cliff tiers.

    Attributes:
        base: price below the first threshold.
        tiers: (threshold, price) pairs, ascending; a request whose total input
            exceeds a threshold pays that tier's price for all tokens of the class.
    """

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.base < 0 or any(p < 0 for _, p in self.tiers):
            raise ValueError("prices must not be negative")
        starts = [start for start, _ in self.tiers]
        if starts != sorted(starts) or any(start < 0 for start in starts):
            # `at` keeps the last tier passed, so an unsorted list would pick a lower tier.
            raise ValueError("tier thresholds must be ascending and not negative")

    def at(self, total_input: int) -> Decimal:
        """The per-1M price for a request with this much total input."""
        price = self.base
        for start, tier_price in self.tiers:
            if total_input > start:
                price = tier_price
        return price


@attrs.frozen(kw_only=True)
class ModelPrice:
    """Rates for one model. A missing cache rate falls back to the input rate.

    Attributes:
        input: uncached input tokens.
        output: output tokens (reasoning tokens are billed as output).
        cache_read: cache-hit input tokens.
        cache_write: 5-minute cache writes.
        cache_write_1h: 1-hour cache writes.
    """

    input: Rate
    output: Rate
    cache_read: Rate | None = None
    cache_write: Rate | None = None
    cache_write_1h: Rate | None = None

    def cost(self, tokens: TokenCounts) -> Decimal:
        """Exact cost of one request (cliff tiers keyed on total input incl. cache)."""
        total_in = tokens.total_input
        parts = (
            (tokens.input, self.input),
            (tokens.output, self.output),
            (tokens.cache_read, self.cache_read or self.input),
            (tokens.cache_write_5m, self.cache_write or self.input),
            (tokens.cache_write_1h, self.cache_write_1h or self.cache_write or self.input),
        )
        total = ZERO
        for count, rate in parts:
            if count:
                total += Decimal(count) * rate.at(total_in) / PER_MILLION
        return quantize(total)

    def rates_at(self, total_input: int) -> dict[str, Decimal]:
        """The effective per-1M rates for a request of this size (for display)."""
        out = {"inputPer1M": self.input.at(total_input), "outputPer1M": self.output.at(total_input)}
        if self.cache_read:
            out["cacheReadPer1M"] = self.cache_read.at(total_input)
        if self.cache_write:
            out["cacheWritePer1M"] = self.cache_write.at(total_input)
        if self.cache_write_1h:
            out["cacheWrite1hPer1M"] = self.cache_write_1h.at(total_input)
        return out

    def worst_case(self, input_tokens: int, output_tokens: int) -> Decimal:
        """Upper bound for a request: all input uncached at the highest applicable tier."""
        return self.cost(TokenCounts(input=input_tokens, output=output_tokens))


@attrs.frozen(kw_only=True)
class PriceQuote:
    """The price the book found for (provider, model).

    Attributes:
        source: built-in or custom.
        key: the key that matched (`provider/model`, `model`, or the catalogue id).
        price: the rates.
        provider: provider id of the catalogue entry, when known.
    """

    source: PriceSource
    key: str
    price: ModelPrice
    provider: str | None = None


@attrs.frozen(kw_only=True)
class CustomPrice:
    """A user override from `cs pricing set` (USD per 1M tokens).

    Attributes:
        key: `model` or `provider/model`.
    """

    key: str
    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    def __attrs_post_init__(self) -> None:
        if not self.key.strip():
            raise ValueError("model name must not be empty")
        for v in (self.input, self.output, self.cache_read, self.cache_write):
            if v is not None and (not v.is_finite() or v < 0):
                raise ValueError("prices must be finite and not negative")

    def as_model_price(self) -> ModelPrice:
        """Flat (untiered) rates."""
        return ModelPrice(
            input=Rate(self.input),
            output=Rate(self.output),
            cache_read=Rate(self.cache_read) if self.cache_read is not None else None,
            cache_write=Rate(self.cache_write) if self.cache_write is not None else None,
        )


def custom_key(model: str, provider: str | None) -> str:
    """Storage key of an override: `provider/model` when namespaced."""
    return f"{provider.strip().lower()}/{model.strip()}" if provider else model.strip()


def lookup_keys(provider: str, model: str) -> tuple[str, ...]:
    """Keys tried for a custom price, most specific first (spec: provider/model, then model)."""
    p, m = provider.strip().lower(), model.strip()
    keys = [f"{p}/{m}", m]
    if m.lower() != m:
        keys += [f"{p}/{m.lower()}", m.lower()]
    return tuple(dict.fromkeys(keys))


__all__ = ["CustomPrice", "ModelPrice", "PriceQuote", "PriceSource", "Rate", "custom_key", "lookup_keys"]
