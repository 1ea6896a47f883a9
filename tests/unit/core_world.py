"""A use-case world built from verified fakes (no container, no disk)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs

from costhq.adapters._shared.clock import FixedClock
from costhq.adapters.persistence.memory.prices import InMemoryCatalog, InMemoryCustomPriceStore
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.adapters.persistence.price_book import CatalogPriceBook
from costhq.adapters.watchers.fake_git import FakeGitMetadata
from costhq.application import pricing, sessions, usage
from costhq.domain.pricing import ModelPrice, Rate

T0 = datetime(2026, 2, 9, 14, 30, tzinfo=UTC)
REPO = "/work/repo"

SONNET = ModelPrice(input=Rate(Decimal(3)), output=Rate(Decimal(15)), cache_read=Rate(Decimal("0.3")),
                    cache_write=Rate(Decimal("3.75")), cache_write_1h=Rate(Decimal(6)))
TIERED = ModelPrice(input=Rate(Decimal(3), ((200_000, Decimal(6)),)),
                    output=Rate(Decimal(15), ((200_000, Decimal("22.5")),)))


@attrs.define
class World:
    clock: FixedClock
    git: FakeGitMetadata
    store: InMemoryStore
    custom: InMemoryCustomPriceStore

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store)

    @property
    def prices(self) -> CatalogPriceBook:
        catalog = InMemoryCatalog({("anthropic", "claude-sonnet-4"): SONNET, ("google", "tiered-pro"): TIERED})
        return CatalogPriceBook(catalog, self.custom, now=self.clock.now)

    def start(self) -> sessions.StartSession:
        return sessions.StartSession(self.uow, self.clock, self.git)

    def end(self) -> sessions.EndSession:
        return sessions.EndSession(self.uow, self.clock, self.git)

    def log(self) -> usage.LogUsage:
        return usage.LogUsage(self.uow, self.clock, self.git, self.prices)

    def record(self) -> usage.RecordUsage:
        return usage.RecordUsage(self.uow, self.clock, self.git, self.prices)

    def get(self) -> sessions.GetSession:
        return sessions.GetSession(self.uow, self.git)

    def set_price(self) -> pricing.SetCustomPrice:
        return pricing.SetCustomPrice(self.custom)


def make_world() -> World:
    git = FakeGitMetadata()
    git.add_repo(REPO, branch="main")
    return World(clock=FixedClock(T0), git=git, store=InMemoryStore(), custom=InMemoryCustomPriceStore())
