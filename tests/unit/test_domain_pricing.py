"""Domain pricing rules: rates, cliff tiers, disjoint token classes, custom price keys."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costhq.domain.pricing import CustomPrice, ModelPrice, Rate, custom_key, lookup_keys
from costhq.domain.usage import TokenCounts

D = Decimal
SONNET = ModelPrice(
    input=Rate(D(3)),
    output=Rate(D(15)),
    cache_read=Rate(D("0.3")),
    cache_write=Rate(D("3.75")),
    cache_write_1h=Rate(D(6)),
)
TIERED = ModelPrice(
    input=Rate(D(3), ((200_000, D(6)),)),
    output=Rate(D(15), ((200_000, D("22.5")),)),
    cache_read=Rate(D("0.3"), ((200_000, D("0.6")),)),
)


def test_a_flat_rate_is_the_same_at_any_size() -> None:
    assert Rate(D(3)).at(0) == Rate(D(3)).at(10_000_000) == D(3)


def test_a_cliff_tier_applies_only_above_its_threshold() -> None:
    rate = Rate(D(3), ((200_000, D(6)), (1_000_000, D(9))))
    assert rate.at(200_000) == D(3)
    assert rate.at(200_001) == D(6)
    assert rate.at(1_000_001) == D(9)


def test_negative_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        Rate(D(-1))
    with pytest.raises(ValueError):
        Rate(D(1), ((10, D(-2)),))


def test_tier_thresholds_must_ascend() -> None:
    with pytest.raises(ValueError, match="ascending"):
        Rate(D(3), ((1_000_000, D(9)), (200_000, D(6))))


def test_plain_input_and_output_cost() -> None:
    assert SONNET.cost(TokenCounts(input=8000, output=2000)) == D("0.054")


def test_each_token_class_pays_its_own_rate_and_is_counted_once() -> None:
    tokens = TokenCounts(input=1000, cache_read=10_000, cache_write_5m=2000, cache_write_1h=1000, output=500)
    expected = (1000 * D(3) + 10_000 * D("0.3") + 2000 * D("3.75") + 1000 * D(6) + 500 * D(15)) / 1_000_000
    assert SONNET.cost(tokens) == expected == D("0.027")


def test_reasoning_tokens_are_inside_output_and_never_billed_twice() -> None:
    assert SONNET.cost(TokenCounts(output=1000, reasoning=800)) == SONNET.cost(TokenCounts(output=1000))


def test_missing_cache_rates_fall_back_to_the_input_rate() -> None:
    flat = ModelPrice(input=Rate(D(2)), output=Rate(D(8)))
    assert flat.cost(TokenCounts(cache_read=1_000_000, cache_write_5m=1_000_000)) == D(4)


def test_one_hour_writes_fall_back_to_the_five_minute_write_rate() -> None:
    price = ModelPrice(input=Rate(D(1)), output=Rate(D(1)), cache_write=Rate(D(5)))
    assert price.cost(TokenCounts(cache_write_1h=1_000_000)) == D(5)


def test_the_cliff_is_keyed_on_total_input_including_cache() -> None:
    below = TokenCounts(input=100_000, cache_read=100_000, output=1000)
    above = TokenCounts(input=100_000, cache_read=100_001, output=1000)
    assert TIERED.cost(below) == (100_000 * D(3) + 100_000 * D("0.3") + 1000 * D(15)) / 1_000_000
    assert TIERED.cost(above) == (100_000 * D(6) + 100_001 * D("0.6") + 1000 * D("22.5")) / 1_000_000


def test_cost_is_rounded_to_storage_precision() -> None:
    price = ModelPrice(input=Rate(D("0.0000333")), output=Rate(D(0)))
    assert price.cost(TokenCounts(input=1)) == D("0.0000000000")
    assert price.cost(TokenCounts(input=3)) == D("0.0000000001")


def test_rates_at_show_the_tier_in_force() -> None:
    assert TIERED.rates_at(0) == {"inputPer1M": D(3), "outputPer1M": D(15), "cacheReadPer1M": D("0.3")}
    assert TIERED.rates_at(300_000)["inputPer1M"] == D(6)


def test_worst_case_prices_all_input_as_uncached() -> None:
    assert SONNET.worst_case(1_000_000, 0) == D(3)


def test_custom_prices_are_flat_and_namespaced_in_lower_case() -> None:
    price = CustomPrice(
        key=custom_key("gpt-4o", "OpenAI"), input=D("2.5"), output=D(10), cache_read=D("1.25")
    )
    assert price.key == "openai/gpt-4o"
    assert price.as_model_price().cost(TokenCounts(input=8000, cache_read=8000, output=2000)) == D("0.05")


def test_custom_one_hour_writes_pay_their_own_rate_else_the_five_minute_one() -> None:
    tokens = TokenCounts(input=1000, cache_write_5m=2000, cache_write_1h=4000, output=100)
    with_1h = CustomPrice(key="m", input=D(3), output=D(15), cache_write=D("3.75"), cache_write_1h=D(6))
    # 1000 x 3 + 2000 x 3.75 + 4000 x 6 + 100 x 15, per 1M
    assert with_1h.as_model_price().cost(tokens) == D("0.036")
    assert with_1h.as_model_price().rates_at(0)["cacheWrite1hPer1M"] == D(6)
    # unset: 4000 x 3.75 instead
    assert CustomPrice(key="m", input=D(3), output=D(15), cache_write=D("3.75")).as_model_price().cost(tokens) == D(
        "0.027")


@pytest.mark.parametrize("bad", [D(-1), D("NaN"), D("Infinity")])
def test_custom_prices_must_be_finite_and_not_negative(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        CustomPrice(key="m", input=bad, output=D(1))
    with pytest.raises(ValueError):
        CustomPrice(key="m", input=D(1), output=D(1), cache_write_1h=bad)


def test_lookup_tries_provider_then_model_then_lower_case() -> None:
    assert lookup_keys(" OpenAI ", "gpt-4o") == ("openai/gpt-4o", "gpt-4o")
    assert lookup_keys("azure", "GPT-4o") == ("azure/GPT-4o", "GPT-4o", "azure/gpt-4o", "gpt-4o")
