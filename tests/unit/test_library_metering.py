"""Library metering of SDK responses (the SDKs' own types, built unvalidated as the SDKs build them):
invalid usage is flagged, never raised into the caller's call; cached tokens never over-bill."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from anthropic.types import Message, RawMessageDeltaEvent, RawMessageStartEvent, Usage
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.completion_usage import CompletionTokensDetails, PromptTokensDetails
from openai.types.responses import Response, ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from costhq.adapters.library.sdk_metering import StreamMeter, response_call
from costhq.application.usage import UsageInput
from costhq.domain.pricing import ModelPrice, Rate
from costhq.domain.usage import TokenCounts

GPT_4O = ModelPrice(input=Rate(Decimal("2.5")), output=Rate(Decimal(10)), cache_read=Rate(Decimal("1.25")))


def chat(**usage: Any) -> ChatCompletion:
    details = usage.pop("cached", None)
    reasoning = usage.pop("reasoning", None)
    return ChatCompletion.model_construct(
        id="chatcmpl-1", object="chat.completion", created=1, model="gpt-4o-2024-08-06", choices=[],
        usage=CompletionUsage.model_construct(
            **usage, prompt_tokens_details=PromptTokensDetails.model_construct(cached_tokens=details),
            completion_tokens_details=CompletionTokensDetails.model_construct(reasoning_tokens=reasoning)))


def claude(**usage: Any) -> Message:
    return Message.model_construct(id="msg_1", type="message", role="assistant", model="claude-sonnet-4-20250514",
                                   content=[], usage=Usage.model_construct(**usage))


@pytest.mark.parametrize("usage", [
    {"prompt_tokens": -5, "completion_tokens": 10},
    {"prompt_tokens": 5, "completion_tokens": -1},
    {"prompt_tokens": 5, "completion_tokens": 10, "cached": -3},
    {"prompt_tokens": 5.5, "completion_tokens": 10},
    {"prompt_tokens": "lots", "completion_tokens": 10},
    {"prompt_tokens": 10**13, "completion_tokens": 10},
    {"prompt_tokens": True, "completion_tokens": 10},
])
def test_invalid_openai_usage_is_recorded_as_a_call_without_usage(usage: dict[str, Any]) -> None:
    call = response_call("openai", "gpt-4o", chat(**usage), 0.0)
    assert call is not None
    assert (call.tokens, call.usage_missing, call.error) == (TokenCounts(), True, False)


def test_invalid_anthropic_usage_is_recorded_as_a_call_without_usage() -> None:
    call = response_call("anthropic", "claude-sonnet-4", claude(input_tokens=100, output_tokens=-7), 0.0)
    assert call is not None and (call.tokens, call.usage_missing) == (TokenCounts(), True)


def test_a_response_without_usage_is_a_zero_token_call_flagged_never_dropped() -> None:
    # The proxy keeps such a call (adapters/proxy/calls.py); the library dropped it (golden suite, issue 17).
    gpt = ChatCompletion.model_construct(id="chatcmpl-1", object="chat.completion", created=1,
                                         model="gpt-4o-2024-08-06", choices=[], usage=None)
    msg = Message.model_construct(id="msg_1", type="message", role="assistant", model="claude-sonnet-4-20250514",
                                  content=[], usage=None)
    for provider, result in (("openai", gpt), ("anthropic", msg)):
        call = response_call(provider, "m", result, 0.0)
        assert call is not None
        assert (call.tokens, call.usage_missing, call.error, call.response_id) == (
            TokenCounts(), True, False, result.id)


def test_valid_usage_is_not_flagged_and_json_floats_that_are_whole_are_counts() -> None:
    call = response_call("openai", "gpt-4o", chat(prompt_tokens=1200.0, completion_tokens=300, cached=200), 0.0)
    assert call is not None and not call.usage_missing
    assert call.tokens == TokenCounts(input=1000, cache_read=200, output=300)


def test_cached_tokens_beyond_the_prompt_are_clamped_to_the_prompt() -> None:
    call = response_call("openai", "gpt-4o", chat(prompt_tokens=1000, completion_tokens=100, cached=1500), 0.0)
    assert call is not None and call.tokens == TokenCounts(input=0, cache_read=1000, output=100)
    # 1000 cached x $1.25 + 100 x $10 per 1M; unclamped it would bill 1500 cached tokens ($0.002875)
    assert GPT_4O.cost(call.tokens) == Decimal("0.00225")


def test_responses_api_usage_clamps_cached_and_reasoning_tokens() -> None:
    usage = ResponseUsage.model_construct(
        input_tokens=100, input_tokens_details=InputTokensDetails.model_construct(cached_tokens=400),
        output_tokens=50, output_tokens_details=OutputTokensDetails.model_construct(reasoning_tokens=80),
        total_tokens=150)
    response = Response.model_construct(id="resp_1", model="gpt-4o", usage=usage)
    call = response_call("openai", "gpt-4o", response, 0.0)
    assert call is not None and call.tokens == TokenCounts(input=0, cache_read=100, output=50, reasoning=50)
    assert GPT_4O.cost(call.tokens) == Decimal("0.000625")  # 100 x 1.25 + 50 x 10 per 1M


def _chunk(usage: CompletionUsage | None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_construct(id="c", object="chat.completion.chunk", created=1, model="gpt-4o",
                                               choices=[], usage=usage)


def test_a_stream_whose_usage_is_invalid_is_recorded_once_flagged() -> None:
    seen: list[UsageInput] = []
    meter = StreamMeter("openai", "gpt-4o", seen.append)
    meter.see(_chunk(None))
    meter.see(_chunk(CompletionUsage.model_construct(prompt_tokens=-1, completion_tokens=2)))
    meter.finish(partial=False)
    meter.finish(partial=True)
    assert [(c.tokens, c.usage_missing, c.error, c.partial) for c in seen] == [(TokenCounts(), True, False, False)]


def test_a_later_valid_usage_event_clears_the_flag() -> None:
    seen: list[UsageInput] = []
    meter = StreamMeter("anthropic", "claude-sonnet-4", seen.append)
    start = claude(input_tokens=-1, output_tokens=1)
    meter.see(RawMessageStartEvent.model_construct(type="message_start", message=start))
    assert meter.invalid
    meter.see(RawMessageStartEvent.model_construct(type="message_start", message=claude(input_tokens=10,
                                                                                          output_tokens=1)))
    meter.see(RawMessageDeltaEvent.model_construct(type="message_delta", usage=Usage.model_construct(
        output_tokens=20)))
    meter.finish(partial=False)
    assert [(c.tokens, c.usage_missing) for c in seen] == [(TokenCounts(input=10, output=20), False)]
