"""AI usage: token classes and the usage record.

`TokenCounts` keeps classes disjoint (DESIGN §4): `input` is uncached input only,
so provider conventions are normalised once, at the edge that reads them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from costhq.domain.pricing import PriceSource


def _non_negative(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attr.name} must not be negative")


@attrs.frozen(kw_only=True)
class TokenCounts:
    """Disjoint token classes of one AI call.

    Attributes:
        input: uncached input tokens.
        cache_read: input tokens served from the prompt cache.
        cache_write_5m: input tokens written to a 5-minute cache.
        cache_write_1h: input tokens written to a 1-hour cache.
        output: output tokens, reasoning included.
        reasoning: the reasoning share of `output` (informational, never added twice).
    """

    input: int = attrs.field(default=0, validator=_non_negative)
    cache_read: int = attrs.field(default=0, validator=_non_negative)
    cache_write_5m: int = attrs.field(default=0, validator=_non_negative)
    cache_write_1h: int = attrs.field(default=0, validator=_non_negative)
    output: int = attrs.field(default=0, validator=_non_negative)
    reasoning: int = attrs.field(default=0, validator=_non_negative)

    @property
    def cache_write(self) -> int:
        """All cache-write tokens."""
        return self.cache_write_5m + self.cache_write_1h

    @property
    def total_input(self) -> int:
        """Input of every class (the threshold of cliff tiers)."""
        return self.input + self.cache_read + self.cache_write

    @property
    def total(self) -> int:
        """All tokens billed (reasoning is inside output)."""
        return self.total_input + self.output

    @property
    def is_empty(self) -> bool:
        """True when no token class has a count."""
        return self.total == 0


class Origin(enum.Enum):
    """Which path recorded the usage."""

    CLI = "cli"
    PROXY = "proxy"
    LIBRARY = "library"
    IMPORT = "import"
    MCP = "mcp"


@attrs.frozen(kw_only=True)
class UsageRecord:
    """One AI call, priced at record time (later price changes never rewrite it).

    Attributes:
        session_id: owning session.
        provider: provider id (lower case).
        model: model as requested.
        served_model: model the response said it served (falls back to `model`).
        tokens: token classes.
        total_tokens: tokens as reported (may exceed the classes when only a total is known).
        cost: USD, or None when unpriced.
        price_source: built-in | custom | manual | unpriced.
        rates: per-1M rates used, for transparency.
        origin: cli | proxy | library | import | mcp.
        agent: agent name, if any.
        request_id: legacy: the only key of records written before call keys existed (kept as
            written; schema step 8 derived their `call_key` and upstream ids from it).
        call_key: this record's own key (unique): a record arriving with a stored key is a replay.
        upstream_request_id: the upstream's request-id header, to match the same call seen by
            another capture path (never the record's own key).
        response_id: the response body's id, the same use as `upstream_request_id`.
        usage_missing: answered without usage: kept as a 0-token call, flagged.
        input_estimated: input tokens estimated from the request (a cut stream), flagged.
        duration_ms: wall time of the call, when measured.
        stream: whether the response was streamed.
        partial: a stream cut short; tokens are what was seen.
        timestamp: aware UTC time of the call.
        id: storage id once saved.
    """

    session_id: int
    provider: str
    model: str
    tokens: TokenCounts
    total_tokens: int
    cost: Decimal | None
    price_source: PriceSource
    timestamp: datetime
    served_model: str | None = None
    rates: dict[str, Decimal] = attrs.field(factory=dict)
    origin: Origin = Origin.CLI
    agent: str | None = None
    request_id: str | None = None
    call_key: str | None = None
    upstream_request_id: str | None = None
    response_id: str | None = None
    usage_missing: bool = False
    input_estimated: bool = False
    duration_ms: int | None = None
    stream: bool = False
    partial: bool = False
    error: bool = False
    id: int | None = None

    @property
    def effective_model(self) -> str:
        """The served model when known, else the requested one."""
        return self.served_model or self.model
