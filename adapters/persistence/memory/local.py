"""In-memory LocalRepository: the verified fake of SqlLocalRepository (tests/contract).

It lives on a unit of work's working copy (`_State.tables`), so it commits and rolls back with
it. Fresh state holds the built-in presets, as a migrated database does; foreign keys behave as
in SQLite (unknown preset or usage id, or removing a preset in use -> Conflict), and compute rows
of deleted usage records disappear (ON DELETE CASCADE).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from costhq.adapters.persistence.converter import normalise_time
from costhq.application.errors import Conflict
from costhq.domain.local_models import (
    BUILTIN_PRESETS,
    ComputeGroup,
    ComputeSummary,
    HardwarePreset,
    LocalCompute,
    LocalModel,
)
from costhq.domain.money import ZERO, quantize
from costhq.domain.reports import ReportFilter


class InMemoryLocalRepository:
    """LocalRepository over a working copy."""

    def __init__(self, state: Any) -> None:
        self._s = state
        self._presets: dict[str, HardwarePreset] = state.tables.setdefault(
            "hardware_presets", {p.name: p for p in BUILTIN_PRESETS})
        self._models: dict[str, LocalModel] = state.tables.setdefault("local_models", {})
        usage_ids = {u.id for u in state.usage}
        kept = {k: v for k, v in state.tables.get("local_usage", {}).items() if k in usage_ids}
        state.tables["local_usage"] = kept
        self._compute: dict[int, LocalCompute] = kept

    def presets(self) -> list[HardwarePreset]:
        return sorted(self._presets.values(), key=lambda p: p.name)

    def preset(self, name: str) -> HardwarePreset | None:
        return self._presets.get(name)

    def put_preset(self, preset: HardwarePreset) -> None:
        self._presets[preset.name] = attrs.evolve(preset, usd_per_hour=quantize(preset.usd_per_hour))

    def remove_preset(self, name: str) -> bool:
        if self.models_on(name):
            raise Conflict(f"Conflicting write: preset {name!r} is referenced by local models")
        return self._presets.pop(name, None) is not None

    def models(self) -> list[LocalModel]:
        return sorted(self._models.values(), key=lambda m: m.name)

    def model(self, name: str) -> LocalModel | None:
        return self._models.get(name)

    def put_model(self, model: LocalModel) -> None:
        if model.hardware not in self._presets:
            raise Conflict(f"Conflicting write: no preset {model.hardware!r}")
        self._models[model.name] = attrs.evolve(model, added_at=normalise_time(model.added_at))

    def remove_model(self, name: str) -> bool:
        return self._models.pop(name, None) is not None

    def models_on(self, preset: str) -> list[str]:
        return sorted(m.name for m in self._models.values() if m.hardware == preset)

    def add_compute(self, compute: LocalCompute) -> LocalCompute:
        if compute.usage_id is None or compute.usage_id in self._compute \
                or not any(u.id == compute.usage_id for u in self._s.usage):
            raise Conflict(f"Conflicting write: usage {compute.usage_id} missing or already linked")
        api = compute.api_equivalent_cost
        stored = attrs.evolve(compute, usd_per_hour=quantize(compute.usd_per_hour), cost=quantize(compute.cost),
                              api_equivalent_cost=None if api is None else quantize(api))
        self._compute[compute.usage_id] = stored
        return stored

    def compute_for(self, usage_id: int) -> LocalCompute | None:
        return self._compute.get(usage_id)

    def summary(self, where: ReportFilter) -> ComputeSummary:
        usage = {u.id: u for u in self._s.usage}
        rows = []
        for c in self._compute.values():
            u = usage[c.usage_id]
            s = self._s.sessions[u.session_id]
            if ((where.since is None or u.timestamp >= normalise_time(where.since))
                    and (where.until is None or u.timestamp < normalise_time(where.until))
                    and (where.project is None or s.working_directory == where.project)
                    and (not where.model or where.model.lower() in c.model.lower())
                    and (where.user is None or s.who(where.owner).user == where.user)
                    and (where.machine is None or s.who(where.owner).machine == where.machine)):
                rows.append((c, u.total_tokens))
        return ComputeSummary(by_hardware=_groups(rows, lambda c: c.hardware),
                              by_model=_groups(rows, lambda c: c.model))


def _groups(rows: list[tuple[LocalCompute, int]], key: Any) -> list[ComputeGroup]:
    acc: dict[str, list[Any]] = {}
    for c, tokens in rows:
        a = acc.setdefault(key(c), [0, 0, ZERO, ZERO, 0])
        a[0] += 1
        a[1] += c.duration_ms
        a[2] += c.cost
        a[3] += c.api_equivalent_cost or ZERO
        a[4] += tokens
    groups = [ComputeGroup(key=k, calls=a[0], duration_ms=a[1], cost=quantize(a[2]),
                           api_equivalent_cost=quantize(Decimal(a[3])), total_tokens=a[4]) for k, a in acc.items()]
    return sorted(groups, key=lambda g: (-g.cost, g.key))
