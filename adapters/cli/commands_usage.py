"""`cs log-ai`: report one AI call."""

from __future__ import annotations

import os
from typing import Annotated, Any

from cyclopts import App, Parameter

from costhq.adapters._shared import views
from costhq.adapters.cli.output import emit_json, say
from costhq.adapters.cli.params import Json, SessionOpt, positive_session, token_count, usd
from costhq.application.usage import UsageInput
from costhq.domain.errors import InvalidArgument
from costhq.domain.money import as_json_number, format_usd
from costhq.domain.numbers import MAX_CALL_COST_USD, check_reasoning
from costhq.domain.usage import Origin, TokenCounts


def _duration_ms(seconds: str | None) -> int | None:
    if seconds is None:
        return None
    from costhq.domain.local_models import seconds_to_ms  # issue 8

    return seconds_to_ms(seconds)


def _check_reasoning(split: TokenCounts) -> None:
    try:
        check_reasoning(split.reasoning, split.output)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


def _local_json(local: Any) -> dict[str, Any]:
    from costhq.adapters._shared.views_local import local_call_json  # issue 8: only for local models

    return local_call_json(local)


def register(app: App, c: Any) -> None:
    """Add `log-ai` to `app`."""

    @app.command(name="log-ai")
    def log_ai(
        *,
        provider: Annotated[str, Parameter(name=["--provider", "-p"])],
        model: Annotated[str, Parameter(name=["--model", "-m"])],
        tokens: Annotated[str | None, Parameter(name=["--tokens", "-t"])] = None,
        prompt_tokens: str | None = None,
        completion_tokens: str | None = None,
        cache_read_tokens: str | None = None,
        cache_write_tokens: str | None = None,
        cache_write_1h_tokens: str | None = None,
        reasoning_tokens: str | None = None,
        cost: Annotated[str | None, Parameter(name=["--cost", "-c"])] = None,
        agent: str | None = None,
        duration: str | None = None,
        session: SessionOpt = None,
        json_: Json = False,
    ) -> int:
        """Log AI usage; the cost is computed from prices unless -c is given.

        Parameters
        ----------
        provider
            AI provider (anthropic, openai, google, ...).
        model
            Model name (aliases and dated ids resolve).
        tokens
            Total tokens (only with -c, or when no split is known).
        prompt_tokens
            Uncached input tokens (cache reads/writes go in their own flags).
        completion_tokens
            Output tokens (reasoning included).
        cache_read_tokens
            Input tokens read from the prompt cache.
        cache_write_tokens
            Input tokens written to the (5-minute) prompt cache.
        cache_write_1h_tokens
            Input tokens written to the 1-hour prompt cache.
        reasoning_tokens
            The reasoning share of the completion tokens (informational; at most --completion-tokens).
        cost
            Cost in USD, 0 to 1,000,000 (source "manual"); a nonzero cost below $0.0000000001 is refused.
        agent
            Agent name.
        duration
            Wall time of the call in seconds; a registered local model is priced by it (`cs local add`).
        """
        counts = {k: token_count(f"--{k.replace('_', '-')}", v) for k, v in {
            "tokens": tokens, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "cache_read_tokens": cache_read_tokens, "cache_write_tokens": cache_write_tokens,
            "cache_write_1h_tokens": cache_write_1h_tokens, "reasoning_tokens": reasoning_tokens}.items()}
        split = TokenCounts(
            input=counts["prompt_tokens"] or 0, output=counts["completion_tokens"] or 0,
            cache_read=counts["cache_read_tokens"] or 0, cache_write_5m=counts["cache_write_tokens"] or 0,
            cache_write_1h=counts["cache_write_1h_tokens"] or 0, reasoning=counts["reasoning_tokens"] or 0)
        _check_reasoning(split)
        call = UsageInput(provider=provider, model=model, tokens=split, total_tokens=counts["tokens"],
                          cost=usd("--cost", cost, maximum=MAX_CALL_COST_USD), origin=Origin.CLI, agent=agent,
                          duration_ms=_duration_ms(duration))
        logged = c.log_usage()(call=call, cwd=os.getcwd(), session_id=positive_session(session))
        r, s = logged.record, logged.session
        if json_:
            emit_json({**views.usage_json(r), "pricing": views.pricing_json(r, logged.quote),
                       "session": {"id": s.id, "aiCost": as_json_number(s.ai_cost), "aiTokens": s.ai_tokens},
                       **({"local": _local_json(logged.local)} if logged.local is not None else {})})
        else:
            cost_text = format_usd(r.cost) if r.cost is not None else "unpriced"
            say(f"Logged {r.total_tokens:,} tokens on {r.provider}/{r.effective_model}: {cost_text} "
                f"(session #{s.id} total {format_usd(s.ai_cost)})")
        return 0
