"""Numbers from people and agents: ASCII decimal only, each with its documented range."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costhq.domain.money import parse_usd
from costhq.domain.numbers import (
    MAX_CALL_COST_USD,
    MAX_ID,
    MAX_TOKENS,
    check_count,
    check_reasoning,
    parse_count,
    parse_decimal,
)

D = Decimal
# Unicode digits Python's int()/float()/Decimal() would read (or choke on): never numbers here.
UNICODE_DIGITS = ["²", "①", "٣", "１２", "١٢", "߃", "𝟙"]


def test_whole_numbers_are_ascii_digits_optionally_grouped() -> None:
    texts = ("0", "12", " 7 ", "1_000", "1,000", "12,345,678", "1000000000000")
    assert [parse_count(t, name="n") for t in texts] == [0, 12, 7, 1000, 1000, 12_345_678, MAX_TOKENS]


@pytest.mark.parametrize("text", [*UNICODE_DIGITS, "-5", "1.5", "1e3", "abc", "", "_1", "1__0", "1,5", "1,0000",
                                  ",100", "0x10", "+3", str(MAX_TOKENS + 1), str(2**64), "9" * 40])
def test_anything_else_is_not_a_token_count(text: str) -> None:
    with pytest.raises(ValueError, match="--prompt-tokens must be a whole number from 0 to 1,000,000,000,000"):
        parse_count(text, name="--prompt-tokens")


def test_ids_have_their_own_range() -> None:
    assert parse_count(str(MAX_ID), name="id", minimum=1, maximum=MAX_ID) == 2**63 - 1
    for bad in ("0", str(2**63)):
        with pytest.raises(ValueError, match="from 1 to 9,223,372,036,854,775,807"):
            parse_count(bad, name="id", minimum=1, maximum=MAX_ID)


def test_values_must_be_ints_in_range_never_bools_or_floats() -> None:
    assert [check_count(v, name="n") for v in (0, 12, "34", MAX_TOKENS)] == [0, 12, 34, MAX_TOKENS]
    for bad in (True, 12.0, -1, MAX_TOKENS + 1, 2**64, None, "٣", D(3)):
        with pytest.raises(ValueError, match="n must be a whole number"):
            check_count(bad, name="n")


def test_decimals_are_ascii_with_an_optional_exponent() -> None:
    values = [parse_decimal(t, name="x", maximum=D(10)) for t in ("0.5", ".5", "5.", "1e-3", "2E+0", " 3 ")]
    assert values == [D("0.5"), D("0.5"), D(5), D("0.001"), D(2), D(3)]
    assert parse_decimal(0.1, name="x", maximum=D(10)) == D("0.1")  # a float's str(), not its binary value
    assert parse_decimal(D("1.25"), name="x", maximum=D(10)) == D("1.25")


@pytest.mark.parametrize("text", [*UNICODE_DIGITS, "nan", "NaN", "inf", "Infinity", "1e", "e5", ".", "1..2",
                                  "1,5", "", "0x1", "--1", float("nan"), float("inf"), True, D("NaN")])
def test_anything_else_is_not_a_decimal(text: object) -> None:
    with pytest.raises(ValueError, match=r"x must be a (decimal )?number"):
        parse_decimal(text, name="x", maximum=D(10))  # type: ignore[arg-type]


def test_decimals_out_of_range_say_so() -> None:
    with pytest.raises(ValueError, match="x must not be negative"):
        parse_decimal("-1", name="x", maximum=D(10))
    for big in ("10.0000001", "1e9", "1e30", "1e999999999999999999"):
        with pytest.raises(ValueError, match="x must be at most 10"):
            parse_decimal(big, name="x", maximum=D(10))


def test_amounts_keep_their_exact_value_and_refuse_what_would_be_stored_as_zero() -> None:
    assert [parse_usd(t) for t in ("$2.50", "0", "1e-10", "0.00000000015", "1e6")] == [
        D("2.50"), D(0), D("1e-10"), D("1.5e-10"), D(10**6)]
    for tiny in ("1e-11", "0.00000000009", 1e-11, D("5E-11")):
        with pytest.raises(ValueError, match=r"below \$0\.0000000001"):
            parse_usd(tiny, name="--cost")


def test_a_call_cost_is_at_most_a_million_dollars() -> None:
    assert parse_usd("1000000", maximum=MAX_CALL_COST_USD) == D(10**6)
    for big in ("1e9", "1e30", "1000000.01", 1e30):
        with pytest.raises(ValueError, match="--cost must be at most 1,000,000"):
            parse_usd(big, name="--cost", maximum=MAX_CALL_COST_USD)


def test_reasoning_never_exceeds_the_completion_it_is_part_of() -> None:
    check_reasoning(0, 0)
    check_reasoning(300, 300)
    with pytest.raises(ValueError, match=r"reasoning tokens \(301\) cannot exceed completion tokens \(300\)"):
        check_reasoning(301, 300)
