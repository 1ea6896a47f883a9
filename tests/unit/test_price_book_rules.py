"""CatalogPriceBook rules beyond the port contract: laziness, errors, the call time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from costhq.adapters.persistence.custom_prices import JsonCustomPriceStore
from costhq.adapters.persistence.memory.prices import InMemoryCustomPriceStore
from costhq.adapters.persistence.price_book import CatalogPriceBook
from costhq.domain.errors import InvalidPricing
from costhq.domain.pricing import CustomPrice, ModelPrice, PriceQuote, PriceSource, Rate

D = Decimal
NOW = datetime(2026, 2, 1, 12, tzinfo=UTC)


class RecordingCatalog:
    """A catalogue that remembers the times it was asked about."""

    def __init__(self) -> None:
        self.asked: list[datetime] = []

    def find(self, provider: str, model: str, at: datetime) -> PriceQuote | None:
        self.asked.append(at)
        price = ModelPrice(input=Rate(D(1)), output=Rate(D(1)))
        return PriceQuote(source=PriceSource.BUILT_IN, key=model, price=price, provider=provider)

    def entries(
        self, at: datetime, *, provider: str | None = None, search: str | None = None
    ) -> Iterator[PriceQuote]:
        self.asked.append(at)
        return iter(())


class ExplodingCatalog(RecordingCatalog):
    def find(self, provider: str, model: str, at: datetime) -> PriceQuote | None:
        raise AssertionError("the catalogue must not be consulted")


def test_an_override_never_consults_the_catalogue() -> None:
    store = InMemoryCustomPriceStore([CustomPrice(key="openai/gpt-4o", input=D(1), output=D(2))])
    quote = CatalogPriceBook(ExplodingCatalog(), store).quote("openai", "gpt-4o")
    assert quote is not None and quote.source is PriceSource.CUSTOM


def test_the_catalogue_is_asked_for_the_price_at_the_call_time() -> None:
    catalog = RecordingCatalog()
    book = CatalogPriceBook(catalog, InMemoryCustomPriceStore(), now=lambda: NOW)
    then = datetime(2024, 5, 1, tzinfo=UTC)
    book.quote("openai", "gpt-4o", then)
    book.quote("openai", "gpt-4o")
    list(book.builtin())
    assert catalog.asked == [then, NOW, NOW]


def test_a_malformed_pricing_file_fails_the_quote_instead_of_being_ignored(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    path.write_text('{"gpt-4o": {"input": "free"}}')
    book = CatalogPriceBook(RecordingCatalog(), JsonCustomPriceStore(path))  # building reads nothing
    with pytest.raises(InvalidPricing, match=r"pricing\.json"):
        book.quote("openai", "gpt-4o")


def test_a_plain_model_key_is_not_attributed_to_the_asking_provider() -> None:
    store = InMemoryCustomPriceStore([CustomPrice(key="my-model", input=D(1), output=D(2))])
    quote = CatalogPriceBook(ExplodingCatalog(), store).quote("acme", "my-model")
    assert quote is not None and quote.provider is None and quote.key == "my-model"
