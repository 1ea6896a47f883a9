"""LocalRepository (port: LocalRepository) on both SQL back ends: hardware presets, local models,
compute per call. The statements are the same on SQLite and PostgreSQL (see the package doc).

Assumptions: runs inside a unit of work's transaction. `local_usage` is a 1:1 side table of
`ai_usage` (ON DELETE CASCADE, so Start Fresh and session deletes take it along); rates and
costs are integer 1e-10 USD like every other amount; summaries aggregate in SQL.
"""

from __future__ import annotations

from typing import Any

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.rows import compute_from_row, local_model_from_row, preset_from_row
from costhq.adapters.persistence.sql import SqlDb, contains
from costhq.adapters.persistence.sql.team import who_terms
from costhq.domain.local_models import ComputeGroup, ComputeSummary, HardwarePreset, LocalCompute, LocalModel
from costhq.domain.money import from_units, to_units
from costhq.domain.reports import ReportFilter

_PRESET = ("SELECT name AS name, usd_per_hour_units AS units, source AS source, description AS description,"
           " builtin AS builtin FROM hardware_presets")
_MODEL = ("SELECT name AS name, runtime AS runtime, hardware AS hardware, base_url AS base_url,"
          " api_equivalent AS api_equivalent, added_at AS added_at FROM local_models")
_COMPUTE = ("SELECT usage_id AS usage_id, local_model AS model, hardware AS hardware, usd_per_hour_units AS rate,"
            " duration_ms AS duration_ms, cost_units AS cost, api_equivalent_model AS api_model,"
            " api_equivalent_units AS api_cost FROM local_usage")


class SqlLocalRepository:
    """LocalRepository on `hardware_presets`, `local_models` and `local_usage`."""

    def __init__(self, db: Any) -> None:
        self._db: SqlDb = db.portable()

    def presets(self) -> list[HardwarePreset]:
        return [preset_from_row(r) for r in self._db.rows(_PRESET + " ORDER BY name")]

    def preset(self, name: str) -> HardwarePreset | None:
        rows = self._db.rows(_PRESET + " WHERE name = ?", (name,))
        return preset_from_row(rows[0]) if rows else None

    def put_preset(self, preset: HardwarePreset) -> None:
        self._db.run(
            "INSERT INTO hardware_presets (name, usd_per_hour_units, source, description, builtin)"
            " VALUES (:name, :units, :source, :description, :builtin) ON CONFLICT (name) DO UPDATE SET"
            " usd_per_hour_units = excluded.usd_per_hour_units, source = excluded.source,"
            " description = excluded.description, builtin = excluded.builtin",
            {"name": preset.name, "units": to_units(preset.usd_per_hour), "source": preset.source,
             "description": preset.description, "builtin": int(preset.builtin)})

    def remove_preset(self, name: str) -> bool:
        return self._db.run("DELETE FROM hardware_presets WHERE name = ?", (name,)) > 0

    def models(self) -> list[LocalModel]:
        return [local_model_from_row(r) for r in self._db.rows(_MODEL + " ORDER BY name")]

    def model(self, name: str) -> LocalModel | None:
        rows = self._db.rows(_MODEL + " WHERE name = ?", (name,))
        return local_model_from_row(rows[0]) if rows else None

    def put_model(self, model: LocalModel) -> None:
        self._db.run(
            "INSERT INTO local_models (name, runtime, hardware, base_url, api_equivalent, added_at)"
            " VALUES (:name, :runtime, :hardware, :base_url, :api, :at) ON CONFLICT (name) DO UPDATE SET"
            " runtime = excluded.runtime, hardware = excluded.hardware, base_url = excluded.base_url,"
            " api_equivalent = excluded.api_equivalent, added_at = excluded.added_at",
            {"name": model.name, "runtime": model.runtime, "hardware": model.hardware, "base_url": model.base_url,
             "api": model.api_equivalent, "at": time_text(model.added_at)})

    def remove_model(self, name: str) -> bool:
        return self._db.run("DELETE FROM local_models WHERE name = ?", (name,)) > 0

    def models_on(self, preset: str) -> list[str]:
        rows = self._db.rows("SELECT name AS name FROM local_models WHERE hardware = ? ORDER BY name", (preset,))
        return [r["name"] for r in rows]

    def add_compute(self, compute: LocalCompute) -> LocalCompute:
        self._db.run(
            "INSERT INTO local_usage (usage_id, local_model, hardware, usd_per_hour_units, duration_ms, cost_units,"
            " api_equivalent_model, api_equivalent_units) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (compute.usage_id, compute.model, compute.hardware, to_units(compute.usd_per_hour), compute.duration_ms,
             to_units(compute.cost), compute.api_equivalent_model,
             None if compute.api_equivalent_cost is None else to_units(compute.api_equivalent_cost)))
        found = self.compute_for(compute.usage_id or 0)
        assert found is not None
        return found

    def compute_for(self, usage_id: int) -> LocalCompute | None:
        rows = self._db.rows(_COMPUTE + " WHERE usage_id = ?", (usage_id,))
        return compute_from_row(rows[0]) if rows else None

    def summary(self, where: ReportFilter) -> ComputeSummary:
        clause, params = self._where(where)
        return ComputeSummary(by_hardware=self._groups("l.hardware", clause, params),
                              by_model=self._groups("l.local_model", clause, params))

    def _where(self, where: ReportFilter) -> tuple[str, dict[str, Any]]:
        clauses, params = [], {}
        if where.since is not None:
            clauses.append("u.timestamp >= :since")
            params["since"] = time_text(where.since)
        if where.until is not None:
            clauses.append("u.timestamp < :until")
            params["until"] = time_text(where.until)
        if where.project is not None:
            clauses.append("s.working_directory = :project")
            params["project"] = where.project
        if where.model:
            clauses.append(contains(self._db, "l.local_model", "model"))
            params["model"] = where.model
        terms, who = who_terms(lambda n: f":{n}", user=where.user, machine=where.machine, project=None,
                               owner=where.owner, table="s.")  # issue 16
        clauses += terms
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", {**params, **who}

    def _groups(self, key: str, clause: str, params: dict[str, Any]) -> list[ComputeGroup]:
        # CAST: PostgreSQL's SUM of BIGINT is NUMERIC; BIGINT is an INTEGER affinity on SQLite
        rows = self._db.rows(
            f"SELECT {key} AS key, COUNT(*) AS calls, CAST(SUM(l.duration_ms) AS BIGINT) AS ms,"
            " CAST(SUM(l.cost_units) AS BIGINT) AS cost, CAST(COALESCE(SUM(l.api_equivalent_units), 0) AS BIGINT)"
            " AS api, CAST(SUM(u.total_tokens) AS BIGINT) AS tokens"
            " FROM local_usage l JOIN ai_usage u ON u.id = l.usage_id JOIN sessions s ON s.id = u.session_id"
            f"{clause} GROUP BY {key} ORDER BY cost DESC, key", params)
        return [ComputeGroup(key=r["key"], calls=r["calls"], duration_ms=r["ms"], cost=from_units(r["cost"]),
                             api_equivalent_cost=from_units(r["api"]), total_tokens=r["tokens"]) for r in rows]
