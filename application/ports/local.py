"""Ports: Local models and hardware presets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from costhq.application.ports.storage import UnitOfWork

if TYPE_CHECKING:
    from costhq.domain.local_models import ComputeSummary, HardwarePreset, LocalCompute, LocalModel
    from costhq.domain.reports import ReportFilter


class LocalRepository(Protocol):
    """Hardware presets, registered local models and the compute side of local calls.

    Fresh storage holds the built-in presets (`BUILTIN_PRESETS`); the user may change or remove them.
    """

    def presets(self) -> list[HardwarePreset]:
        """Every preset, by name."""
        ...
    def preset(self, name: str) -> HardwarePreset | None: ...
    def put_preset(self, preset: HardwarePreset) -> None:
        """Add or replace by name."""
        ...
    def remove_preset(self, name: str) -> bool: ...
    def models(self) -> list[LocalModel]:
        """Every local model, by name."""
        ...
    def model(self, name: str) -> LocalModel | None: ...
    def put_model(self, model: LocalModel) -> None:
        """Add or replace by name."""
        ...
    def remove_model(self, name: str) -> bool: ...
    def models_on(self, preset: str) -> list[str]:
        """Names of the local models billed at `preset`."""
        ...
    def add_compute(self, compute: LocalCompute) -> LocalCompute:
        """Link the compute side to its (already added) usage record, in the same transaction."""
        ...
    def compute_for(self, usage_id: int) -> LocalCompute | None: ...
    def summary(self, where: ReportFilter) -> ComputeSummary:
        """Compute per hardware tier and per model of the calls matching `where` (aggregated in storage)."""
        ...


class LocalUnitOfWork(UnitOfWork, Protocol):
    """A UnitOfWork that also offers the local-models repository."""

    local: LocalRepository
