"""Ports: Prices: the built-in catalogue merged with the user's overrides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from costhq.domain.pricing import CustomPrice, PriceCorrection, PriceQuote


class PriceBook(Protocol):
    """Built-in prices (catalogue) merged with custom overrides."""

    def quote(self, provider: str, model: str, at: datetime | None = None) -> PriceQuote | None:
        """Custom `provider/model`, custom `model`, then the catalogue price in force `at`
        (default now); None when unknown."""
        ...
    def builtin(self, *, provider: str | None = None, search: str | None = None) -> Iterator[PriceQuote]: ...
    def corrections(self) -> list[PriceCorrection]:
        """The reviewed corrections of the built-in data, each with its state against it today."""
        ...


class CustomPriceStore(Protocol):
    """User overrides (`pricing.json`)."""

    def all(self) -> list[CustomPrice]: ...
    def put(self, price: CustomPrice) -> None: ...
    def remove(self, key: str) -> bool: ...
    def clear(self) -> int: ...
