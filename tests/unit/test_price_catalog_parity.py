"""Our cached index prices exactly as genai-prices does (the reference), model by model."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from genai_prices.data import providers as genai_providers

from costhq.adapters.persistence.price_catalog import PriceCatalog
from costhq.domain.money import quantize
from costhq.domain.pricing import PriceSource
from costhq.domain.usage import TokenCounts

D = Decimal
USAGES = [
    TokenCounts(input=1000, output=500),
    TokenCounts(
        input=3000, cache_read=20_000, cache_write_5m=4000, cache_write_1h=2000, output=1500, reasoning=700
    ),
    TokenCounts(
        input=150_000, cache_read=55_000, cache_write_5m=1000, output=5000
    ),  # 206k input: past the cliff
    TokenCounts(cache_read=1_000_000, output=1),
]
TIMES = [
    datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 3, 1, 2, 0, tzinfo=UTC),  # inside DeepSeek's 01:00-04:00 window
    datetime(2026, 4, 1, 20, 0, tzinfo=UTC),
]
# Charged per request, which our token-only rates do not model (see price_catalog's docstring).
PER_REQUEST = "requests_kcount"


def genai_usage(tokens: TokenCounts) -> genai_prices.Usage:
    """Our disjoint classes as genai-prices' usage, whose input_tokens include every cache class."""
    values = {"input_tokens": tokens.total_input, "output_tokens": tokens.output}
    if tokens.cache_read:
        values["cache_read_tokens"] = tokens.cache_read
    if tokens.cache_write:
        values["cache_write_tokens"] = tokens.cache_write
    if tokens.cache_write_1h:
        values["cache_write_1h_tokens"] = tokens.cache_write_1h
    return genai_prices.Usage(**values)


def reference(provider: str, model: str, tokens: TokenCounts, at: datetime) -> tuple[str, Decimal]:
    calc = genai_prices.calc_price(
        genai_usage(tokens), model, provider_id=provider, genai_request_timestamp=at
    )
    return calc.model.id, quantize(calc.total_price)


def _token_priced(provider: str, model: str, at: datetime) -> bool:
    calc = genai_prices.calc_price(
        genai_usage(USAGES[0]), model, provider_id=provider, genai_request_timestamp=at
    )
    prices = {k for k, v in vars(calc.model_price).items() if v is not None}
    return not prices or bool(prices & {"input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok"})


def _charges_per_request(model: Any) -> bool:
    prices = model.prices if isinstance(model.prices, list) else [model]
    return any(getattr(p.prices, PER_REQUEST, None) is not None for p in prices)


def _sample(n: int) -> list[tuple[str, str]]:
    refs = [(p.id, m.id) for p in genai_providers for m in p.models if not _charges_per_request(m)]
    return random.Random(20260213).sample(refs, n)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> PriceCatalog:
    # Without the reviewed price corrections (tests/unit/test_price_corrections.py checks those).
    return PriceCatalog(tmp_path_factory.mktemp("cache"), corrections=dict)


def test_a_broad_sample_of_models_costs_exactly_what_genai_prices_says(catalog: PriceCatalog) -> None:
    compared = unpriced = 0
    for provider, model in _sample(200):
        for at in TIMES:
            quote = catalog.find(provider, model, at)
            try:
                token_priced = _token_priced(provider, model, at)
            except LookupError:
                continue  # a model whose own id does not match its clause: nothing to compare
            if quote is None:  # only models priced in other units (audio hours, pages) are unpriced
                assert not token_priced, (provider, model)
                unpriced += 1
                continue
            for tokens in USAGES:
                expected = reference(provider, model, tokens, at)
                assert (quote.key, quote.price.cost(tokens)) == expected, (provider, model, at, tokens)
                compared += 1
    assert compared > 2000 and unpriced < 30, (compared, unpriced)


def test_every_anthropic_openai_and_google_model_matches_genai_prices(catalog: PriceCatalog) -> None:
    at = datetime(2026, 2, 1, tzinfo=UTC)
    for p in genai_providers:
        if p.id not in ("anthropic", "openai", "google"):
            continue
        for m in p.models:
            quote = catalog.find(p.id, m.id, at)
            if quote is None or _charges_per_request(m):
                continue
            for tokens in USAGES:
                assert (quote.key, quote.price.cost(tokens)) == reference(p.id, m.id, tokens, at), (
                    p.id,
                    m.id,
                )


@pytest.mark.parametrize(
    ("provider", "ref", "expected_key"),
    [
        ("anthropic", "claude-sonnet-4", "claude-sonnet-4-0"),
        ("anthropic", "claude-opus-4-6", "claude-opus-4-6"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("openai", "gpt-4o", "gpt-4o"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-5.2-20251211", "gpt-5.2"),  # compact date read as 2025-12-11
        ("google", "gemini-2.5-pro", "gemini-2.5-pro"),
    ],
)
def test_common_refs_resolve_like_genai_prices(
    catalog: PriceCatalog, provider: str, ref: str, expected_key: str
) -> None:
    at = datetime(2026, 2, 1, tzinfo=UTC)
    quote = catalog.find(provider, ref, at)
    assert quote is not None
    assert quote.key == expected_key == reference(provider, ref, USAGES[0], at)[0]
    assert quote.source is PriceSource.BUILT_IN


def test_time_of_day_prices_follow_the_call_time_like_genai_prices(catalog: PriceCatalog) -> None:
    for hour in (2, 12, 20):
        at = datetime(2026, 2, 1, hour, tzinfo=UTC)
        for model in ("deepseek-chat", "deepseek-reasoner", "deepseek-v4-pro"):
            quote = catalog.find("deepseek", model, at)
            assert quote is not None
            assert quote.price.cost(USAGES[1]) == reference("deepseek", model, USAGES[1], at)[1]


def test_the_sample_helper_is_deterministic() -> None:
    assert _sample(5) == _sample(5)


def test_the_usage_conversion_counts_cache_tokens_inside_genai_input() -> None:
    usage = genai_usage(TokenCounts(input=10, cache_read=20, cache_write_5m=30, cache_write_1h=40, output=5))
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (100, 20, 70)
    assert (usage.cache_write_1h_tokens, usage.output_tokens) == (40, 5)


def test_free_listings_cost_zero_as_genai_prices_says(catalog: PriceCatalog) -> None:
    at = datetime(2026, 2, 1, tzinfo=UTC)
    free = catalog.find("openrouter", "meta-llama/llama-3.3-70b-instruct:free", at)
    assert free is not None
    assert free.price.cost(USAGES[1]) == 0 == reference("openrouter", free.key, USAGES[1], at)[1]


def test_a_blind_search_never_settles_on_a_free_listing(catalog: PriceCatalog) -> None:
    quote = catalog.find("some-router", "meta-llama/llama-3.3-70b-instruct", datetime(2026, 2, 1, tzinfo=UTC))
    assert quote is not None
    assert quote.price.cost(USAGES[0]) > 0


def test_models_priced_only_in_other_units_are_unpriced_never_free(catalog: PriceCatalog) -> None:
    at = datetime(2026, 2, 1, tzinfo=UTC)
    assert catalog.find("openai", "whisper-1", at) is None
    assert catalog.find("mistral", "mistral-ocr-latest", at) is None
