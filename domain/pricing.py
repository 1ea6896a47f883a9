"""Prices and the cost engine.

Rules (DESIGN §4): token classes are disjoint here — `input` is *uncached* input;
cache reads and cache writes (5m / 1h) are separate classes, each with its own rate.
Long-context tiers are cliff tiers: once the request's total input (incl. cache)
passes a threshold, every token of that class pays the tier rate.
"""

from __future__ import annotations

import enum
from datetime import date
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
        correction: id of the price correction that amended the built-in rates, if one did.
    """

    source: PriceSource
    key: str
    price: ModelPrice
    provider: str | None = None
    correction: str | None = None


class CorrectionState(enum.Enum):
    """How a price correction stands against the installed built-in data."""

    APPLIED = "applied"
    """The built-in entry still lacks the correction: the correction prices the model."""
    IN_BUILT_IN = "in-built-in"
    """The built-in data now has the corrected rates itself: it wins, and the correction can be retired."""
    BASE_CHANGED = "base-changed"
    """The built-in base rates are no longer the reviewed ones: not applied until reviewed again."""
    MODEL_MISSING = "model-missing"
    """The built-in data no longer has the model: nothing to correct."""


@attrs.frozen(kw_only=True)
class PriceCorrection:
    """A reviewed correction of the built-in price data, and its state against the installed data.

    Attributes:
        id: stable id of the correction.
        provider: catalogue provider id.
        model: catalogue model id (every ref that resolves to it is corrected).
        summary: what the correction adds.
        source: where the corrected price is published (provider's price page).
        checked: the day the source was last read.
        state: applied, or why it no longer applies.
    """

    id: str
    provider: str
    model: str
    summary: str
    source: str
    checked: date
    state: CorrectionState

    @property
    def warning(self) -> str | None:
        """What to tell the maintainer when the correction no longer applies (None while it does)."""
        if self.state is CorrectionState.APPLIED:
            return None
        reason = {
            CorrectionState.IN_BUILT_IN: "the built-in price data now has this entry; retire the correction",
            CorrectionState.BASE_CHANGED: "the built-in base rates changed since it was reviewed; "
            "it is not applied until reviewed again",
            CorrectionState.MODEL_MISSING: "the built-in price data no longer has this model",
        }[self.state]
        return f"price correction {self.id} ({self.provider}/{self.model}): {reason}"


@attrs.frozen(kw_only=True)
class CustomPrice:
    """A user override from `cs pricing set` (USD per 1M tokens).

    Attributes:
        key: `model` or `provider/model`.
        cache_write: 5-minute cache writes (unset: the input rate).
        cache_write_1h: 1-hour cache writes (unset: the 5-minute rate, else the input rate).
    """

    key: str
    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None

    def __attrs_post_init__(self) -> None:
        if not self.key.strip():
            raise ValueError("model name must not be empty")
        for v in (self.input, self.output, self.cache_read, self.cache_write, self.cache_write_1h):
            if v is not None and (not v.is_finite() or v < 0):
                raise ValueError("prices must be finite and not negative")

    def as_model_price(self) -> ModelPrice:
        """Flat (untiered) rates."""

        def flat(value: Decimal | None) -> Rate | None:
            return None if value is None else Rate(value)

        return ModelPrice(
            input=Rate(self.input),
            output=Rate(self.output),
            cache_read=flat(self.cache_read),
            cache_write=flat(self.cache_write),
            cache_write_1h=flat(self.cache_write_1h),
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


__all__ = [
    "CorrectionState", "CustomPrice", "ModelPrice", "PriceCorrection", "PriceQuote", "PriceSource", "Rate",
    "custom_key", "lookup_keys",
]
