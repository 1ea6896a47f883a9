"""Catalogue contract: the dict-based fake and the genai-prices index answer alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from costhq.adapters.persistence.memory.prices import InMemoryCatalog
from costhq.adapters.persistence.price_book import Catalog
from costhq.adapters.persistence.price_catalog import PriceCatalog
from costhq.domain.pricing import CorrectionState, ModelPrice, PriceCorrection, PriceSource, Rate
from costhq.domain.usage import TokenCounts

D = Decimal
AT = datetime(2026, 2, 1, 12, tzinfo=UTC)
CALL = TokenCounts(input=8000, output=2000)


def fake() -> InMemoryCatalog:
    long_context = PriceCorrection(id="anthropic/claude-sonnet-4/long-context", provider="anthropic",
                                   model="claude-sonnet-4", summary="tier", source="https://example.test",
                                   checked=date(2026, 12, 4), state=CorrectionState.APPLIED)
    return InMemoryCatalog(
        {
            ("anthropic", "claude-sonnet-4"): ModelPrice(input=Rate(D(3)), output=Rate(D(15))),
            ("openai", "gpt-4o"): ModelPrice(
                input=Rate(D("2.5")), output=Rate(D(10)), cache_read=Rate(D("1.25"))
            ),
        },
        corrections=[long_context],
    )


@pytest.fixture(scope="module", params=["in_memory", "genai_prices"])
def catalog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    if request.param == "in_memory":
        return fake()
    return PriceCatalog(tmp_path_factory.mktemp("cache"))


def test_a_known_model_is_quoted_as_built_in(catalog: Catalog) -> None:
    quote = catalog.find("anthropic", "claude-sonnet-4", AT)
    assert quote is not None
    assert quote.source is PriceSource.BUILT_IN
    assert quote.provider == "anthropic"
    assert quote.price.cost(CALL) == D("0.054")


def test_lookup_ignores_case_and_surrounding_space(catalog: Catalog) -> None:
    quote = catalog.find(" OpenAI", "GPT-4o ", AT)
    assert quote is not None and quote.price.cost(CALL) == D("0.04")


@pytest.mark.parametrize(
    ("provider", "ref"), [("openai", "openai/gpt-4o"), ("", "openai/gpt-4o"), ("litellm", "openai/gpt-4o")]
)
def test_provider_prefixed_refs_resolve(catalog: Catalog, provider: str, ref: str) -> None:
    quote = catalog.find(provider, ref, AT)
    assert quote is not None and quote.provider == "openai" and quote.price.cost(CALL) == D("0.04")


def test_a_model_under_an_unknown_provider_is_still_found(catalog: Catalog) -> None:
    quote = catalog.find("my-gateway", "gpt-4o", AT)
    assert quote is not None and quote.price.cost(CALL) == D("0.04")


def test_an_unknown_model_has_no_quote(catalog: Catalog) -> None:
    assert catalog.find("openai", "no-such-model-xyz", AT) is None
    assert catalog.find("no-such-provider", "no-such-model-xyz", AT) is None


def test_entries_filter_by_provider_and_search(catalog: Catalog) -> None:
    found = list(catalog.entries(AT, provider="openai", search="GPT-4O"))
    assert found and {q.provider for q in found} == {"openai"}
    assert "gpt-4o" in {q.key for q in found}
    assert all("gpt-4o" in q.key.lower() for q in found)
    assert all(q.source is PriceSource.BUILT_IN for q in found)


def test_entries_of_an_unknown_provider_or_search_are_empty(catalog: Catalog) -> None:
    assert list(catalog.entries(AT, provider="no-such-provider")) == []
    assert list(catalog.entries(AT, search="no-such-model-xyz")) == []


def test_entries_without_filters_list_every_provider(catalog: Catalog) -> None:
    assert {"anthropic", "openai"} <= {q.provider for q in catalog.entries(AT)}


def test_an_applied_correction_is_named_on_the_quotes_it_amends(catalog: Catalog) -> None:
    reports = catalog.corrections(AT)
    assert [(r.id, r.state) for r in reports] == [
        ("anthropic/claude-sonnet-4/long-context", CorrectionState.APPLIED)]
    quote = catalog.find("anthropic", reports[0].model, AT)
    assert quote is not None and quote.correction == reports[0].id
    other = catalog.find("openai", "gpt-4o", AT)
    assert other is not None and other.correction is None
