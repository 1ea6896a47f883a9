"""The composition root: one DeclarativeContainer wiring adapters into use cases.

Adapters are imported inside provider factories only when first resolved, so a hot
command (`cs log-ai`) never pays for pygit2, genai-prices, httpx or starlette.
"""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers

from costhq.adapters._shared.clock import SystemClock
from costhq.application import pricing, sessions, usage


def _uow_factory(db_path: Any) -> Any:
    from costhq.adapters.persistence.apsw_uow import ApswUnitOfWork

    return lambda: ApswUnitOfWork(str(db_path))


def _git() -> Any:
    from costhq.adapters.watchers.git_scope import LazyGitMetadata

    return LazyGitMetadata()


def _custom_prices(path: Any) -> Any:
    from costhq.adapters.persistence.custom_prices import JsonCustomPriceStore

    return JsonCustomPriceStore(path)


def _price_book(cache_dir: Any, custom: Any) -> Any:
    from costhq.adapters.persistence.price_book import CatalogPriceBook
    from costhq.adapters.persistence.price_catalog import PriceCatalog

    return CatalogPriceBook(PriceCatalog(cache_dir), custom)


class Container(containers.DeclarativeContainer):
    """Wires the real adapters; tests `override()` the gateway providers with fakes."""

    settings = providers.Dependency()

    clock = providers.Singleton(SystemClock)
    uow = providers.Singleton(_uow_factory, settings.provided.db_path)
    git = providers.Singleton(_git)
    custom_prices = providers.Singleton(_custom_prices, settings.provided.pricing_path)
    price_book = providers.Singleton(_price_book, settings.provided.cache_dir, custom_prices)

    start_session = providers.Singleton(sessions.StartSession, uow, clock, git)
    end_session = providers.Singleton(sessions.EndSession, uow, clock, git)
    get_session = providers.Singleton(sessions.GetSession, uow, git)
    latest_session = providers.Singleton(sessions.LatestSession, uow, git)
    list_sessions = providers.Singleton(sessions.ListSessions, uow)
    get_stats = providers.Singleton(sessions.GetStats, uow, clock)
    add_note = providers.Singleton(sessions.AddNote, uow, clock, git)
    recover_stale = providers.Singleton(sessions.RecoverStale, uow, clock)
    log_usage = providers.Singleton(usage.LogUsage, uow, clock, git, price_book)
    background_session = providers.Singleton(usage.EnsureBackgroundSession, uow, clock)
    list_prices = providers.Singleton(pricing.ListPrices, price_book, custom_prices)
    set_custom_price = providers.Singleton(pricing.SetCustomPrice, custom_prices)
    reset_pricing = providers.Singleton(pricing.ResetPricing, custom_prices)
