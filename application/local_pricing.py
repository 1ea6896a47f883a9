"""Pricing a call to a registered local model by compute time: the part of issue 8 `log-ai` runs.

Kept apart from `application/local_models.py` (registration, presets, reports) so every
`cs log-ai` imports one use case instead of nine (ADR 0003); that module re-exports these names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from costhq.application.ports.local import LocalUnitOfWork
from costhq.application.ports.pricing import PriceBook
from costhq.domain.errors import InvalidArgument, MissingDuration
from costhq.domain.money import quantize

if TYPE_CHECKING:
    from costhq.application.usage import UsageInput
    from costhq.domain.local_models import LocalCompute


def split_model(ref: str) -> tuple[str, str]:
    """`provider/model` -> (provider, model); a bare model gets an empty provider (any provider)."""
    provider, sep, model = ref.strip().partition("/")
    return (provider, model) if sep and model else ("", ref.strip())


@attrs.frozen
class PriceLocalCall:
    """LogUsage's hook: the time-based price of a call to a registered local model, else None.

    Raises:
        MissingDuration: a local model, no duration and no explicit cost (unless unpriced is allowed).
        InvalidArgument: a negative duration, or both a duration-priced local call and an explicit cost.
    """

    uow: Callable[[], LocalUnitOfWork]
    prices: PriceBook

    def __call__(self, call: UsageInput, *, allow_unpriced: bool = False) -> LocalCompute | None:
        with self.uow() as uow:
            return self.within(uow, call, allow_unpriced=allow_unpriced)

    def within(self, uow: LocalUnitOfWork, call: UsageInput, *, allow_unpriced: bool = False) -> LocalCompute | None:
        """The same, inside the caller's unit of work (LogUsage: one transaction per call)."""
        if call.duration_ms is not None and call.duration_ms < 0:
            raise InvalidArgument("duration must not be negative")
        model = uow.local.model(call.model.strip())
        preset = uow.local.preset(model.hardware) if model is not None else None
        if model is None or preset is None:
            return None
        if call.duration_ms is None:
            if call.cost is not None or allow_unpriced:
                return None
            raise MissingDuration(f"{model.name} is a local model priced by compute time: pass --duration SECONDS "
                                  "(or -c COST)", model=model.name)
        if call.cost is not None:
            raise InvalidArgument("give --duration (priced by compute time) or -c COST, not both")
        from costhq.domain.local_models import LocalCompute  # only when the model is a local one

        compute = LocalCompute.of(model, preset, call.duration_ms)
        if model.api_equivalent is None or call.tokens.is_empty:
            return compute
        quote = self.prices.quote(*split_model(model.api_equivalent), call.timestamp)
        if quote is None:
            return compute
        return attrs.evolve(compute, api_equivalent_cost=quantize(quote.price.cost(call.tokens)))
