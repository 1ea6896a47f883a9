"""Local models and hardware presets: registration, time-based pricing of calls, compute reports.

Rules: a call whose model is a registered local model costs its compute time x the hourly rate of
the model's hardware preset (price source `local`; its API cost is $0). When the user named an
API-equivalent cloud model, the call's tokens are also priced at that model, for comparison only.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs

# PriceLocalCall lives in local_pricing (the part `cs log-ai` imports); re-exported here.
from costhq.application.local_pricing import PriceLocalCall as PriceLocalCall
from costhq.application.local_pricing import split_model
from costhq.application.ports.clock import Clock
from costhq.application.ports.local import LocalUnitOfWork
from costhq.application.ports.pricing import PriceBook
from costhq.domain.errors import (
    InvalidArgument,
    LocalModelNotFound,
    PresetInUse,
    PresetNotFound,
    UnknownModel,
)
from costhq.domain.local_models import (
    DEFAULT_BASE_URLS,
    RUNTIMES,
    ComputeSummary,
    HardwarePreset,
    LocalModel,
    check_base_url,
    check_name,
    parse_rate,
)
from costhq.domain.reports import ReportFilter
from costhq.domain.sessions import Who

USER_SOURCE = "user"


@attrs.frozen
class ListPresets:
    """Every hardware preset, by name."""

    uow: Callable[[], LocalUnitOfWork]

    def __call__(self) -> list[HardwarePreset]:
        with self.uow() as uow:
            return uow.local.presets()


@attrs.frozen
class SetPreset:
    """Add a preset or change its rate (a changed built-in becomes a user preset; history keeps old rates)."""

    uow: Callable[[], LocalUnitOfWork]

    def __call__(self, *, name: str, usd_per_hour: str | Decimal, description: str | None = None) -> HardwarePreset:
        name, rate = check_name("preset", name), parse_rate(usd_per_hour)
        with self.uow() as uow:
            old = uow.local.preset(name)
            kept = old.description if old is not None else ""
            preset = HardwarePreset(name=name, usd_per_hour=rate, source=USER_SOURCE,
                                    description=kept if description is None else description.strip())
            uow.local.put_preset(preset)
        return preset


@attrs.frozen
class RemovePreset:
    """Remove a preset no local model is billed at.

    Raises:
        PresetNotFound: no such preset.
        PresetInUse: local models still use it (re-point or remove them first).
    """

    uow: Callable[[], LocalUnitOfWork]

    def __call__(self, *, name: str) -> None:
        with self.uow() as uow:
            users = uow.local.models_on(name)
            if users:
                raise PresetInUse(f"Preset {name!r} is used by local model(s) {', '.join(users)}", preset=name)
            if not uow.local.remove_preset(name):
                raise PresetNotFound(f"No hardware preset {name!r} (see `cs hardware list`)", preset=name)


@attrs.frozen
class AddLocalModel:
    """Register (or re-register) a local model on a preset, with its runtime and base URL."""

    uow: Callable[[], LocalUnitOfWork]
    clock: Clock
    prices: PriceBook

    def __call__(self, *, name: str, runtime: str, hardware: str, base_url: str | None = None,
                 api_equivalent: str | None = None, allow_remote: bool = False) -> LocalModel:
        name = check_name("model", name)
        if runtime not in RUNTIMES:
            raise InvalidArgument(f"--runtime must be one of {', '.join(RUNTIMES)} (got {runtime!r})")
        url = base_url if base_url is not None else DEFAULT_BASE_URLS.get(runtime)
        url = None if url is None else check_base_url(url, allow_remote=allow_remote)
        if api_equivalent is not None and self.prices.quote(*split_model(api_equivalent)) is None:
            raise UnknownModel(f"No price known for API-equivalent model {api_equivalent!r}",
                               model=api_equivalent)
        with self.uow() as uow:
            if uow.local.preset(hardware) is None:
                raise PresetNotFound(f"No hardware preset {hardware!r} (see `cs hardware list`)", preset=hardware)
            model = LocalModel(name=name, runtime=runtime, hardware=hardware, base_url=url,
                               api_equivalent=api_equivalent.strip() if api_equivalent else None,
                               added_at=self.clock.now())
            uow.local.put_model(model)
        return model


@attrs.frozen
class ListLocalModels:
    """Every local model, by name."""

    uow: Callable[[], LocalUnitOfWork]

    def __call__(self) -> list[LocalModel]:
        with self.uow() as uow:
            return uow.local.models()


@attrs.frozen
class RemoveLocalModel:
    """Forget a local model (its recorded calls keep their cost).

    Raises:
        LocalModelNotFound: no such model.
    """

    uow: Callable[[], LocalUnitOfWork]

    def __call__(self, *, name: str) -> None:
        with self.uow() as uow:
            if not uow.local.remove_model(name):
                raise LocalModelNotFound(f"No local model {name!r} (see `cs local list`)", model=name)


@attrs.frozen
class FindLocalModel:
    """The model (and its preset) behind a proxy route `/local/<name>/`, or None."""

    uow: Callable[[], LocalUnitOfWork]

    def __call__(self, *, name: str) -> LocalModel | None:
        with self.uow() as uow:
            return uow.local.model(name)


@attrs.frozen
class LocalComputeReport:
    """Compute hours and cost per hardware tier and per local model (aggregated in storage)."""

    uow: Callable[[], LocalUnitOfWork]
    owner: Who | None = None  # issue 16: who a session stored without user and machine belongs to

    def __call__(self, *, where: ReportFilter | None = None) -> ComputeSummary:
        where = where or ReportFilter()
        with self.uow() as uow:
            return uow.local.summary(attrs.evolve(where, owner=where.owner or self.owner))
