"""The PriceBook port: custom overrides (`pricing.json`) first, then the built-in catalogue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Protocol

from costhq.application.ports.pricing import CustomPriceStore
from costhq.domain.pricing import CustomPrice, PriceCorrection, PriceQuote, PriceSource, lookup_keys


class Catalog(Protocol):
    """Built-in prices: `PriceCatalog` (genai-prices) or the in-memory fake."""

    def find(self, provider: str, model: str, at: datetime) -> PriceQuote | None: ...
    def entries(
        self, at: datetime, *, provider: str | None = None, search: str | None = None
    ) -> Iterator[PriceQuote]: ...
    def corrections(self, at: datetime) -> list[PriceCorrection]: ...
    def load(self) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CatalogPriceBook:
    """PriceBook: custom `provider/model`, custom `model` (case-insensitive), then the catalogue.

    The custom store is read only when a quote needs it; the catalogue is consulted only when no
    override matches, so an overridden model never loads the built-in index.
    """

    def __init__(
        self, catalog: Catalog, custom: CustomPriceStore, *, now: Callable[[], datetime] = _utc_now
    ) -> None:
        self._catalog = catalog
        self._custom = custom
        self._now = now

    def load(self) -> None:
        """Load the catalogue now (a long-running front end does it at start, not on its first call)."""
        self._catalog.load()
        self._custom.all()

    def quote(self, provider: str, model: str, at: datetime | None = None) -> PriceQuote | None:
        """The price for a call made at `at` (default: now); None when no price is known."""
        return self.custom_quote(provider, model) or self._catalog.find(provider, model, at or self._now())

    def custom_quote(self, provider: str, model: str) -> PriceQuote | None:
        """The user's override for (provider, model), if any."""
        prices = self._custom.all()
        if not prices:
            return None
        exact: dict[str, CustomPrice] = {p.key: p for p in prices}
        folded: dict[str, CustomPrice] = {}
        for p in prices:
            folded.setdefault(p.key.lower(), p)
        for key in lookup_keys(provider, model):
            hit = exact.get(key) or folded.get(key.lower())
            if hit is not None:
                namespace = provider.strip().lower()
                owner = namespace if hit.key.lower().startswith(namespace + "/") else None
                return PriceQuote(
                    source=PriceSource.CUSTOM, key=hit.key, price=hit.as_model_price(), provider=owner
                )
        return None

    def builtin(self, *, provider: str | None = None, search: str | None = None) -> Iterator[PriceQuote]:
        """Catalogue entries at their current prices, for `cs pricing list`."""
        return self._catalog.entries(self._now(), provider=provider, search=search)

    def corrections(self) -> list[PriceCorrection]:
        """The price corrections of the built-in data and where each stands today."""
        return self._catalog.corrections(self._now())
