"""SSE metering: the provider's terminal event, not the transport's end, decides `partial`."""

from __future__ import annotations

import json

import pytest

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


def _events(spaced: bool) -> list[bytes]:
    sep = (", ", ": ") if spaced else (",", ":")
    docs = [{"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "Hi"}}], "usage": None,
             "obfuscation": "q1"},
            {"id": "c1", "model": "gpt-4o", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 2},
             "obfuscation": "q2"}]
    return [b"data: " + json.dumps(d, separators=sep).encode() + b"\n\n" for d in docs] + [b"data: [DONE]\n\n"]


@pytest.mark.parametrize("spaced", [False, True])
def test_the_injected_usage_chunk_is_dropped_and_usage_null_removed_whatever_the_json_spacing(spaced: bool) -> None:
    meter = SseMeter("openai", drop_injected=True)
    out = b"".join(meter.feed(chunk) for chunk in _events(spaced))
    assert meter.pending() == b"data: [DONE]\n\n"  # held until the usage is spooled, then sent
    events = [e for e in out.split(b"\n\n") if e] + [b"data: [DONE]"]
    [chunk] = [json.loads(e[6:]) for e in events[:-1]]
    assert chunk == {"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "Hi"}}],
                     "obfuscation": "q1"}
    metered = meter.finish(status=200)
    assert metered.tokens is not None
    assert (metered.tokens.input, metered.tokens.output, metered.partial) == (10, 2, False)


def test_a_client_that_asked_for_usage_gets_every_chunk_untouched() -> None:
    meter = SseMeter("openai")
    chunks = _events(True)
    assert [meter.feed(c) for c in chunks] == chunks
