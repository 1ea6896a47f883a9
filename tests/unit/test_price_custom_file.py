"""`pricing.json` specifics: the old tool's format, exact numbers, errors, lazy cached reads."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from costhq.adapters.persistence.custom_prices import JsonCustomPriceStore, write_atomically
from costhq.domain.errors import InvalidPricing
from costhq.domain.pricing import CustomPrice

D = Decimal


def test_the_old_tools_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    path.write_text(
        '{"my-ft-model": {"input": 5.00, "output": 15}, "openai/gpt-4o": {"input": 2.5, "output": 10}}'
    )
    prices = JsonCustomPriceStore(path).all()
    assert prices == [
        CustomPrice(key="my-ft-model", input=D("5.00"), output=D(15)),
        CustomPrice(key="openai/gpt-4o", input=D("2.5"), output=D(10)),
    ]


def test_cache_prices_use_camel_case_keys(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    JsonCustomPriceStore(path).put(
        CustomPrice(key="m", input=D(3), output=D(15), cache_read=D("0.3"), cache_write=D("3.75"))
    )
    assert json.loads(path.read_text()) == {
        "m": {"input": 3, "output": 15, "cacheRead": 0.3, "cacheWrite": 3.75}
    }


def test_the_one_hour_cache_write_rate_round_trips_as_cache_write_1h(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    price = CustomPrice(key="m", input=D(3), output=D(15), cache_write=D("3.75"), cache_write_1h=D(6))
    JsonCustomPriceStore(path).put(price)
    assert json.loads(path.read_text()) == {"m": {"input": 3, "output": 15, "cacheWrite": 3.75, "cacheWrite1h": 6}}
    assert JsonCustomPriceStore(path).all() == [price]
    JsonCustomPriceStore(path).put(CustomPrice(key="m", input=D(3), output=D(15)))  # unset again: removed
    assert json.loads(path.read_text()) == {"m": {"input": 3, "output": 15}}


def test_numbers_keep_their_exact_decimal_text(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    JsonCustomPriceStore(path).put(CustomPrice(key="m", input=D("0.123456789012345678901"), output=D("1E+1")))
    assert '"input": 0.123456789012345678901' in path.read_text()
    assert JsonCustomPriceStore(path).all()[0].input == D("0.123456789012345678901")
    assert JsonCustomPriceStore(path).all()[0].output == D(10)


def test_entries_and_fields_from_other_tools_survive_a_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    path.write_text('{"x": {"input": 1, "output": 2, "note": "mine"}, "y": {"input": 3, "output": 4}}')
    store = JsonCustomPriceStore(path)
    store.put(CustomPrice(key="x", input=D(9), output=D(9)))
    store.remove("y")
    assert json.loads(path.read_text()) == {"x": {"input": 9, "output": 9, "note": "mine"}}


def test_a_missing_file_means_no_overrides_and_is_not_created_by_reading(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "pricing.json"
    assert JsonCustomPriceStore(path).all() == []
    assert not path.exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"m": 3}', "entry 'm' must be an object"),
        ('{"m": {"input": 1}}', "lacks 'output'"),
        ('{"m": {"input": "cheap", "output": 1}}', "'input'"),
        ('{"m": {"input": true, "output": 1}}', "must be a number"),
        ('{"m": {"input": -1, "output": 1}}', "negative"),
        ('{"m": {"input": 1, "output": 1, "cacheRead": -0.5}}', "negative"),
        ('{"m": {"input": 1, "output": 1, "cacheWrite1h": "\u0663"}}', "'cacheWrite1h' must be a decimal number"),
        ('{"m": {"input": 1e7, "output": 1}}', "'input' must be at most 1,000,000"),
    ],
)
def test_a_malformed_file_is_an_error_naming_the_file_and_the_reason(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = tmp_path / "pricing.json"
    path.write_text(text)
    with pytest.raises(InvalidPricing) as err:
        JsonCustomPriceStore(path).all()
    assert str(path) in err.value.message
    assert reason in err.value.message
    assert err.value.code == "invalid_pricing"
    assert err.value.details["path"] == str(path)


def test_a_malformed_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    path.write_text("{broken")
    with pytest.raises(InvalidPricing):
        JsonCustomPriceStore(path).put(CustomPrice(key="m", input=D(1), output=D(1)))
    assert path.read_text() == "{broken"


def test_the_file_is_read_lazily_then_cached_until_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    path.write_text("{broken")
    store = JsonCustomPriceStore(path)  # constructing never reads
    path.write_text('{"a": {"input": 1, "output": 1}}')
    assert [p.key for p in store.all()] == ["a"]
    stat = path.stat()
    path.write_text('{"b": {"input": 1, "output": 1}}')
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert [p.key for p in store.all()] == ["b"]


def test_an_empty_file_means_no_overrides(tmp_path: Path) -> None:
    path = tmp_path / "pricing.json"
    path.write_text("  \n")
    assert JsonCustomPriceStore(path).all() == []


def test_atomic_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    write_atomically(tmp_path / "a" / "f.json", "{}")
    write_atomically(tmp_path / "a" / "f.json", '{"x": 1}')
    assert os.listdir(tmp_path / "a") == ["f.json"]
    assert (tmp_path / "a" / "f.json").read_text() == '{"x": 1}'
