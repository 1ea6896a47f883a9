"""SSE metering: the provider's terminal event, not the transport's end, decides `partial`."""

from __future__ import annotations

from costhq.adapters.proxy.metering import SseMeter

CHUNKS = [
    b'data: {"id":"c1","model":"gpt-4o","choices":[{"delta":{"content":"Hel"}}],"usage":null}\n\n',
    b'data: {"id":"c1","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":325,'
    b'"total_tokens":1325}}\n\n',
    b"data: [DONE]\n\n",
]


def test_a_client_that_hangs_up_after_the_terminal_event_leaves_a_complete_record() -> None:
    meter = SseMeter("openai")
    for chunk in CHUNKS:
        meter.feed(chunk)
    # The SDK read [DONE] and closed before the upstream's EOF reached the proxy.
    metered = meter.finish(status=200, complete=False)
    assert metered.partial is False
    assert metered.tokens is not None and (metered.tokens.input, metered.tokens.output) == (1000, 325)


def test_a_stream_cut_before_its_terminal_event_is_partial_with_what_was_seen() -> None:
    meter = SseMeter("openai")
    meter.feed(CHUNKS[0])
    metered = meter.finish(status=200, complete=False)
    assert (metered.partial, metered.model, metered.tokens) == (True, "gpt-4o", None)
