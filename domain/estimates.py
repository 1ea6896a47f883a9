"""What a model call is expected to cost before it is sent: the reservation the firewall holds (pure).

Rules (issue 14; docs/firewall.md states the bound they give):
- Input: the request's own text (system prompt, messages, tool definitions: every key and
  string of its JSON) at TEXT_BYTES_PER_TOKEN, plus what it references where the provider
  documents the cost: an image counts IMAGE_TOKENS of its provider (never its base64 bytes), a
  file or document by id, URL or inline data counts FILE_TOKENS, and a Responses API
  `previous_response_id` counts the recorded input + output of that response (the context the
  provider prepends).
- Output: a high percentile (OUTPUT_PERCENTILE) of the output tokens of the last SAMPLE_WINDOW
  recorded calls of the same model and client, capped by the request's max tokens; with fewer
  than MIN_SAMPLES such calls (a model never seen), DEFAULT_EXPECTED_OUTPUT capped the same way.
  Never the max_tokens ceiling itself: Claude Code asks for 64,000 on Opus and gets a few hundred.
- Input price: the full input rate times the same percentile of what recent calls of the model
  and client were billed for their input over that full-rate estimate (prompt caching makes it
  far below 1; an unseen pair uses 1).
- The estimate is an expectation, not a ceiling: a call may cost more than it reserved. What
  happens then is the bound of docs/firewall.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from costhq.domain.money import ZERO, quantize
from costhq.domain.pricing import PER_MILLION, ModelPrice
from costhq.domain.usage import TokenCounts

TEXT_BYTES_PER_TOKEN = 4  # ~4 bytes a token for English; JSON keys and quotes make it a slight over-estimate
#: Per image, the most each provider documents: OpenAI's patch-based models cap at 1,536 tokens (gpt-4o's
#: high detail is at most 85 + 8 tiles x 170 = 1,445); Anthropic bills width x height / 750 after scaling
#: to at most ~1.15 megapixels, about 1,600.
IMAGE_TOKENS: Mapping[str, int] = {"openai": 1_536, "anthropic": 1_600}
DEFAULT_IMAGE_TOKENS = 1_600
#: A file or document the request references (by id, URL or inline data): its size is not in the
#: request, and no provider documents one; the learned input ratio corrects this for a client's habits.
FILE_TOKENS = 10_000
DEFAULT_EXPECTED_OUTPUT = 4_096
SAMPLE_WINDOW = 20
MIN_SAMPLES = 3
OUTPUT_PERCENTILE = Decimal("0.9")

_IMAGE_TYPES = frozenset({"image", "image_url", "input_image"})
_FILE_TYPES = frozenset({"file", "input_file", "document"})
_MAX_OUT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


@attrs.frozen(kw_only=True)
class RequestShape:
    """What a request says about its own size.

    Attributes:
        text_bytes: UTF-8 bytes of its text (every key and string), image and file data excluded.
        images: images it inlines or references.
        files: files and documents it inlines or references (text documents count as text).
        previous_response_id: the Responses API conversation it continues, if any.
        max_output_tokens: its own output ceiling, None when it names none.
    """

    text_bytes: int = 0
    images: int = 0
    files: int = 0
    previous_response_id: str | None = None
    max_output_tokens: int | None = None


def _walk(node: Any, counts: list[int]) -> None:
    """Add [text bytes, images, files] of a JSON-like value to `counts`."""
    if isinstance(node, str):
        counts[0] += len(node.encode("utf-8"))
    elif isinstance(node, Mapping):
        kind = node.get("type")
        if kind in _IMAGE_TYPES:
            counts[1] += 1
            return
        source = node.get("source")
        if kind in _FILE_TYPES and not (isinstance(source, Mapping) and source.get("type") in ("text", "content")):
            counts[2] += 1
            return
        for k, v in node.items():
            counts[0] += len(str(k))
            _walk(v, counts)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _walk(v, counts)


def shape_of(request: Mapping[str, Any]) -> RequestShape:
    """The shape of a request body (parsed JSON) or of an SDK call's keyword arguments."""
    counts = [0, 0, 0]
    _walk(request, counts)
    prev = request.get("previous_response_id")
    max_out = next((request[k] for k in _MAX_OUT_KEYS
                    if isinstance(request.get(k), int) and not isinstance(request.get(k), bool)), None)
    return RequestShape(text_bytes=counts[0], images=counts[1], files=counts[2],
                        previous_response_id=prev if isinstance(prev, str) and prev else None,
                        max_output_tokens=max_out if max_out is None or max_out > 0 else None)


def input_tokens(shape: RequestShape, provider: str, *, referenced: int = 0) -> int:
    """Expected input tokens: text, images and files (see the module rules) + `referenced` tokens
    (the recorded input + output of the previous response)."""
    text = math.ceil(shape.text_bytes / TEXT_BYTES_PER_TOKEN)
    return (text + shape.images * IMAGE_TOKENS.get(provider, DEFAULT_IMAGE_TOKENS) + shape.files * FILE_TOKENS
            + max(0, referenced))


@attrs.frozen(kw_only=True)
class CostSample:
    """One recorded call of a model and client, against its estimate.

    Attributes:
        estimated_input: its input at the full input rate (what `expected_cost` starts from).
        input_cost: what its input (every input class, cache included) was billed.
        output_tokens: its output tokens (reasoning included).
    """

    estimated_input: Decimal
    input_cost: Decimal
    output_tokens: int


def _percentile(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(OUTPUT_PERCENTILE * len(ordered)) - 1)]


def expected_output(samples: Sequence[CostSample], ceiling: int | None) -> int:
    """Output tokens to expect (module rules), capped by the request's own `ceiling`."""
    recent = samples[-SAMPLE_WINDOW:]
    base = int(_percentile([Decimal(s.output_tokens) for s in recent])) if len(recent) >= MIN_SAMPLES \
        else DEFAULT_EXPECTED_OUTPUT
    return min(base, ceiling) if ceiling else base


def input_ratio(samples: Sequence[CostSample]) -> Decimal:
    """What recent calls were billed for input over their full-rate estimate (module rules); 1 unseen."""
    ratios = [s.input_cost / s.estimated_input for s in samples[-SAMPLE_WINDOW:] if s.estimated_input > 0]
    return _percentile(ratios) if len(ratios) >= MIN_SAMPLES else Decimal(1)


def full_input_cost(price: ModelPrice, tokens: int) -> Decimal:
    """`tokens` of input at the full (uncached) rate, cliff tiers included."""
    return price.cost(TokenCounts(input=tokens))


def expected_cost(price: ModelPrice, *, input_tokens: int, output_tokens: int, ratio: Decimal = Decimal(1)) -> Decimal:
    """The reservation: the full-rate input times `ratio`, plus the expected output at its rate."""
    output = Decimal(output_tokens) * price.output.at(input_tokens) / PER_MILLION
    return quantize(full_input_cost(price, input_tokens) * ratio + output)


def billed_input(price: ModelPrice, tokens: TokenCounts) -> Decimal:
    """What a recorded call's input (every input class) cost at `price`."""
    return price.cost(attrs.evolve(tokens, output=0, reasoning=0)) if tokens.total_input else ZERO
