"""Row mapping shared by the SQL back ends (sqlite/ and postgres/): column lists and row -> domain.

The two dialects differ in DDL, upserts and locking, not in the shape of a row: what is here is
the part that really is common, so a field added to a table is mapped once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from costhq.adapters.persistence.converter import parse_time, time_text
from costhq.domain.budgets import BudgetAction, BudgetRule, BudgetScope
from costhq.domain.errors import InvalidArgument
from costhq.domain.identity import FINGERPRINT_WINDOW, Sighting
from costhq.domain.local_models import HardwarePreset, LocalCompute, LocalModel
from costhq.domain.money import from_units
from costhq.domain.reports import ReportRow
from costhq.domain.runaway import Detector, RunawayAction, RunawayConfig, Trip
from costhq.domain.today import TodayProject
from costhq.domain.usage import Origin, TokenCounts


def columns(*names: str) -> str:
    return ", ".join(f"{n} AS {n}" for n in names)


SESSION_COLUMNS = columns(
    "id",
    "name",
    "status",
    "start_time",
    "end_time",
    "working_directory",
    "git_root",
    "start_git_head",
    "branch",
    "notes",
    "files_changed",
    "commits",
    "ai_cost_units",
    "ai_tokens",
    "ai_calls",
    "unpriced_calls",
    "last_activity",
    "user_name",  # issue 16: who and where (SQLite schema v10; PostgreSQL v1)
    "machine",
)

USAGE_FIELDS = (
    "session_id",
    "provider",
    "model",
    "served_model",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_units",
    "price_source",
    "rates",
    "origin",
    "agent_name",
    "request_id",
    "duration_ms",
    "stream",
    "partial",
    "error",
    "timestamp",
    "call_key",
    "upstream_request_id",
    "response_id",
    "usage_missing",
    "input_estimated",
)

USAGE_COLUMNS = columns("id", *USAGE_FIELDS)

RULE_COLUMNS = (
    "id AS id, scope AS scope, limit_units AS limit_units, action AS action, model AS model, "
    "session_id AS session_id, project AS project, created_at AS created_at"
)


def budget_rule_from_row(row: dict[str, Any]) -> BudgetRule:
    return BudgetRule(
        id=row["id"],
        scope=BudgetScope(row["scope"]),
        limit=from_units(row["limit_units"]),
        action=BudgetAction(row["action"]),
        model=row["model"],
        session_id=row["session_id"],
        project=row["project"],
        created_at=parse_time(row["created_at"]),
    )


TRIP_COLUMNS = (
    "id AS id, session_id AS session_id, detector AS detector, action AS action, message AS message, "
    "at AS at, until AS until, cleared_at AS cleared_at"
)


def trip_from_row(row: dict[str, Any]) -> Trip:
    return Trip(
        id=row["id"],
        session_id=row["session_id"],
        detector=Detector(row["detector"]),
        action=RunawayAction(row["action"]),
        message=row["message"],
        at=parse_time(row["at"]),
        until=parse_time(row["until"]),
        cleared_at=parse_time(row["cleared_at"]) if row["cleared_at"] else None,
    )


def config_to_json(cfg: RunawayConfig) -> str:
    """Stored form of the detector config (also used by the in-memory fake)."""
    return json.dumps(
        {
            "action": cfg.action.value,
            "velocity_usd_per_min": str(cfg.velocity_usd_per_min),
            **{
                k: getattr(cfg, k)
                for k in (
                    "velocity_window_s",
                    "identical_k",
                    "identical_window_s",
                    "loop_repeats",
                    "loop_window_s",
                    "churn_n",
                    "churn_window_s",
                )
            },
        },
        sort_keys=True,
    )


def config_from_json(text: str) -> RunawayConfig:
    raw = json.loads(text)
    return RunawayConfig(
        action=RunawayAction(raw.pop("action")), velocity_usd_per_min=Decimal(raw.pop("velocity_usd_per_min")), **raw
    )


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`.

    Raises:
        InvalidArgument: unknown zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(f"unknown timezone {name!r}") from exc


def report_row_from_row(r: dict[str, Any]) -> ReportRow:
    return ReportRow(
        key=r["key"],
        calls=r["calls"],
        input=r["input"],
        cache_read=r["cache_read"],
        cache_write=r["cache_write"],
        output=r["output"],
        reasoning=r["reasoning"],
        total_tokens=r["total_tokens"],
        cost=from_units(r["cost_units"]),
        unpriced_calls=r["unpriced_calls"],
        first=parse_time(r["first"]),
        last=parse_time(r["last"]),
        group=r.get("grp"),
    )


def today_project_from_row(row: dict[str, Any]) -> TodayProject:
    added = parse_time(row["added_at"]) if row["added_at"] else datetime.fromtimestamp(0, UTC)
    return TodayProject(id=row["id"], path=row["path"], name=row["name"], added_at=added)


IDENTITY_COLUMNS = (
    "u.id AS id, u.origin AS origin, u.provider AS provider, u.call_key AS call_key,"
    " u.upstream_request_id AS rid, u.response_id AS resp, u.input_tokens AS input,"
    " u.cache_read_tokens AS cache_read, u.cache_write_5m_tokens AS w5, u.cache_write_1h_tokens AS w1h,"
    " u.output_tokens AS output, u.reasoning_tokens AS reasoning, u.timestamp AS ts"
)


def fingerprint_params(p: Sighting) -> list[Any]:
    t, at = p.tokens, p.timestamp
    assert at is not None
    return [
        p.provider,
        t.input,
        t.cache_read,
        t.cache_write_5m,
        t.cache_write_1h,
        t.output,
        t.reasoning,
        time_text(at - FINGERPRINT_WINDOW),
        time_text(at + FINGERPRINT_WINDOW),
    ]


def sighting_from_row(row: dict[str, Any]) -> Sighting:
    return Sighting(
        origin=Origin(row["origin"]),
        provider=row["provider"],
        call_key=row["call_key"],
        upstream_request_id=row["rid"],
        response_id=row["resp"],
        timestamp=parse_time(row["ts"]),
        tokens=TokenCounts(
            input=row["input"],
            cache_read=row["cache_read"],
            cache_write_5m=row["w5"],
            cache_write_1h=row["w1h"],
            output=row["output"],
            reasoning=row["reasoning"],
        ),
    )


def preset_from_row(r: dict[str, Any]) -> HardwarePreset:
    return HardwarePreset(
        name=r["name"],
        usd_per_hour=from_units(r["units"]),
        source=r["source"],
        description=r["description"],
        builtin=bool(r["builtin"]),
    )


def local_model_from_row(r: dict[str, Any]) -> LocalModel:
    return LocalModel(
        name=r["name"],
        runtime=r["runtime"],
        hardware=r["hardware"],
        base_url=r["base_url"],
        api_equivalent=r["api_equivalent"],
        added_at=parse_time(r["added_at"]),
    )


def compute_from_row(r: dict[str, Any]) -> LocalCompute:
    return LocalCompute(
        usage_id=r["usage_id"],
        model=r["model"],
        hardware=r["hardware"],
        usd_per_hour=from_units(r["rate"]),
        duration_ms=r["duration_ms"],
        cost=from_units(r["cost"]),
        api_equivalent_model=r["api_model"],
        api_equivalent_cost=None if r["api_cost"] is None else from_units(r["api_cost"]),
    )
