"""Exact money: Decimal in the domain, integer 1e-10 USD units in storage.

Integer units make SQL sums exact (SQLite INTEGER is 64-bit: up to ~$922M).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

UNITS_PER_USD = 10_000_000_000
_QUANTUM = Decimal("1e-10")
ZERO = Decimal(0)


def quantize(amount: Decimal) -> Decimal:
    """Round to the storage precision (1e-10 USD, banker's rounding)."""
    return amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


def to_units(amount: Decimal) -> int:
    """Decimal USD -> integer count of 1e-10 USD."""
    return int(quantize(amount) * UNITS_PER_USD)


def from_units(units: int) -> Decimal:
    """Integer count of 1e-10 USD -> Decimal USD (exact)."""
    return quantize(Decimal(units) / UNITS_PER_USD)


def parse_usd(text: str | float | int | Decimal) -> Decimal:
    """Parse a user-supplied dollar amount; rejects NaN, infinities and negatives.

    Raises:
        ValueError: when the value is not a finite, non-negative number.
    """
    try:
        value = Decimal(str(text).strip().lstrip("$"))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a number: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    if value < 0:
        raise ValueError(f"must not be negative: {text!r}")
    return value


def as_json_number(amount: Decimal) -> float | int:
    """JSON rendering: a number rounded to 10 decimal places (DESIGN §3)."""
    q = quantize(amount)
    if q == q.to_integral_value():
        return int(q)
    return float(q)


def format_usd(amount: Decimal) -> str:
    """Human rendering: `$2.34`, with more digits for sub-cent amounts."""
    if amount != 0 and abs(amount) < Decimal("0.01"):
        return f"${amount.quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN)}"
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"
