"""Shared CLI parameter types and input validation (bad input -> invalid_argument, nothing written).

Numbers follow `costhq.domain.numbers` (ASCII decimal only, each with a range): numeric flags are
taken as text and parsed here, because Cyclopts' own `int`/`float` conversion reads any Unicode
digit (`-s ٣` would be session 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from cyclopts import Parameter

from costhq.domain import numbers
from costhq.domain.errors import InvalidArgument
from costhq.domain.money import parse_usd


def _session_id(type_: Any, tokens: Sequence[Any]) -> int:
    # Raised as ValueError, Cyclopts reports "Invalid value for -s: ..." (invalid_argument).
    return numbers.parse_count(tokens[0].value, name="session id", minimum=1, maximum=numbers.MAX_ID)


def whole(type_: Any, tokens: Sequence[Any]) -> int:
    """A Cyclopts converter for any whole-number flag: ASCII digits only, 0..2^63-1 (ranges that
    depend on the flag are checked by the use case, which names the rule)."""
    token = tokens[0]
    name = getattr(token, "keyword", None) or "value"
    return numbers.parse_count(token.value, name=name, maximum=numbers.MAX_ID)


SessionArg = Annotated[int | None, Parameter(converter=_session_id)]  # a positional session id
Whole = Annotated[int, Parameter(converter=whole)]
WholeOpt = Annotated[int | None, Parameter(converter=whole)]
Json = Annotated[bool, Parameter(name="--json", negative="", help="Machine-readable JSON output.")]
SessionOpt = Annotated[
    int | None, Parameter(name=["--session", "-s"], converter=_session_id, help="Target session id.")
]


def token_count(name: str, text: str | None) -> int | None:
    """Token counts: whole numbers 0..10^12 in ASCII digits (no silent rounding of `1.5`, no `-5`)."""
    if text is None:
        return None
    try:
        return numbers.parse_count(text, name=name)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


def usd(
    name: str,
    text: str | None,
    error: type[InvalidArgument] = InvalidArgument,
    *,
    maximum: Decimal = numbers.MAX_USD,
) -> Decimal | None:
    """A dollar amount in 0..`maximum`; junk, NaN, infinities, negatives and nonzero amounts below
    1e-10 USD are rejected."""
    if text is None:
        return None
    try:
        return parse_usd(text, name=name, maximum=maximum)
    except ValueError as exc:
        raise error(str(exc)) from None


def hours(name: str, text: str) -> float:
    """An age in hours, 0..10^6 (ASCII decimal)."""
    try:
        return float(numbers.parse_decimal(text, name=name, maximum=numbers.MAX_HOURS))
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


def positive_session(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= numbers.MAX_ID:
        raise InvalidArgument(f"session id must be a whole number from 1 to {numbers.MAX_ID:,} (got {value})")
    return value
