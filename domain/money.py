"""Exact money: Decimal in the domain, integer 1e-10 USD units in storage.

Integer units make SQL sums exact (SQLite INTEGER is 64-bit: up to ~$922M).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from costhq.domain.numbers import MAX_USD, parse_decimal

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


def parse_usd(text: str | float | int | Decimal, *, name: str = "amount", maximum: Decimal = MAX_USD) -> Decimal:
    """Parse a dollar amount (`2.50`, `$2.50`, `1e-3`) by the rules of `costhq.domain.numbers`.

    A nonzero amount below the storage precision (1e-10 USD) is refused, never stored as $0;
    finer amounts are rounded to it when stored.

    Raises:
        ValueError: not ASCII decimal, negative, above `maximum`, or nonzero below 1e-10.
    """
    raw = text.strip().removeprefix("$") if isinstance(text, str) else text
    value = parse_decimal(raw, name=name, maximum=maximum)
    if 0 < value < _QUANTUM:
        raise ValueError(f"{name} is below $0.0000000001, the smallest amount CostHQ stores (got {text!r})")
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
