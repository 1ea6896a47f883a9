"""Shared CLI parameter types and input validation (bad input -> invalid_argument, nothing written)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from cyclopts import Parameter

from costhq.domain.errors import InvalidArgument
from costhq.domain.money import parse_usd

Json = Annotated[bool, Parameter(name="--json", negative="", help="Machine-readable JSON output.")]
SessionOpt = Annotated[int | None, Parameter(name=["--session", "-s"], help="Target session id.")]


def token_count(name: str, text: str | None) -> int | None:
    """Token counts must be whole numbers >= 0 (no silent rounding of `1.5`, no `-5`)."""
    if text is None:
        return None
    cleaned = text.strip().replace("_", "").replace(",", "")
    if not cleaned.isdigit():
        raise InvalidArgument(f"{name} must be a whole number >= 0 (got {text!r})")
    return int(cleaned)


def usd(name: str, text: str | None, error: type[InvalidArgument] = InvalidArgument) -> Decimal | None:
    """Parse a dollar amount; NaN, infinities, negatives and junk are rejected."""
    if text is None:
        return None
    try:
        return parse_usd(text)
    except ValueError as exc:
        raise error(f"{name}: {exc}") from exc


def positive_session(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise InvalidArgument(f"session id must be a positive integer (got {value})")
    return value
