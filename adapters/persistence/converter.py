"""The persistence converter: SQLite rows (dicts keyed by `AS` names) <-> domain objects (STYLE §2.6).

Times are fixed-width ISO-8601 UTC text ('YYYY-MM-DDTHH:MM:SS.ffffffZ', lexically sortable);
money is INTEGER 1e-10 USD; rates are JSON of Decimal strings; enums are stored by value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from costhq.domain.money import from_units, quantize, to_units
from costhq.domain.pricing import PriceSource
from costhq.domain.sessions import Session, SessionStatus
from costhq.domain.usage import Origin, TokenCounts, UsageRecord

if TYPE_CHECKING:  # cattrs loads with the first converter: time_text/parse_time users never pay for it
    import cattrs

T = TypeVar("T")
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


def _opt_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _structure_session(row: dict[str, Any], _cls: type) -> Session:
    """A `sessions` row (SESSION_COLUMNS) -> Session; str()/int() as cattrs' own hooks would coerce."""
    return Session(
        id=int(row["id"]),
        name=str(row["name"]),
        status=SessionStatus(row["status"]),
        start_time=parse_time(row["start_time"]),
        working_directory=str(row["working_directory"]),
        end_time=_opt_time(row["end_time"]),
        git_root=_opt_str(row["git_root"]),
        start_git_head=_opt_str(row["start_git_head"]),
        branch=_opt_str(row["branch"]),
        notes=_opt_str(row["notes"]),
        files_changed=int(row["files_changed"]),
        commits=int(row["commits"]),
        ai_cost=from_units(row["ai_cost_units"]),
        ai_tokens=int(row["ai_tokens"]),
        ai_calls=int(row["ai_calls"]),
        unpriced_calls=int(row["unpriced_calls"]),
        last_activity=_opt_time(row["last_activity"]),
        user=_opt_str(row.get("user_name")),
        machine=_opt_str(row.get("machine")),
    )


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
        call_key=row["call_key"],
        upstream_request_id=row["upstream_request_id"],
        response_id=row["response_id"],
        usage_missing=bool(row["usage_missing"]),
        input_estimated=bool(row["input_estimated"]),
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
        "call_key": rec.call_key,
        "upstream_request_id": rec.upstream_request_id,
        "response_id": rec.response_id,
        "usage_missing": int(rec.usage_missing),
        "input_estimated": int(rec.input_estimated),
    }


def normalise_usage(rec: UsageRecord) -> UsageRecord:
    """What a usage record reads back as (cost quantized, UTC time): the fakes use it too."""
    return _structure_usage(_unstructure_usage(rec), UsageRecord)


def make_converter() -> cattrs.Converter:
    """The converter for rows <-> Session, FileChange, Commit, Annotation, UsageRecord."""
    import cattrs

    conv = cattrs.Converter()
    conv.register_structure_hook(datetime, lambda v, _t: parse_time(v))
    conv.register_unstructure_hook(datetime, time_text)
    conv.register_structure_hook(Decimal, lambda v, _t: Decimal(v))
    conv.register_unstructure_hook(Decimal, lambda d: str(quantize(d)))
    # Predicate hooks: registering by class would resolve the classes' annotations (the domain
    # imports some types only under TYPE_CHECKING). The mappings are flat columns anyway, and
    # RowConverter calls the very same functions without building a cattrs converter.
    for cls, hook in _STRUCTURE.items():
        conv.register_structure_hook_func(lambda t, c=cls: t is c, hook)
    conv.register_unstructure_hook_func(lambda t: t is UsageRecord, _unstructure_usage)
    return conv


_STRUCTURE: dict[type, Callable[[dict[str, Any], type], Any]] = {
    Session: _structure_session,
    UsageRecord: _structure_usage,
}


class RowConverter:
    """The unit of work's converter: sessions and usage rows by their hooks, anything else by cattrs.

    `structure`/`unstructure` give what `make_converter()` gives (the same hook functions are
    registered there); the cattrs converter is only built when another class comes through, so
    `cs log-ai` and `cs status` never import cattrs (~15 ms of start-up; ADR 0003).
    """

    def __init__(self) -> None:
        self._cattrs: cattrs.Converter | None = None

    def structure(self, obj: Any, cls: type[T]) -> T:
        hook = _STRUCTURE.get(cls)
        return hook(obj, cls) if hook is not None else self.full().structure(obj, cls)  # type: ignore[no-any-return]

    def unstructure(self, obj: Any) -> Any:
        if type(obj) is UsageRecord:
            return _unstructure_usage(obj)
        return self.full().unstructure(obj)

    def full(self) -> cattrs.Converter:
        """The cattrs converter, built on first use."""
        if self._cattrs is None:
            self._cattrs = make_converter()
        return self._cattrs
