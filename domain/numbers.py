"""Numbers given by people and agents (CLI flags, MCP arguments, library arguments): the one
place for their ranges and for what counts as a number.

Rules:
- A number is ASCII decimal text: `12`, `0.5`, `.5`, `1e-3` (an exponent is allowed, so a
  Python float's `str()` parses). Other Unicode digits (`²`, `①`, `٣`, `１２`) are refused,
  never read as 3 or 12. Whole numbers may group digits with `_` or by thousands with `,`
  (`1_000`, `1,000`; `1,5` is refused).
- Every number has a range (below); a value outside it is refused with a message naming the
  range, never stored, wrapped or overflowed.
- Reasoning tokens are part of the output, so they can never exceed it.
Failures raise ValueError; each edge maps it to its `invalid_argument` error.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_TOKENS = 10**12
"""Tokens of one class in one call (also a reported total): 0 .. 10^12."""
MAX_CALL_COST_USD = Decimal(10**6)
"""The cost of one call (`cs log-ai -c`): $0 .. $1,000,000."""
MAX_USD = Decimal(10**8)
"""Any other amount (budgets): $0 .. $100,000,000 (sums stay exact in 64-bit storage units)."""
MAX_PRICE_PER_1M = Decimal(10**6)
"""A price per 1M tokens (`cs pricing set`): $0 .. $1,000,000."""
MAX_ID = 2**63 - 1
"""Ids (`-s`): 1 .. 2^63-1 (SQLite's INTEGER)."""
MAX_HOURS = Decimal(10**6)
"""Ages in hours (`cs recover --max-age`): 0 .. 1,000,000."""

_WHOLE = re.compile(r"[0-9]+(?:_[0-9]+)*|[0-9]{1,3}(?:,[0-9]{3})+")  # `1,5` is not 15
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_count(text: str, *, name: str, maximum: int = MAX_TOKENS, minimum: int = 0) -> int:
    """A whole number in `minimum..maximum` from ASCII digits.

    Raises:
        ValueError: not ASCII digits, or out of range.
    """
    cleaned = text.strip()
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(f"{name} must be a whole number from {minimum:,} to {maximum:,} (got {text!r})")
    return _in_range(int(cleaned.replace("_", "").replace(",", "")), name, minimum, maximum)


def check_count(value: object, *, name: str, maximum: int = MAX_TOKENS, minimum: int = 0) -> int:
    """A whole number given as a value (library or MCP argument): an int (never a bool) or its text.

    Raises:
        ValueError: another type, or out of range.
    """
    if isinstance(value, str):
        return parse_count(value, name=name, maximum=maximum, minimum=minimum)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number from {minimum:,} to {maximum:,} (got {value!r})")
    return _in_range(value, name, minimum, maximum)


def parse_decimal(text: str | int | float | Decimal, *, name: str, maximum: Decimal) -> Decimal:
    """A finite decimal in `0..maximum`, exactly as written (a float goes through its `str()`).

    Raises:
        ValueError: not ASCII decimal, negative, or above `maximum`.
    """
    if isinstance(text, bool):
        raise ValueError(f"{name} must be a number (got {text!r})")
    cleaned = format(text, "f") if isinstance(text, Decimal) else str(text).strip()
    unsigned = cleaned[1:] if cleaned[:1] == "-" else cleaned
    if not _DECIMAL.fullmatch(unsigned):
        raise ValueError(f"{name} must be a decimal number like 12 or 0.5 (got {text!r})")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # cannot happen for text the pattern accepts; kept as a guard
        raise ValueError(f"{name} must be a decimal number (got {text!r})") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative (got {text!r})")
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum:,} (got {text!r})")
    return value


def check_reasoning(reasoning: int, output: int) -> None:
    """Reasoning tokens are inside the output tokens (DESIGN §4).

    Raises:
        ValueError: `reasoning` exceeds `output`.
    """
    if reasoning > output:
        raise ValueError(
            f"reasoning tokens ({reasoning:,}) cannot exceed completion tokens ({output:,}): "
            "reasoning is part of the completion"
        )


def _in_range(value: int, name: str, minimum: int, maximum: int) -> int:
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be a whole number from {minimum:,} to {maximum:,} (got {value:,})")
    return value
