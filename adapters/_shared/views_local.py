"""JSON views of hardware presets, local models and local compute (CLI, HTTP API; camelCase)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costhq.adapters._shared.views import iso
from costhq.domain.local_models import (
    MS_PER_HOUR,
    ComputeGroup,
    ComputeSummary,
    HardwarePreset,
    LocalCompute,
    LocalModel,
)
from costhq.domain.money import as_json_number
from costhq.domain.sessions import format_duration


def _seconds(ms: int) -> float | int:
    return as_json_number(Decimal(ms) / 1000)


def _hours(ms: int) -> float | int:
    return as_json_number(Decimal(ms) / MS_PER_HOUR)


def preset_json(p: HardwarePreset) -> dict[str, Any]:
    return {"name": p.name, "usdPerHour": as_json_number(p.usd_per_hour), "description": p.description,
            "source": p.source, "builtin": p.builtin}


def group_json(g: ComputeGroup) -> dict[str, Any]:
    """Compute of one hardware tier or model."""
    return {"name": g.key, "calls": g.calls, "computeSeconds": _seconds(g.duration_ms),
            "computeHours": _hours(g.duration_ms), "computeFormatted": format_duration(g.duration_ms // 1000),
            "cost": as_json_number(g.cost), "apiCost": 0, "apiEquivalentCost": as_json_number(g.api_equivalent_cost),
            "tokens": g.total_tokens}


def compute_json(s: ComputeSummary) -> dict[str, Any]:
    """Totals plus the per-hardware and per-model groups."""
    return {"calls": s.calls, "computeSeconds": _seconds(s.duration_ms), "computeHours": _hours(s.duration_ms),
            "cost": as_json_number(s.cost), "apiCost": 0, "apiEquivalentCost": as_json_number(s.api_equivalent_cost),
            "byHardware": [group_json(g) for g in s.by_hardware], "byModel": [group_json(g) for g in s.by_model]}


def model_json(m: LocalModel, used: ComputeGroup | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": m.name, "runtime": m.runtime, "hardware": m.hardware, "baseUrl": m.base_url,
        "proxyPath": f"/local/{m.name}" if m.base_url else None, "apiEquivalent": m.api_equivalent,
        "addedAt": iso(m.added_at)}
    ms = used.duration_ms if used else 0
    out.update({"calls": used.calls if used else 0, "computeSeconds": _seconds(ms), "computeHours": _hours(ms),
                "cost": as_json_number(used.cost) if used else 0})
    return out


def local_call_json(c: LocalCompute) -> dict[str, Any]:
    """The compute side of one logged call (`cs log-ai --json` `local`)."""
    return {"model": c.model, "hardware": c.hardware, "usdPerHour": as_json_number(c.usd_per_hour),
            "durationSeconds": _seconds(c.duration_ms), "computeCost": as_json_number(c.cost), "apiCost": 0,
            "apiEquivalentModel": c.api_equivalent_model,
            "apiEquivalentCost": None if c.api_equivalent_cost is None else as_json_number(c.api_equivalent_cost)}
