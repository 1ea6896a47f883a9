"""The price-correction overlay: each entry sourced, dated and tested; it steps aside (with a
warning) once the built-in data has the entry itself or changed under it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costhq.adapters.persistence.price_catalog import PriceCatalog, build_index
from costhq.adapters.persistence.price_corrections import DATA, SLOTS, load_corrections
from costhq.domain.pricing import CorrectionState
from costhq.domain.usage import TokenCounts

D = Decimal
AT = datetime(2026, 12, 1, tzinfo=UTC)
SONNET_4 = "anthropic/claude-sonnet-4/long-context"


@pytest.fixture(scope="module")
def index() -> dict[str, Any]:
    return build_index()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, index: dict[str, Any]) -> PriceCatalog:
    return PriceCatalog(tmp_path_factory.mktemp("cache"), build=lambda: index)


def cost(catalog: PriceCatalog, model: str, tokens: TokenCounts, provider: str = "anthropic") -> Decimal:
    quote = catalog.find(provider, model, AT)
    assert quote is not None
    return quote.price.cost(tokens)


def amended(index: dict[str, Any], model: str, change: Any) -> dict[str, Any]:
    """A copy of the index whose anthropic `model` rates went through `change` (the built-in data moving)."""
    doc = copy.deepcopy(index)
    anthropic = next(p for p in doc["providers"] if p["id"] == "anthropic")
    entry = next(m for m in anthropic["models"] if m[0] == model)
    entry[3] = change(entry[3])
    return doc


def test_every_correction_is_sourced_dated_and_still_needed_by_the_installed_data(catalog: PriceCatalog) -> None:
    # When this fails with state in-built-in, genai-prices gained the entry: retire the correction.
    reports = catalog.corrections(AT)
    assert [(r.id, r.state) for r in reports] == [(SONNET_4, CorrectionState.APPLIED)]
    for r in reports:
        assert "https://" in r.source and r.checked <= date(2026, 12, 4) and r.warning is None
    for fix in load_corrections().values():
        assert set(fix.tiers) <= SLOTS and set(fix.base) == set(fix.tiers)


@pytest.mark.parametrize("model", ["claude-sonnet-4", "claude-sonnet-4-0", "claude-sonnet-4-20250514",
                                   "Claude-Sonnet-4-20250514", "anthropic/claude-sonnet-4-20250514"])
def test_sonnet_4_and_its_dated_ids_get_the_long_context_tier(catalog: PriceCatalog, model: str) -> None:
    quote = catalog.find("anthropic", model, AT)
    assert quote is not None and (quote.key, quote.correction) == ("claude-sonnet-4-0", SONNET_4)
    assert quote.price.rates_at(200_000) == {"inputPer1M": D(3), "outputPer1M": D(15), "cacheReadPer1M": D("0.3"),
                                             "cacheWritePer1M": D("3.75"), "cacheWrite1hPer1M": D(6)}
    assert quote.price.rates_at(200_001) == {"inputPer1M": D(6), "outputPer1M": D("22.5"),
                                             "cacheReadPer1M": D("0.6"), "cacheWritePer1M": D("7.5"),
                                             "cacheWrite1hPer1M": D(12)}


def test_sonnet_4_costs_exactly_below_at_and_above_200k_total_input(catalog: PriceCatalog) -> None:
    m = "claude-sonnet-4-20250514"
    # 150,000 x $3 + 49,999 x $0.30 + 1,000 x $15, per 1M
    assert cost(catalog, m, TokenCounts(input=150_000, cache_read=49_999, output=1000)) == D("0.4799997")
    # exactly 200,000 input tokens is not past the threshold: base rates
    assert cost(catalog, m, TokenCounts(input=150_000, cache_read=50_000, output=1000)) == D("0.48")
    # 200,001: every token of the request pays the tier: 150,001 x $6 + 50,000 x $0.60 + 1,000 x $22.50
    assert cost(catalog, m, TokenCounts(input=150_001, cache_read=50_000, output=1000)) == D("0.952506")


def test_cache_writes_count_toward_the_threshold_and_pay_the_scaled_tier(catalog: PriceCatalog) -> None:
    below = TokenCounts(input=100_000, cache_read=50_000, cache_write_5m=30_000, cache_write_1h=20_000, output=2000)
    above = TokenCounts(input=100_000, cache_read=50_000, cache_write_5m=40_000, cache_write_1h=20_000, output=2000)
    # 100k x 3 + 50k x 0.3 + 30k x 3.75 + 20k x 6 + 2k x 15
    assert cost(catalog, "claude-sonnet-4", below) == D("0.5775")
    # 210k input: 100k x 6 + 50k x 0.6 + 40k x 7.5 + 20k x 12 + 2k x 22.5
    assert cost(catalog, "claude-sonnet-4", above) == D("1.215")


def test_other_models_and_providers_are_untouched(catalog: PriceCatalog) -> None:
    long = TokenCounts(input=250_000, output=1000)
    sonnet_45 = catalog.find("anthropic", "claude-sonnet-4-5", AT)
    assert sonnet_45 is not None and sonnet_45.correction is None  # its tier is built in
    assert sonnet_45.price.cost(long) == D("1.5225")
    assert cost(catalog, "claude-opus-4-1", long) == D("3.825")  # no long-context tier: 250k x 15 + 1k x 75
    assert cost(catalog, "global.anthropic.claude-sonnet-4-20250514-v1:0", long, provider="aws") == D("0.765")


def test_when_the_built_in_data_gains_the_tier_it_wins_and_the_correction_asks_to_be_retired(
    tmp_path: Path, index: dict[str, Any]
) -> None:
    def gain(prices: list[Any]) -> list[Any]:
        (constraint, rates), = prices
        return [[constraint, {**rates, "input_mtok": [rates["input_mtok"], [[200_000, "6.5"]]]}]]

    catalog = PriceCatalog(tmp_path, build=lambda: amended(index, "claude-sonnet-4-0", gain))
    (report,) = catalog.corrections(AT)
    assert report.state is CorrectionState.IN_BUILT_IN
    assert report.warning == (f"price correction {SONNET_4} (anthropic/claude-sonnet-4-0): the built-in price "
                              "data now has this entry; retire the correction")
    quote = catalog.find("anthropic", "claude-sonnet-4", AT)
    assert quote is not None and quote.correction is None
    assert quote.price.cost(TokenCounts(input=250_000, output=1000)) == D("1.64")  # 250k x 6.5 + 1k x 15


def test_a_changed_base_price_suspends_the_correction_until_reviewed(tmp_path: Path, index: dict[str, Any]) -> None:
    def cheaper(prices: list[Any]) -> list[Any]:
        (constraint, rates), = prices
        return [[constraint, {**rates, "input_mtok": "2"}]]

    catalog = PriceCatalog(tmp_path, build=lambda: amended(index, "claude-sonnet-4-0", cheaper))
    assert [r.state for r in catalog.corrections(AT)] == [CorrectionState.BASE_CHANGED]
    assert "base rates changed" in (catalog.corrections(AT)[0].warning or "")
    assert cost(catalog, "claude-sonnet-4", TokenCounts(input=250_000, output=1000)) == D("0.515")  # untiered


def test_a_model_gone_from_the_built_in_data_is_reported(tmp_path: Path, index: dict[str, Any]) -> None:
    catalog = PriceCatalog(tmp_path, build=lambda: amended(index, "claude-sonnet-4-0", lambda _: None))
    assert [r.state for r in catalog.corrections(AT)] == [CorrectionState.MODEL_MISSING]


@pytest.mark.parametrize("fault", [
    {"source": "somewhere"},
    {"checked": "04/12/2026"},
    {"tiers": {"input_mtok": [[300_000, "9"], [200_000, "6"]]}, "base": {"input_mtok": "3"}},
    {"tiers": {"web_searches_kcount": [[0, "1"]]}, "base": {"web_searches_kcount": "1"}},
    {"base": {"input_mtok": "3"}},
])
def test_a_malformed_overlay_is_refused_at_load(tmp_path: Path, fault: dict[str, Any]) -> None:
    doc = json.loads(DATA.read_text())
    doc["corrections"][0].update(fault)
    (tmp_path / "fixes.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError):
        load_corrections(tmp_path / "fixes.json")
