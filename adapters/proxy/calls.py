"""One proxied model call, outside the byte stream: what its request says and what its record carries.

Request side: the model, the output limit and a canonical fingerprint (for the firewall), an input
estimate for calls cut before their usage arrived (about 4 characters per token, OpenAI's rule of
thumb; no tokenizer), and the `include_usage` injection for OpenAI-style streams. Record side: the
upstream's request-id header and response id (kept to recognise the same call seen by another
path, never as the record's key), and the usage rules: an answer without usage is a 0-token call
flagged `usage_missing`; a cut call keeps the input its request shows, flagged `input_estimated`.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import attrs

from costhq.adapters.proxy.routing import Route
from costhq.application.usage import UsageInput
from costhq.domain.usage import TokenCounts

MODEL_FIELD = re.compile(rb'(?<!\\)"model"\s*:\s*"([^"\\]{1,200})"')
STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
INJECT_PATHS = ("/v1/chat/completions", "/v1/completions")
_REQUEST_ID_HEADERS = {"anthropic": ("request-id", "x-request-id")}  # others: OpenAI's `x-request-id` first
CHARS_PER_TOKEN = 4
# Request keys whose string values are not prompt text (ids, enums, URLs, base64 payloads).
_NOT_TEXT = frozenset({"model", "role", "type", "id", "call_id", "tool_call_id", "tool_use_id", "url", "image_url",
                       "data", "file_data", "file_id", "detail", "format", "media_type", "mime_type",
                       "previous_response_id", "stream", "service_tier", "reasoning_effort", "cache_control"})


def request_doc(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object ({} when it is not one)."""
    try:
        doc = json.loads(body) if body else {}
    except ValueError:
        doc = {}
    return doc if isinstance(doc, dict) else {}


def fingerprint(model: str, doc: dict[str, Any]) -> str:
    """sha256 of the model and the canonical JSON: the runaway detector sees two identical calls as
    identical whatever their key order or spacing."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((model + canonical).encode()).hexdigest()


def request_facts(body: bytes) -> tuple[str, int | None, str]:
    """(model, max output tokens, fingerprint) of a request body, for the firewall."""
    doc = request_doc(body)
    model = str(doc.get("model") or "")
    max_out = next((doc[k] for k in ("max_tokens", "max_completion_tokens", "max_output_tokens")
                    if isinstance(doc.get(k), int)), None)
    return model, max_out, fingerprint(model, doc)


def estimate_input_tokens(body: bytes) -> int:
    """Input tokens of a request estimated from its text: ceil(characters / 4), 0 when unreadable.

    Counts every string in the request's JSON except ids, enums, URLs and binary payloads (images,
    files), so a prompt of 400 characters is 100 tokens. Used only when the response never said.
    """
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        return 0
    chars, stack = 0, [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            chars += len(node)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(v for k, v in node.items() if k not in _NOT_TEXT)
    return -(-chars // CHARS_PER_TOKEN)


def with_ids(call: UsageInput, route: Route, headers: Any, metered: Any) -> UsageInput:
    """The upstream's request-id header (from the response `headers`, case-insensitive) and response
    id, kept to match the same call seen by another path."""
    if route.model is not None or (headers is None and metered is None):
        return call  # local servers reuse ids (Ollama: `chatcmpl-<0..999>`): never match on them
    names = _REQUEST_ID_HEADERS.get(route.provider, ("x-request-id", "request-id"))
    header = next((headers[n] for n in names if headers is not None and headers.get(n)), None)
    return attrs.evolve(call, upstream_request_id=header, response_id=metered.response_id if metered else None)


def with_usage(call: UsageInput, tokens: TokenCounts | None, body: bytes) -> UsageInput:
    """Tokens as metered; an answer without usage is a 0-token call flagged `usage_missing`, and a
    cut call keeps the input the request shows (estimated and flagged), never 0 tokens and $0."""
    tokens = tokens or TokenCounts()
    if call.error or not tokens.is_empty:
        return attrs.evolve(call, tokens=tokens)
    estimate = estimate_input_tokens(body) if call.partial else 0
    if estimate:
        return attrs.evolve(call, tokens=TokenCounts(input=estimate), input_estimated=True)
    return attrs.evolve(call, tokens=tokens, usage_missing=not call.partial)


def inject_include_usage(body: bytes, doc: dict[str, Any] | None = None) -> tuple[bytes, bool]:
    """Ask for the final usage chunk when the client did not; True when we must drop it again.

    `doc`: the body already parsed (`request_doc`), updated in place when the option is added.
    """
    doc = request_doc(body) if doc is None else doc
    if doc.get("stream") is not True:
        return body, False
    opts = doc.get("stream_options") if isinstance(doc.get("stream_options"), dict) else {}
    if opts.get("include_usage") is True:
        return body, False
    doc["stream_options"] = {**opts, "include_usage": True}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(), True
