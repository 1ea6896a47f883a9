"""LogUsage / pricing use cases on fakes: exact costs, sources, errors that write nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from costhq.adapters.persistence.memory.prices import InMemoryCatalog
from costhq.adapters.persistence.price_book import CatalogPriceBook
from costhq.application.pricing import ListPrices, ResetPricing
from costhq.application.usage import EnsureBackgroundSession, UsageInput
from costhq.domain.errors import InvalidPricing, MissingTokens, NotFound, UnknownModel
from costhq.domain.pricing import CorrectionState, PriceCorrection, PriceSource
from costhq.domain.usage import Origin, TokenCounts
from tests.unit.core_world import REPO, make_world


def _call(**kw: object) -> UsageInput:
    base: dict[str, object] = {"provider": "anthropic", "model": "claude-sonnet-4"}
    return UsageInput(**{**base, **kw})  # type: ignore[arg-type]


def test_built_in_price_gives_the_exact_cost_and_transparency_rates() -> None:
    w = make_world()
    w.start()(name="s", cwd=REPO)
    logged = w.log()(call=_call(tokens=TokenCounts(input=8000, output=2000, cache_read=10_000,
                                                   cache_write_5m=1000, cache_write_1h=500)), cwd=REPO)
    # 8000*3 + 2000*15 + 10000*0.3 + 1000*3.75 + 500*6 = 63750 per 1M
    assert logged.record.cost == Decimal("0.06375")
    assert logged.record.price_source is PriceSource.BUILT_IN
    assert logged.record.total_tokens == 21_500
    assert logged.record.rates["inputPer1M"] == Decimal(3)
    assert (logged.session.ai_cost, logged.session.ai_tokens, logged.session.ai_calls) == (
        Decimal("0.06375"), 21_500, 1)


def test_cliff_tier_applies_to_all_tokens_once_total_input_passes_the_threshold() -> None:
    w = make_world()
    w.start()(name="s", cwd=REPO)
    below = w.log()(call=_call(provider="google", model="tiered-pro",
                               tokens=TokenCounts(input=200_000, output=1000)), cwd=REPO)
    above = w.log()(call=_call(provider="google", model="tiered-pro",
                               tokens=TokenCounts(input=150_000, cache_read=50_001, output=1000)), cwd=REPO)
    assert below.record.cost == Decimal("0.615")  # 200000*3 + 1000*15
    # total input 200,001 > 200,000: every token pays the tier rate; cache_read has no own
    # rate here, so it falls back to the input rate: (150000 + 50001) * 6 + 1000 * 22.5
    assert above.record.cost == Decimal("1.222506")


def test_custom_price_beats_built_in_and_provider_namespace_beats_plain_model() -> None:
    w = make_world()
    w.start()(name="s", cwd=REPO)
    w.set_price()(model="claude-sonnet-4", input_per_1m=Decimal(1), output_per_1m=Decimal(2))
    w.set_price()(model="claude-sonnet-4", provider="anthropic", input_per_1m=Decimal(10), output_per_1m=Decimal(20))
    logged = w.log()(call=_call(tokens=TokenCounts(input=1_000_000, output=1_000_000)), cwd=REPO)
    assert (logged.record.cost, logged.record.price_source, logged.quote.key) == (
        Decimal(30), PriceSource.CUSTOM, "anthropic/claude-sonnet-4")
    other = w.log()(call=_call(provider="bedrock", tokens=TokenCounts(input=1_000_000)), cwd=REPO)
    assert (other.record.cost, other.quote.key) == (Decimal(1), "claude-sonnet-4")


def test_manual_cost_is_kept_as_given() -> None:
    w = make_world()
    w.start()(name="s", cwd=REPO)
    logged = w.log()(call=_call(model="mystery", total_tokens=15000, cost=Decimal("0.30")), cwd=REPO)
    assert (logged.record.cost, logged.record.price_source, logged.record.total_tokens) == (
        Decimal("0.30"), PriceSource.MANUAL, 15000)


def test_unknown_model_without_cost_is_refused_and_nothing_is_written() -> None:
    w = make_world()
    s = w.start()(name="s", cwd=REPO).session
    with pytest.raises(UnknownModel) as err:
        w.log()(call=_call(model="mystery", tokens=TokenCounts(input=1)), cwd=REPO)
    assert err.value.code == "unknown_model"
    with pytest.raises(MissingTokens):
        w.log()(call=_call(total_tokens=5000), cwd=REPO)
    with pytest.raises(MissingTokens):
        w.log()(call=_call(), cwd=REPO)
    with w.uow() as uow:
        assert uow.usage.for_session(s.id) == []


def test_unpriced_allowed_for_automatic_capture_is_flagged_not_zero() -> None:
    w = make_world()
    s = w.start()(name="s", cwd=REPO).session
    logged = w.log()(call=_call(model="mystery", tokens=TokenCounts(input=10), origin=Origin.PROXY),
                     cwd=REPO, allow_unpriced=True)
    assert (logged.record.cost, logged.record.price_source) == (None, PriceSource.UNPRICED)
    assert (logged.session.unpriced_calls, logged.session.ai_cost, logged.session.id) == (1, Decimal(0), s.id)


def test_background_session_is_created_once_and_reused() -> None:
    w = make_world()
    ensure = EnsureBackgroundSession(w.uow, w.clock)
    a, b = ensure(scope="/"), ensure(scope="/")
    assert (a.id, a.name) == (b.id, "Background API Session")


def test_pricing_reset_and_list() -> None:
    w = make_world()
    w.set_price()(model="my-ft", input_per_1m=Decimal(5), output_per_1m=Decimal(15))
    w.set_price()(model="gpt-4o", provider="azure", input_per_1m=Decimal(3), output_per_1m=Decimal(12))
    listing = ListPrices(w.prices, w.custom)(provider="azure")
    assert [c.key for c in listing.custom] == ["azure/gpt-4o"]
    with pytest.raises(NotFound):
        ResetPricing(w.custom)(model="nope")
    assert ResetPricing(w.custom)(model="gpt-4o", provider="azure") == 1
    assert ResetPricing(w.custom)() == 1
    with pytest.raises(InvalidPricing):
        w.set_price()(model="x", input_per_1m=Decimal(-1), output_per_1m=Decimal(1))


def test_a_custom_one_hour_write_rate_prices_one_hour_writes() -> None:
    w = make_world()
    w.start()(name="s", cwd=REPO)
    w.set_price()(model="claude-sonnet-4", provider="anthropic", input_per_1m=Decimal(2), output_per_1m=Decimal(8),
                  cache_write_per_1m=Decimal("2.5"), cache_write_1h_per_1m=Decimal(4))
    logged = w.log()(call=_call(tokens=TokenCounts(input=1000, cache_write_5m=1000, cache_write_1h=1000,
                                                   output=1000)), cwd=REPO)
    assert logged.record.cost == Decimal("0.0165")  # 1000 x (2 + 2.5 + 4 + 8) per 1M
    assert logged.record.rates["cacheWrite1hPer1M"] == Decimal(4)
    assert logged.record.price_source is PriceSource.CUSTOM


def test_the_listing_carries_the_price_corrections_and_their_warnings() -> None:
    w = make_world()
    retired = PriceCorrection(id="p/m/tier", provider="p", model="m", summary="s", source="https://example.test",
                              checked=date(2026, 12, 4), state=CorrectionState.IN_BUILT_IN)
    catalog = InMemoryCatalog({}, corrections=[retired])
    listing = ListPrices(CatalogPriceBook(catalog, w.custom, now=w.clock.now), w.custom)()
    assert listing.corrections == [retired]
    assert listing.corrections[0].warning == (
        "price correction p/m/tier (p/m): the built-in price data now has this entry; retire the correction")
