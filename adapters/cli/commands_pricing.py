"""`cs pricing list|set|reset`: built-in prices (genai-prices, with reviewed corrections) and custom overrides."""

from __future__ import annotations

from typing import Annotated, Any

from cyclopts import App, Parameter

from costhq.adapters.cli.output import emit_json, print_table, say, warn
from costhq.adapters.cli.params import Json, usd
from costhq.domain.errors import InvalidArgument, InvalidPricing
from costhq.domain.money import as_json_number
from costhq.domain.numbers import MAX_PRICE_PER_1M
from costhq.domain.pricing import CustomPrice, PriceCorrection, PriceQuote

_CUSTOM_RATES = (("cache_read", "cacheReadPer1M"), ("cache_write", "cacheWritePer1M"),
                 ("cache_write_1h", "cacheWrite1hPer1M"))


def _custom_json(p: CustomPrice) -> dict[str, Any]:
    out: dict[str, Any] = {"model": p.key, "source": "custom", "inputPer1M": as_json_number(p.input),
                           "outputPer1M": as_json_number(p.output)}
    for attr, name in _CUSTOM_RATES:
        if getattr(p, attr) is not None:
            out[name] = as_json_number(getattr(p, attr))
    return out


def _builtin_json(q: PriceQuote) -> dict[str, Any]:
    out: dict[str, Any] = {"model": q.key, "provider": q.provider, "source": "built-in"}
    out.update({k: as_json_number(v) for k, v in q.price.rates_at(0).items()})
    starts = sorted({start for rate in (q.price.input, q.price.output) for start, _ in rate.tiers})
    if starts:  # cliff tiers: past `aboveInputTokens` (total input incl. cache), every token pays these
        out["tiers"] = [{"aboveInputTokens": t, **{k: as_json_number(v) for k, v in q.price.rates_at(t + 1).items()}}
                        for t in starts]
    if q.correction:
        out["correction"] = q.correction
    return out


def _correction_json(c: PriceCorrection) -> dict[str, Any]:
    return {"id": c.id, "provider": c.provider, "model": c.model, "state": c.state.value, "summary": c.summary,
            "source": c.source, "checked": c.checked.isoformat(), "warning": c.warning}


def _price(flag: str, text: str | None) -> Any:
    return usd(flag, text, InvalidPricing, maximum=MAX_PRICE_PER_1M)


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
        for correction in listing.corrections:  # stderr, so --json stdout stays one document
            if correction.warning:
                warn(correction.warning)
        if json_:
            emit_json({"custom": [_custom_json(p) for p in listing.custom],
                       "builtIn": [_builtin_json(q) for q in listing.builtin],
                       "corrections": [_correction_json(x) for x in listing.corrections]})
            return 0
        rows = [(p.key, "custom", p.input, p.output, *(getattr(p, a) or "" for a, _ in _CUSTOM_RATES), "")
                for p in listing.custom]
        for q in listing.builtin:
            r = q.price.rates_at(0)
            tier = ", ".join(f">{t:,}: {p}/{q.price.output.at(t + 1)}" for t, p in q.price.input.tiers)
            rows.append((f"{q.provider}/{q.key}", "built-in", r["inputPer1M"], r["outputPer1M"],
                         *(r.get(name, "") for _, name in _CUSTOM_RATES), tier))
        print_table(["Model", "Source", "Input", "Output", "Cache read", "Write 5m", "Write 1h", "Tiers (in/out)"],
                    rows, title="USD per 1M tokens")
        return 0

    @pricing.command(name="set")
    def set_(
        model: str,
        input_price: str,
        output_price: str,
        *,
        provider: str | None = None,
        cache_read: Annotated[str | None, Parameter(help="Cache-read price per 1M tokens.")] = None,
        cache_write: Annotated[str | None, Parameter(help="5-minute cache-write price per 1M tokens.")] = None,
        cache_write_1h: Annotated[str | None, Parameter(help="1-hour cache-write price per 1M tokens.")] = None,
        json_: Json = False,
    ) -> int:
        """Set a custom price per 1M tokens (stored in pricing.json); each price is 0 to 1,000,000.

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
        cache_read
            USD per 1M cache-read tokens (default: the input price).
        cache_write
            USD per 1M tokens written to the 5-minute cache (default: the input price).
        cache_write_1h
            USD per 1M tokens written to the 1-hour cache (default: the 5-minute price, else the input price).
        """
        if not model.strip():
            raise InvalidArgument("model name must not be empty")
        price = c.set_custom_price()(
            model=model, provider=provider, input_per_1m=_price("input price", input_price),
            output_per_1m=_price("output price", output_price), cache_read_per_1m=_price("--cache-read", cache_read),
            cache_write_per_1m=_price("--cache-write", cache_write),
            cache_write_1h_per_1m=_price("--cache-write-1h", cache_write_1h))
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
