"""`cs pricing list|set|reset`: built-in prices (genai-prices) and custom overrides."""

from __future__ import annotations

from typing import Annotated, Any

from cyclopts import App, Parameter

from costhq.adapters.cli.output import emit_json, print_table, say
from costhq.adapters.cli.params import Json, usd
from costhq.domain.errors import InvalidArgument, InvalidPricing
from costhq.domain.money import as_json_number
from costhq.domain.pricing import CustomPrice, PriceQuote


def _custom_json(p: CustomPrice) -> dict[str, Any]:
    out: dict[str, Any] = {"model": p.key, "source": "custom", "inputPer1M": as_json_number(p.input),
                           "outputPer1M": as_json_number(p.output)}
    if p.cache_read is not None:
        out["cacheReadPer1M"] = as_json_number(p.cache_read)
    if p.cache_write is not None:
        out["cacheWritePer1M"] = as_json_number(p.cache_write)
    return out


def _builtin_json(q: PriceQuote) -> dict[str, Any]:
    out: dict[str, Any] = {"model": q.key, "provider": q.provider, "source": "built-in"}
    out.update({k: as_json_number(v) for k, v in q.price.rates_at(0).items()})
    tiers = q.price.input.tiers
    if tiers:
        out["tiers"] = [{"aboveInputTokens": t, "inputPer1M": as_json_number(p)} for t, p in tiers]
    return out


def register(app: App, c: Any) -> None:
    """Add the `pricing` sub-app."""
    pricing = App(name="pricing", help="Show and override model prices (USD per 1M tokens).")
    app.command(pricing)

    @pricing.command(name="list")
    def list_(*, provider: str | None = None, search: str | None = None, json_: Json = False) -> int:
        """Show built-in prices and custom overrides.

        Parameters
        ----------
        provider
            Only this provider.
        search
            Only models whose name contains this text.
        """
        listing = c.list_prices()(provider=provider, search=search)
        if json_:
            emit_json({"custom": [_custom_json(p) for p in listing.custom],
                       "builtIn": [_builtin_json(q) for q in listing.builtin]})
            return 0
        rows = [(p.key, "custom", p.input, p.output, p.cache_read or "", p.cache_write or "") for p in listing.custom]
        for q in listing.builtin:
            r = q.price.rates_at(0)
            rows.append((f"{q.provider}/{q.key}", "built-in", r["inputPer1M"], r["outputPer1M"],
                         r.get("cacheReadPer1M", ""), r.get("cacheWritePer1M", "")))
        print_table(["Model", "Source", "Input/1M", "Output/1M", "Cache read/1M", "Cache write/1M"], rows)
        return 0

    @pricing.command(name="set")
    def set_(
        model: str,
        input_price: str,
        output_price: str,
        *,
        provider: str | None = None,
        cache_read: Annotated[str | None, Parameter(help="Cache-read price per 1M tokens.")] = None,
        cache_write: Annotated[str | None, Parameter(help="Cache-write price per 1M tokens.")] = None,
        json_: Json = False,
    ) -> int:
        """Set a custom price per 1M tokens (stored in pricing.json).

        Parameters
        ----------
        model
            Model name.
        input_price
            USD per 1M input tokens.
        output_price
            USD per 1M output tokens.
        provider
            Namespace the price as provider/model.
        """
        if not model.strip():
            raise InvalidArgument("model name must not be empty")
        price = c.set_custom_price()(
            model=model, provider=provider, input_per_1m=usd("input price", input_price, InvalidPricing),
            output_per_1m=usd("output price", output_price, InvalidPricing),
            cache_read_per_1m=usd("--cache-read", cache_read, InvalidPricing),
            cache_write_per_1m=usd("--cache-write", cache_write, InvalidPricing))
        if json_:
            emit_json({"pricing": _custom_json(price)})
        else:
            say(f"Custom price set: {price.key} input ${price.input}/1M, output ${price.output}/1M")
        return 0

    @pricing.command
    def reset(model: str | None = None, *, provider: str | None = None, json_: Json = False) -> int:
        """Remove custom overrides (all, or one model), reverting to built-in prices.

        Parameters
        ----------
        model
            Only this model's override.
        provider
            With MODEL: the provider namespace.
        """
        removed = c.reset_pricing()(model=model, provider=provider)
        if json_:
            emit_json({"removed": removed})
        else:
            say(f"Removed {removed} custom price(s)")
        return 0
