"""PriceBook contract: custom overrides first (`provider/model`, then `model`), then built-ins."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from costhq.adapters.persistence.custom_prices import JsonCustomPriceStore
from costhq.adapters.persistence.memory.prices import InMemoryCatalog, InMemoryCustomPriceStore
from costhq.adapters.persistence.price_book import CatalogPriceBook
from costhq.adapters.persistence.price_catalog import PriceCatalog
from costhq.application.ports.pricing import CustomPriceStore, PriceBook
from costhq.domain.pricing import CustomPrice, ModelPrice, PriceSource, Rate
from costhq.domain.usage import TokenCounts

D = Decimal
CALL = TokenCounts(input=8000, output=2000)
NOW = datetime(2026, 2, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def real_catalog(tmp_path_factory: pytest.TempPathFactory) -> PriceCatalog:
    return PriceCatalog(tmp_path_factory.mktemp("cache"))


@pytest.fixture(params=["in_memory", "real"])
def book(
    request: pytest.FixtureRequest, tmp_path: Path, real_catalog: PriceCatalog
) -> tuple[PriceBook, CustomPriceStore]:
    if request.param == "in_memory":
        store: CustomPriceStore = InMemoryCustomPriceStore()
        catalog = InMemoryCatalog(
            {
                ("anthropic", "claude-sonnet-4"): ModelPrice(input=Rate(D(3)), output=Rate(D(15))),
                ("openai", "gpt-4o"): ModelPrice(input=Rate(D("2.5")), output=Rate(D(10))),
            }
        )
        return CatalogPriceBook(catalog, store, now=lambda: NOW), store
    store = JsonCustomPriceStore(tmp_path / "pricing.json")
    return CatalogPriceBook(real_catalog, store, now=lambda: NOW), store


def test_without_overrides_the_built_in_price_is_used(book: tuple[PriceBook, CustomPriceStore]) -> None:
    prices, _ = book
    quote = prices.quote("anthropic", "claude-sonnet-4")
    assert quote is not None and quote.source is PriceSource.BUILT_IN
    assert quote.price.cost(CALL) == D("0.054")


def test_a_custom_model_price_overrides_the_built_in(book: tuple[PriceBook, CustomPriceStore]) -> None:
    prices, custom = book
    custom.put(CustomPrice(key="gpt-4o", input=D(1), output=D(1)))
    quote = prices.quote("openai", "gpt-4o")
    assert quote is not None and quote.source is PriceSource.CUSTOM and quote.key == "gpt-4o"
    assert quote.price.cost(CALL) == D("0.01")


def test_provider_model_wins_over_model(book: tuple[PriceBook, CustomPriceStore]) -> None:
    prices, custom = book
    custom.put(CustomPrice(key="gpt-4o", input=D(1), output=D(1)))
    custom.put(CustomPrice(key="azure/gpt-4o", input=D(3), output=D(12)))
    azure = prices.quote("Azure", "gpt-4o")
    assert azure is not None and azure.key == "azure/gpt-4o" and azure.provider == "azure"
    plain = prices.quote("openai", "gpt-4o")
    assert plain is not None and plain.key == "gpt-4o"


def test_custom_keys_match_case_insensitively(book: tuple[PriceBook, CustomPriceStore]) -> None:
    prices, custom = book
    custom.put(CustomPrice(key="My-FT-Model", input=D(5), output=D(15)))
    quote = prices.quote("openai", "my-ft-model")
    assert quote is not None and quote.source is PriceSource.CUSTOM and quote.price.cost(CALL) == D("0.07")


def test_an_unknown_model_is_unpriced_until_a_custom_price_exists(
    book: tuple[PriceBook, CustomPriceStore],
) -> None:
    prices, custom = book
    assert prices.quote("acme", "my-ft-model") is None
    custom.put(CustomPrice(key="my-ft-model", input=D(5), output=D(15)))
    quote = prices.quote("acme", "my-ft-model")
    assert quote is not None and quote.source is PriceSource.CUSTOM


def test_removing_an_override_restores_the_built_in(book: tuple[PriceBook, CustomPriceStore]) -> None:
    prices, custom = book
    custom.put(CustomPrice(key="openai/gpt-4o", input=D(1), output=D(1)))
    custom.remove("openai/gpt-4o")
    quote = prices.quote("openai", "gpt-4o")
    assert quote is not None and quote.source is PriceSource.BUILT_IN and quote.price.cost(CALL) == D("0.04")


def test_builtin_lists_catalogue_prices_only(book: tuple[PriceBook, CustomPriceStore]) -> None:
    prices, custom = book
    custom.put(CustomPrice(key="anthropic/claude-sonnet-4", input=D(1), output=D(1)))
    listed = list(prices.builtin(provider="anthropic", search="sonnet-4"))
    assert listed and all(q.source is PriceSource.BUILT_IN and q.provider == "anthropic" for q in listed)


def test_a_custom_price_replaces_a_corrected_built_in_one(book: tuple[PriceBook, CustomPriceStore]) -> None:
    prices, custom = book
    custom.put(CustomPrice(key="anthropic/claude-sonnet-4", input=D(3), output=D(15), cache_write_1h=D(6)))
    quote = prices.quote("anthropic", "claude-sonnet-4")
    assert quote is not None and (quote.source, quote.correction) == (PriceSource.CUSTOM, None)
    # flat: a custom price has no long-context tier (250k x 3 + 1k x 15 + 10k x 6, per 1M)
    assert quote.price.cost(TokenCounts(input=250_000, cache_write_1h=10_000, output=1000)) == D("0.825")
    assert all(c.id for c in prices.corrections())
