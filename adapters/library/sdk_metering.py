"""Usage metering for the tracked SDK clients: provider usage -> TokenCounts, streams -> one record.

Rules (DESIGN §4):
- OpenAI chat/embeddings: `prompt_tokens` *include* `cached_tokens`; Responses: `input_tokens`
  include `input_tokens_details.cached_tokens`; reasoning tokens are inside the output.
- Anthropic: `input_tokens` *exclude* cache reads and cache writes; `cache_creation` splits the
  writes into 5m / 1h when present (else all writes count as 5m).
- A stream is recorded exactly once: when it is exhausted, closed, or its context exits. A stream
  cut short records what was seen, flagged `partial` (and `error` when no usage was seen at all,
  so the call still counts with zero tokens rather than being dropped).
- Identity (docs/identity.md): each call gets its own key `lib:<uuid>`, unless the response came
  through our proxy, whose `x-costhq-call` header names the record the proxy writes: the call
  then takes that key, so the two paths meet on it and the call is stored once. The upstream's
  request-id header and the response id are kept to match the call seen by another path; a
  repeated request id (gateways) never merges two calls of the library.
- A response without usage is recorded as a 0-token call flagged `usage_missing`, never dropped.
- Invalid usage (a negative, fractional, non-numeric or absurd count, past 10^12) never raises
  into the caller's API call: the call is recorded as a 0-token call flagged `usage_missing`
  (its usage cannot be trusted, so no part of it is billed).
- OpenAI cached tokens beyond the prompt are clamped to the prompt, and reasoning tokens beyond
  the output to the output: a server's inconsistent usage never bills more than the prompt.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import time
import uuid
from collections.abc import Callable, Mapping
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
        self.identity: tuple[str, str | None] | None = None  # (call key, upstream request id): `call_identity`
        self.response_id: str | None = None
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
                self.response_id = _str(getattr(event.message, "id", None))
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
            self.response_id = _str(getattr(response, "id", None)) or self.response_id
            if getattr(response, "usage", None) is not None:
                self.tokens, self.invalid = _checked(openai_tokens, response.usage)
            return
        self.served = getattr(event, "model", None) or self.served
        self.response_id = self.response_id or _str(getattr(event, "id", None))
        if getattr(event, "usage", None) is not None:  # chat: the include_usage chunk
            self.tokens, self.invalid = _checked(openai_tokens, event.usage)

    def take(self, *, partial: bool) -> UsageInput | None:
        """The call to record, the first time only."""
        with self._lock:
            if self._done:
                return None
            self._done = True
        tokens = self.tokens or TokenCounts()
        key, rid = self.identity or call_identity(None)
        return UsageInput(provider=self.provider, model=self.model, served_model=self.served, tokens=tokens,
                          origin=Origin.LIBRARY, call_key=key, upstream_request_id=rid,
                          response_id=self.response_id, stream=True, partial=partial,
                          error=tokens.is_empty and not self.invalid, usage_missing=self.invalid,
                          duration_ms=int((time.monotonic() - self._t0) * 1000))

    def finish(self, *, partial: bool) -> None:
        call = self.take(partial=partial)
        if call is not None:
            self._record(call)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


_LAST_HEADERS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "costhq_last_response_headers", default=None)


def _note(response: Any) -> None:
    _LAST_HEADERS.set(response.headers)


async def _anote(response: Any) -> None:
    _LAST_HEADERS.set(response.headers)


def watch_responses(client: Any) -> None:
    """Note the headers of each HTTP response `client` (an OpenAI / Anthropic SDK client) receives,
    for the caller's thread or task: a parsed response keeps no headers but its request id, and
    the proxy's `x-costhq-call` is a header. An httpx response hook, the library's public API."""
    http = getattr(client, "_client", None)
    hooks = getattr(http, "event_hooks", None)
    if not isinstance(hooks, dict):
        return
    hook = _anote if inspect.iscoroutinefunction(getattr(http, "send", None)) else _note
    if hook not in hooks.get("response", []):
        http.event_hooks = {**hooks, "response": [*hooks.get("response", []), hook]}


def forget_responses() -> None:
    """Clear the noted headers before a call, so a call never takes another's."""
    _LAST_HEADERS.set(None)


def _headers(obj: Any) -> Mapping[str, str] | None:
    response = getattr(obj, "response", None) or getattr(obj, "http_response", None)
    headers = getattr(response, "headers", None)
    return headers if headers is not None else _LAST_HEADERS.get()


def call_identity(obj: Any) -> tuple[str, str | None]:
    """(call key, upstream request id) of the call `obj` (an SDK result or stream) answered: the
    key is the proxy's `x-costhq-call` when the call came through our proxy, else one of its own."""
    headers = _headers(obj) if obj is not None else _LAST_HEADERS.get()
    proxied = headers.get("x-costhq-call") if headers is not None else None
    rid = _str(getattr(obj, "_request_id", None)) or (
        (headers.get("x-request-id") or headers.get("request-id")) if headers is not None else None)
    return proxied or f"lib:{uuid.uuid4().hex}", rid


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
    """The call of a non-streamed response; one answered without usage is a 0-token call flagged
    `usage_missing` (as the proxy keeps it). None only for a raw stream left unread or an unparsable body."""
    parsed = _parsed(result, stream)
    usage = getattr(parsed, "usage", None)
    tokens, invalid = _checked(anthropic_tokens if provider == "anthropic" else openai_tokens, usage)
    if tokens is None:
        if stream or parsed is None:
            return None
        tokens, invalid = TokenCounts(), True
    key, rid = call_identity(result)
    rid = rid or _str(getattr(parsed, "_request_id", None))
    return UsageInput(provider=provider, model=model, served_model=getattr(parsed, "model", None),
                      tokens=tokens, origin=Origin.LIBRARY, call_key=key, upstream_request_id=rid,
                      response_id=_str(getattr(parsed, "id", None)), error=tokens.is_empty and not invalid,
                      usage_missing=invalid,
                      duration_ms=int((time.monotonic() - started) * 1000))
