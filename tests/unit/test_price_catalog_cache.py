"""The built-in index: cached once per genai-prices version, exact well-known prices, history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costhq.adapters.persistence.price_catalog import (
    PriceCatalog,
    build_index,
    genai_prices_version,
    matches,
    normalize_compact_date,
    select_rates,
)
from costhq.domain.usage import TokenCounts

D = Decimal
AT = datetime(2026, 2, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def index() -> dict[str, Any]:
    return build_index()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, index: dict[str, Any]) -> PriceCatalog:
    return PriceCatalog(tmp_path_factory.mktemp("cache"), build=lambda: index)


def counting(index: dict[str, Any]) -> tuple[list[int], Any]:
    calls: list[int] = []

    def build() -> dict[str, Any]:
        calls.append(1)
        fresh: dict[str, Any] = json.loads(json.dumps(index))
        return fresh

    return calls, build


def cost(catalog: PriceCatalog, provider: str, model: str, tokens: TokenCounts, at: datetime = AT) -> Decimal:
    quote = catalog.find(provider, model, at)
    assert quote is not None, (provider, model)
    return quote.price.cost(tokens)


def test_the_version_comes_from_the_installed_distribution() -> None:
    from importlib.metadata import version

    assert genai_prices_version() == version("genai-prices")


def test_the_index_is_built_once_and_cached_per_version(tmp_path: Path, index: dict[str, Any]) -> None:
    calls, build = counting(index)
    PriceCatalog(tmp_path, build=build).find("openai", "gpt-4o", AT)
    assert calls == [1]
    assert os.listdir(tmp_path) == [f"prices-{genai_prices_version()}.jsonl"]
    assert cost(
        PriceCatalog(tmp_path, build=build), "openai", "gpt-4o", TokenCounts(input=8000, output=2000)
    ) == D("0.04")
    assert calls == [1]


def test_a_corrupt_or_outdated_cache_is_rebuilt(tmp_path: Path, index: dict[str, Any]) -> None:
    calls, build = counting(index)
    path = PriceCatalog(tmp_path).path
    for junk in (
        "{not json\n",
        '{"format": 0, "providers": []}\n\n',
        json.dumps({**index, "format": 999}) + "\n",
    ):
        path.write_text(junk)
        assert PriceCatalog(tmp_path, build=build).find("openai", "gpt-4o", AT) is not None
    assert len(calls) == 3
    assert PriceCatalog(tmp_path, build=build).find("openai", "gpt-4o", AT) is not None
    assert len(calls) == 3


def test_an_unwritable_cache_dir_still_prices_from_memory(tmp_path: Path, index: dict[str, Any]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert PriceCatalog(blocker / "cache", build=lambda: index).find("openai", "gpt-4o", AT) is not None


def test_a_warm_lookup_never_imports_genai_prices(tmp_path: Path, index: dict[str, Any]) -> None:
    PriceCatalog(tmp_path, build=lambda: index).find("openai", "gpt-4o", AT)
    script = (
        "import sys, datetime\n"
        "from costhq.adapters.persistence.price_catalog import PriceCatalog\n"
        f"catalog = PriceCatalog({str(tmp_path)!r})\n"
        "q = catalog.find('anthropic', 'claude-sonnet-4', datetime.datetime.now(datetime.UTC))\n"
        "print(q.key, any(m.startswith('genai_prices') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["claude-sonnet-4-0", "False"]


def test_well_known_models_cost_exactly(catalog: PriceCatalog) -> None:
    call = TokenCounts(input=8000, output=2000)
    assert cost(catalog, "anthropic", "claude-sonnet-4", call) == D("0.054")
    assert cost(catalog, "openai", "gpt-4o", call) == D("0.04")
    assert cost(catalog, "openai", "gpt-4o", TokenCounts(input=2000, cache_read=6000, output=2000)) == D(
        "0.0325"
    )


def test_anthropic_cache_writes_pay_their_5m_and_1h_rates(catalog: PriceCatalog) -> None:
    quote = catalog.find("anthropic", "claude-sonnet-4", AT)
    assert quote is not None
    assert quote.price.rates_at(0) == {
        "inputPer1M": D(3),
        "outputPer1M": D(15),
        "cacheReadPer1M": D("0.3"),
        "cacheWritePer1M": D("3.75"),
        "cacheWrite1hPer1M": D(6),
    }
    tokens = TokenCounts(input=1000, cache_read=10_000, cache_write_5m=2000, cache_write_1h=1000, output=500)
    assert quote.price.cost(tokens) == D("0.027")


def test_a_cliff_tier_reprices_every_token_past_200k(catalog: PriceCatalog) -> None:
    below = TokenCounts(input=100_000, cache_read=100_000, output=1000)
    above = TokenCounts(input=100_001, cache_read=100_000, output=1000)
    assert cost(catalog, "google", "gemini-3-pro-preview", below) == D("0.232")  # 2, 0.2, 12
    assert cost(catalog, "google", "gemini-3-pro-preview", above) == D("0.458004")  # 4, 0.4, 18


def test_the_price_in_force_at_the_call_time_is_used(catalog: PriceCatalog) -> None:
    # Claude Sonnet 4.6 dropped its long-context tier on 2026-03-13.
    long = TokenCounts(input=250_000, output=1000)
    assert cost(catalog, "anthropic", "claude-sonnet-4-6", long, datetime(2026, 3, 12, 23, tzinfo=UTC)) == D(
        "1.5225"
    )
    assert cost(catalog, "anthropic", "claude-sonnet-4-6", long, datetime(2026, 3, 13, 0, tzinfo=UTC)) == D(
        "0.765"
    )


def test_rates_before_any_start_date_fall_back_to_the_first_entry() -> None:
    prices = [["2026-01-01", {"input_mtok": "2"}], ["2026-06-01", {"input_mtok": "3"}]]
    assert select_rates(prices, datetime(2025, 1, 1, tzinfo=UTC)) == {"input_mtok": "2"}
    assert select_rates(prices, datetime(2026, 7, 1, tzinfo=UTC)) == {"input_mtok": "3"}


def test_time_windows_may_wrap_midnight() -> None:
    prices = [[None, {"input_mtok": "1"}], [[22 * 3600, 2 * 3600], {"input_mtok": "9"}]]
    assert select_rates(prices, datetime(2026, 1, 1, 23, tzinfo=UTC))["input_mtok"] == "9"
    assert select_rates(prices, datetime(2026, 1, 1, 1, 59, tzinfo=UTC))["input_mtok"] == "9"
    assert select_rates(prices, datetime(2026, 1, 1, 2, tzinfo=UTC))["input_mtok"] == "1"


def test_clauses_and_compact_dates_follow_genai_prices() -> None:
    clause = ["or", ["sw", "claude-3-5"], ["and", ["in", "haiku"], ["ew", "-v1"]], ["re", "^o[134]"]]
    assert (
        matches(clause, "claude-3-5-sonnet") and matches(clause, "x-haiku-v1") and matches(clause, "o3-mini")
    )
    assert not matches(clause, "x-haiku-v2")
    assert normalize_compact_date("gpt-5.2-20251211") == "gpt-5.2-2025-12-11"
    assert normalize_compact_date("model-20251399") == "model-20251399"
