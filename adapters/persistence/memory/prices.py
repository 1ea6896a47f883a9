"""In-memory pricing adapters (verified fakes): a custom price store and a dict-based catalogue.

Use-case tests use these so they never load genai-prices; tests/contract checks they behave
like `JsonCustomPriceStore` and `PriceCatalog`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from costhq.domain.pricing import CorrectionState, CustomPrice, ModelPrice, PriceCorrection, PriceQuote, PriceSource


class InMemoryCustomPriceStore:
    """CustomPriceStore in a dict, in insertion order (like the JSON file)."""

    def __init__(self, prices: Iterable[CustomPrice] = ()) -> None:
        self._prices = {p.key: p for p in prices}

    def all(self) -> list[CustomPrice]:
        return list(self._prices.values())

    def put(self, price: CustomPrice) -> None:
        self._prices[price.key] = price

    def remove(self, key: str) -> bool:
        return self._prices.pop(key, None) is not None

    def clear(self) -> int:
        count = len(self._prices)
        self._prices.clear()
        return count


class InMemoryCatalog:
    """A catalogue from `{(provider, model): ModelPrice}`.

    Lookup is case-insensitive: the named provider first, then `provider/model` refs split at the
    slash, then the model under any provider. Prices do not change over time. Its prices are taken
    as already corrected: `corrections` reports the ones it is given, and quotes of a model with an
    applied correction carry its id.
    """

    def __init__(self, prices: Mapping[tuple[str, str], ModelPrice] | None = None,
                 corrections: Iterable[PriceCorrection] = ()) -> None:
        self._prices = {(p.lower(), m.lower()): (p, m, price) for (p, m), price in (prices or {}).items()}
        self._corrections = list(corrections)

    def load(self) -> None:
        """Nothing to load: the prices are in memory."""

    def find(self, provider: str, model: str, at: datetime) -> PriceQuote | None:
        pid, ref = provider.strip().lower(), model.strip().lower()
        head, slash, rest = ref.partition("/")
        candidates = [(pid, ref)] + ([(pid, rest), (head, rest)] if slash else [])
        for key in candidates:
            if key in self._prices:
                return self._quote(key)
        for key in self._prices:
            if key[1] in (ref, rest if slash else ref):
                return self._quote(key)
        return None

    def entries(
        self, at: datetime, *, provider: str | None = None, search: str | None = None
    ) -> Iterator[PriceQuote]:
        needle = (search or "").lower()
        for key in self._prices:
            if (provider is None or key[0] == provider.strip().lower()) and needle in key[1]:
                yield self._quote(key)

    def corrections(self, at: datetime) -> list[PriceCorrection]:
        return list(self._corrections)

    def _quote(self, key: tuple[str, str]) -> PriceQuote:
        provider, model, price = self._prices[key]
        applied = next((c.id for c in self._corrections if c.state is CorrectionState.APPLIED
                        and (c.provider.lower(), c.model.lower()) == key), None)
        return PriceQuote(source=PriceSource.BUILT_IN, key=model, price=price, provider=provider, correction=applied)
