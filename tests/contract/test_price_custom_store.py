"""CustomPriceStore contract: the in-memory fake and `pricing.json` behave the same."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from costhq.adapters.persistence.custom_prices import JsonCustomPriceStore
from costhq.adapters.persistence.memory.prices import InMemoryCustomPriceStore
from costhq.application.ports.pricing import CustomPriceStore
from costhq.domain.pricing import CustomPrice

D = Decimal


@pytest.fixture(params=["in_memory", "json"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], CustomPriceStore]:
    """A factory: calling it twice gives two handles on the same storage (two processes)."""
    if request.param == "in_memory":
        store = InMemoryCustomPriceStore()
        return lambda: store
    return lambda: JsonCustomPriceStore(tmp_path / "pricing.json")


def test_a_new_store_has_no_overrides(make_store: Callable[[], CustomPriceStore]) -> None:
    assert make_store().all() == []


def test_put_prices_are_read_back_exactly(make_store: Callable[[], CustomPriceStore]) -> None:
    price = CustomPrice(key="openai/gpt-4o", input=D("2.50"), output=D("10"), cache_read=D("1.25"))
    claude = CustomPrice(key="anthropic/c", input=D(3), output=D(15), cache_write=D("3.75"), cache_write_1h=D(6))
    make_store().put(price)
    make_store().put(claude)
    assert make_store().all() == [price, claude]


def test_put_replaces_the_same_key_in_place(make_store: Callable[[], CustomPriceStore]) -> None:
    store = make_store()
    store.put(CustomPrice(key="a", input=D(1), output=D(2)))
    store.put(CustomPrice(key="b", input=D(3), output=D(4)))
    store.put(CustomPrice(key="a", input=D(5), output=D(6), cache_write=D(7)))
    assert [(p.key, p.input, p.cache_write) for p in make_store().all()] == [
        ("a", D(5), D(7)),
        ("b", D(3), None),
    ]


def test_namespaced_and_plain_keys_are_distinct(make_store: Callable[[], CustomPriceStore]) -> None:
    store = make_store()
    store.put(CustomPrice(key="openai/gpt-4o", input=D("2.5"), output=D(10)))
    store.put(CustomPrice(key="azure/gpt-4o", input=D(3), output=D(12)))
    assert {p.key for p in make_store().all()} == {"openai/gpt-4o", "azure/gpt-4o"}


def test_remove_reports_whether_the_key_existed(make_store: Callable[[], CustomPriceStore]) -> None:
    store = make_store()
    store.put(CustomPrice(key="m", input=D(1), output=D(2)))
    assert store.remove("m") is True
    assert store.remove("m") is False
    assert make_store().all() == []


def test_clear_removes_everything_and_counts(make_store: Callable[[], CustomPriceStore]) -> None:
    store = make_store()
    for key in ("a", "b", "c"):
        store.put(CustomPrice(key=key, input=D(1), output=D(1)))
    assert store.clear() == 3
    assert store.clear() == 0
    assert make_store().all() == []


def test_a_write_through_one_handle_is_seen_by_another(make_store: Callable[[], CustomPriceStore]) -> None:
    reader, writer = make_store(), make_store()
    assert reader.all() == []
    writer.put(CustomPrice(key="m", input=D(1), output=D(2)))
    assert [p.key for p in reader.all()] == ["m"]
