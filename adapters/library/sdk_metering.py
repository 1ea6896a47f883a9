"""Usage metering for the tracked SDK clients: provider usage -> TokenCounts, streams -> one record.

Rules (DESIGN §4):
- OpenAI chat/embeddings: `prompt_tokens` *include* `cached_tokens`; Responses: `input_tokens`
  include `input_tokens_details.cached_tokens`; reasoning tokens are inside the output.
- Anthropic: `input_tokens` *exclude* cache reads and cache writes; `cache_creation` splits the
  writes into 5m / 1h when present (else all writes count as 5m).
- A stream is recorded exactly once: when it is exhausted, closed, or its context exits. A stream
  cut short records what was seen, flagged `partial` (and `error` when no usage was seen at all,
  so the call still counts with zero tokens rather than being dropped).
- Invalid usage (a negative, fractional, non-numeric or absurd count, past 10^12) never raises
  into the caller's API call: the call is recorded as a 0-token call flagged `usage_missing`
  (its usage cannot be trusted, so no part of it is billed).
- OpenAI cached tokens beyond the prompt are clamped to the prompt, and reasoning tokens beyond
  the output to the output: a server's inconsistent usage never bills more than the prompt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from costhq.application.usage import UsageInput
from costhq.domain.numbers import check_count
from costhq.domain.usage import Origin, TokenCounts


def _n(obj: Any, name: str) -> int:
    """A usage count; absent is 0. Raises ValueError for a count that is not a whole number 0..10^12."""
    value = getattr(obj, name, None) if obj is not None else None
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():  # un-validated SDK models keep JSON's `12.0`
        value = int(value)
    return check_count(value, name=name)


def _checked(read: Callable[[Any], TokenCounts | None], usage: Any) -> tuple[TokenCounts | None, bool]:
    """(tokens, invalid): invalid usage is kept as no tokens, flagged, never raised at the caller."""
    try:
        return read(usage), False
    except ValueError:
        return TokenCounts(), True


def openai_tokens(usage: Any) -> TokenCounts | None:
    """Chat completions, embeddings and Responses usage objects (both naming schemes)."""
    if usage is None:
        return None
    if getattr(usage, "input_tokens", None) is not None:  # Responses API
        prompt, cached = _n(usage, "input_tokens"), _n(getattr(usage, "input_tokens_details", None), "cached_tokens")
        output = _n(usage, "output_tokens")
        reasoning = _n(getattr(usage, "output_tokens_details", None), "reasoning_tokens")
    else:
        prompt = _n(usage, "prompt_tokens")
        cached = _n(getattr(usage, "prompt_tokens_details", None), "cached_tokens")
        output = _n(usage, "completion_tokens")
        reasoning = _n(getattr(usage, "completion_tokens_details", None), "reasoning_tokens")
    cached, reasoning = min(cached, prompt), min(reasoning, output)
    return TokenCounts(input=prompt - cached, cache_read=cached, output=output, reasoning=reasoning)


def anthropic_tokens(usage: Any) -> TokenCounts | None:
    """Anthropic `usage` (input excludes cache classes)."""
    if usage is None:
        return None
    creation = _n(usage, "cache_creation_input_tokens")
    split = getattr(usage, "cache_creation", None)
    w5, w1h = _n(split, "ephemeral_5m_input_tokens"), _n(split, "ephemeral_1h_input_tokens")
    if split is None or w5 + w1h != creation:
        w5, w1h = creation, 0
    return TokenCounts(input=_n(usage, "input_tokens"), cache_read=_n(usage, "cache_read_input_tokens"),
                       cache_write_5m=w5, cache_write_1h=w1h, output=_n(usage, "output_tokens"))


def _merge_anthropic(seen: dict[str, Any], usage: Any) -> None:
    # message_start carries input/cache counts; message_delta the cumulative output (and,
    # on newer API versions, input counts again). A null field never erases a seen one.
    for name in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens"):
        value = getattr(usage, name, None)
        if value is not None:
            seen[name] = value
    if getattr(usage, "cache_creation", None) is not None:
        seen["cache_creation"] = usage.cache_creation


class _Usage:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class StreamMeter:
    """Accumulates usage from a provider's stream events; `finish()` builds the call once."""

    def __init__(self, provider: str, model: str, record: Callable[[UsageInput], None]) -> None:
        self.provider, self.model, self._record = provider, model, record
        self.served: str | None = None
        self.request_id: str | None = None
        self.tokens: TokenCounts | None = None
        self.invalid = False  # the last usage seen was invalid (see the module rules)
        self._anthropic: dict[str, Any] = {}
        self._t0 = time.monotonic()
        self._done = False
        self._lock = threading.Lock()

    def see(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if self.provider == "anthropic":
            if kind == "message_start":
                self.served = getattr(event.message, "model", None)
                _merge_anthropic(self._anthropic, event.message.usage)
            elif kind == "message_delta" and getattr(event, "usage", None) is not None:
                _merge_anthropic(self._anthropic, event.usage)
            if self._anthropic:
                self.tokens, self.invalid = _checked(anthropic_tokens, _Usage(**self._anthropic))
            return
        response = getattr(event, "response", None) if isinstance(kind, str) and kind.startswith("response.") \
            else None
        if response is not None:  # Responses API events carry the response snapshot
            self.served = getattr(response, "model", None) or self.served
            if getattr(response, "usage", None) is not None:
                self.tokens, self.invalid = _checked(openai_tokens, response.usage)
            return
        self.served = getattr(event, "model", None) or self.served
        if getattr(event, "usage", None) is not None:  # chat: the include_usage chunk
            self.tokens, self.invalid = _checked(openai_tokens, event.usage)

    def take(self, *, partial: bool) -> UsageInput | None:
        """The call to record, the first time only."""
        with self._lock:
            if self._done:
                return None
            self._done = True
        tokens = self.tokens or TokenCounts()
        return UsageInput(provider=self.provider, model=self.model, served_model=self.served, tokens=tokens,
                          origin=Origin.LIBRARY, request_id=self.request_id, stream=True,
                          partial=partial, error=tokens.is_empty and not self.invalid, usage_missing=self.invalid,
                          duration_ms=int((time.monotonic() - self._t0) * 1000))

    def finish(self, *, partial: bool) -> None:
        call = self.take(partial=partial)
        if call is not None:
            self._record(call)


def request_id_of(obj: Any) -> str | None:
    """The provider's request id (`x-request-id` / `request-id`), for de-duplication."""
    rid = getattr(obj, "_request_id", None)
    if rid:
        return str(rid)
    response = getattr(obj, "response", None) or getattr(obj, "http_response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    return headers.get("x-request-id") or headers.get("request-id")


def _parsed(result: Any, stream: bool) -> Any:
    # `with_raw_response` / `with_streaming_response` hand back the HTTP wrapper: its parsed body
    # (cached by the SDK, so the caller's own `.parse()` costs nothing more) has the usage.
    # A raw *streamed* response is left alone: reading it here would consume the caller's stream.
    if getattr(result, "usage", None) is not None or stream:
        return result
    if hasattr(result, "http_response") and callable(getattr(result, "parse", None)):
        try:
            return result.parse()
        except Exception:  # an unparsable body is the caller's to see, not ours to break
            return None
    return result


def response_call(provider: str, model: str, result: Any, started: float, *,
                  stream: bool = False) -> UsageInput | None:
    """The call of a non-streamed response; None when it carries no usage."""
    parsed = _parsed(result, stream)
    usage = getattr(parsed, "usage", None)
    tokens, invalid = _checked(anthropic_tokens if provider == "anthropic" else openai_tokens, usage)
    if tokens is None:
        return None
    return UsageInput(provider=provider, model=model, served_model=getattr(parsed, "model", None),
                      tokens=tokens, origin=Origin.LIBRARY, request_id=request_id_of(parsed) or request_id_of(result),
                      error=tokens.is_empty and not invalid, usage_missing=invalid,
                      duration_ms=int((time.monotonic() - started) * 1000))
