"""The persistence converter: SQLite rows (dicts keyed by `AS` names) <-> domain objects (STYLE §2.6).

Times are fixed-width ISO-8601 UTC text ('YYYY-MM-DDTHH:MM:SS.ffffffZ', lexically sortable);
money is INTEGER 1e-10 USD; rates are JSON of Decimal strings; enums are stored by value.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, override

from costhq.domain.money import from_units, quantize, to_units
from costhq.domain.pricing import PriceSource
from costhq.domain.sessions import Session
from costhq.domain.usage import Origin, TokenCounts, UsageRecord

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def time_text(value: datetime) -> str:
    """Aware datetime -> fixed-width UTC text.

    Raises:
        ValueError: on a naive datetime (its zone would be a guess).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"times must be timezone-aware, got {value!r}")
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Stored UTC text -> aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def normalise_time(value: datetime) -> datetime:
    """What a time reads back as after storage (UTC, microseconds): the fakes use it too."""
    return parse_time(time_text(value))


def _structure_usage(row: dict[str, Any], _cls: type) -> UsageRecord:
    units = row["cost_units"]
    return UsageRecord(
        id=row["id"],
        session_id=row["session_id"],
        provider=row["provider"],
        model=row["model"],
        served_model=row["served_model"],
        tokens=TokenCounts(
            input=row["input_tokens"],
            cache_read=row["cache_read_tokens"],
            cache_write_5m=row["cache_write_5m_tokens"],
            cache_write_1h=row["cache_write_1h_tokens"],
            output=row["output_tokens"],
            reasoning=row["reasoning_tokens"],
        ),
        total_tokens=row["total_tokens"],
        cost=None if units is None else from_units(units),
        price_source=PriceSource(row["price_source"]),
        rates={k: Decimal(v) for k, v in json.loads(row["rates"]).items()},
        origin=Origin(row["origin"]),
        agent=row["agent_name"],
        request_id=row["request_id"],
        duration_ms=row["duration_ms"],
        stream=bool(row["stream"]),
        partial=bool(row["partial"]),
        error=bool(row["error"]),
        timestamp=parse_time(row["timestamp"]),
    )


def _unstructure_usage(rec: UsageRecord) -> dict[str, Any]:
    t = rec.tokens
    return {
        "id": rec.id,
        "session_id": rec.session_id,
        "provider": rec.provider,
        "model": rec.model,
        "served_model": rec.served_model,
        "input_tokens": t.input,
        "cache_read_tokens": t.cache_read,
        "cache_write_5m_tokens": t.cache_write_5m,
        "cache_write_1h_tokens": t.cache_write_1h,
        "output_tokens": t.output,
        "reasoning_tokens": t.reasoning,
        "total_tokens": rec.total_tokens,
        "cost_units": None if rec.cost is None else to_units(rec.cost),
        "price_source": rec.price_source.value,
        "rates": json.dumps({k: str(v) for k, v in rec.rates.items()}, sort_keys=True),
        "origin": rec.origin.value,
        "agent_name": rec.agent,
        "request_id": rec.request_id,
        "duration_ms": rec.duration_ms,
        "stream": int(rec.stream),
        "partial": int(rec.partial),
        "error": int(rec.error),
        "timestamp": time_text(rec.timestamp),
    }


def normalise_usage(rec: UsageRecord) -> UsageRecord:
    """What a usage record reads back as (cost quantized, UTC time): the fakes use it too."""
    return _structure_usage(_unstructure_usage(rec), UsageRecord)


def make_converter() -> cattrs.Converter:
    """The converter for rows <-> Session, FileChange, Commit, Annotation, UsageRecord."""
    conv = cattrs.Converter()
    conv.register_structure_hook(datetime, lambda v, _t: parse_time(v))
    conv.register_unstructure_hook(datetime, time_text)
    conv.register_structure_hook(Decimal, lambda v, _t: Decimal(v))
    conv.register_unstructure_hook(Decimal, lambda d: str(quantize(d)))
    conv.register_structure_hook(
        Session,
        make_dict_structure_fn(
            Session,
            conv,
            ai_cost=override(rename="ai_cost_units", struct_hook=lambda v, _t: from_units(v)),
        ),
    )
    # Predicate hooks: registering by class would resolve UsageRecord's annotations, and the
    # domain imports PriceSource only under TYPE_CHECKING. The mapping is flat columns anyway.
    conv.register_structure_hook_func(lambda t: t is UsageRecord, _structure_usage)
    conv.register_unstructure_hook_func(lambda t: t is UsageRecord, _unstructure_usage)
    return conv
