"""Usage metering of provider responses: pure, incremental, bounded in memory.

Normalisation (DESIGN §4): OpenAI `prompt_tokens`/`input_tokens` include `cached_tokens`, so
uncached input = prompt - cached, and reasoning is inside the output; Anthropic `input_tokens`
exclude cache reads and writes, and `cache_creation` splits writes into 5m/1h.

Streams are parsed line by line (only the current line and event are kept, each capped);
non-stream JSON is kept whole up to a cap, past which only a head and a tail are kept and the
`usage` object is found in the tail (providers put it last). Bytes forwarded to the client are
the upstream's, except that an injected OpenAI `include_usage` chunk is dropped and its
`"usage":null` field removed from the other chunks, so the client sees what it would without us.

A call cut before its usage arrived keeps the input it can know: `estimate_input_tokens` counts the
request's own text at about 4 characters per token (OpenAI's rule of thumb; no tokenizer), and the
record says the input is estimated.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from typing import Any

import attrs

from costhq.domain.usage import TokenCounts

BODY_CAP = 10 * 1024 * 1024
_TAIL = 256 * 1024
_USAGE_KEY = re.compile(rb'"usage"\s*:\s*\{')
_NULL_USAGE_FIELD = re.compile(rb',\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,')
_FIRST_STR = {k: re.compile(rb'"' + k.encode() + rb'"\s*:\s*"([^"\\]{1,200})"') for k in ("model", "id")}


@attrs.define
class Metered:
    """What a response said about itself (tokens None: nothing usable was seen)."""

    model: str | None = None
    response_id: str | None = None
    tokens: TokenCounts | None = None
    partial: bool = False
    error: bool = False


def _int(d: Any, *path: str) -> int:
    for key in path:
        if not isinstance(d, dict):
            return 0
        d = d.get(key)
    return d if isinstance(d, int) and not isinstance(d, bool) and d > 0 else 0


def openai_tokens(u: dict[str, Any]) -> TokenCounts:
    """Chat/completions/embeddings (`prompt_tokens`) or responses (`input_tokens`) usage."""
    if "input_tokens" in u:
        prompt, cached = _int(u, "input_tokens"), _int(u, "input_tokens_details", "cached_tokens")
        out, reasoning = _int(u, "output_tokens"), _int(u, "output_tokens_details", "reasoning_tokens")
    else:
        prompt, cached = _int(u, "prompt_tokens"), _int(u, "prompt_tokens_details", "cached_tokens")
        out, reasoning = _int(u, "completion_tokens"), _int(u, "completion_tokens_details", "reasoning_tokens")
    cached = min(cached, prompt)
    return TokenCounts(input=prompt - cached, cache_read=cached, output=out, reasoning=min(reasoning, out))


def anthropic_tokens(u: dict[str, Any]) -> TokenCounts:
    """Messages usage; writes without a `cache_creation` split count as 5-minute writes."""
    write_total = _int(u, "cache_creation_input_tokens")
    split = u.get("cache_creation")
    w5, w1h = (_int(split, "ephemeral_5m_input_tokens"), _int(split, "ephemeral_1h_input_tokens")) \
        if isinstance(split, dict) else (write_total, 0)
    if w5 + w1h < write_total:
        w5 = write_total - w1h
    return TokenCounts(input=_int(u, "input_tokens"), cache_read=_int(u, "cache_read_input_tokens"),
                       cache_write_5m=w5, cache_write_1h=w1h, output=_int(u, "output_tokens"))


def usage_only_chunk(payload: bytes) -> bool:
    """An OpenAI chat chunk that carries only the final usage (`choices: []`, a `usage` object)."""
    if b'"choices"' not in payload or b'"usage"' not in payload:
        return False
    try:
        doc = json.loads(payload)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("choices") == [] and isinstance(doc.get("usage"), dict)


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


class Decoder:
    """Incremental gzip/deflate decoding of a copy of the body, for metering only."""

    def __init__(self, encoding: str) -> None:
        self._z = zlib.decompressobj(47 if encoding == "gzip" else 15) if encoding in ("gzip", "deflate") else None

    def __call__(self, chunk: bytes) -> bytes:
        return self._z.decompress(chunk) if self._z is not None else chunk


class LineSplitter:
    """Splits a decoded body copy into complete lines; keeps only the unfinished tail, capped."""

    def __init__(self, encoding: str, cap: int) -> None:
        self._decode, self._cap = Decoder(encoding), cap
        self.rest = b""

    def lines(self, chunk: bytes) -> list[bytes]:
        lines = (self.rest + self._decode(chunk)).split(b"\n")
        self.rest = lines.pop()
        if len(self.rest) > self._cap:  # a runaway line: drop it rather than grow without bound
            self.rest = b""
        return lines


class JsonMeter:
    """Meters a non-stream JSON response (OpenAI chat/responses/completions/embeddings, Anthropic)."""

    def __init__(self, provider: str, encoding: str = "", cap: int = BODY_CAP) -> None:
        self._provider, self._decode, self._cap = provider, Decoder(encoding), cap
        self._parts: list[bytes] = []
        self._size = 0
        self._head = b""
        self._tail = b""
        self._overflow = False

    def feed(self, chunk: bytes) -> None:
        data = self._decode(chunk)
        self._size += len(data)
        if not self._overflow and self._size <= self._cap:
            self._parts.append(data)
            return
        if not self._overflow:  # past the cap: keep a head (model, id) and a rolling tail (usage)
            whole = b"".join(self._parts) + data
            self._parts, self._overflow = [], True
            self._head, self._tail = whole[:_TAIL], whole[-_TAIL:]
        else:
            self._tail = (self._tail + data)[-_TAIL:]

    @property
    def held(self) -> int:
        """Bytes of the body kept for metering (at most the cap, then a head and a tail)."""
        return sum(map(len, self._parts)) + len(self._head) + len(self._tail)

    def finish(self, *, status: int, complete: bool = True) -> Metered:
        if status >= 400:
            return Metered(error=True)
        doc = self._parse()
        usage = doc.get("usage")
        tokens = None
        if isinstance(usage, dict):
            tokens = anthropic_tokens(usage) if self._provider == "anthropic" else openai_tokens(usage)
        return Metered(model=_str(doc.get("model")), response_id=_str(doc.get("id")), tokens=tokens,
                       partial=not complete)

    def _parse(self) -> dict[str, Any]:
        if not self._overflow:
            try:
                doc = json.loads(b"".join(self._parts)) if self._parts else {}
            except ValueError:
                return {}
            return doc if isinstance(doc, dict) else {}
        doc: dict[str, Any] = {}
        for key, rx in _FIRST_STR.items():
            m = rx.search(self._head)
            if m:
                doc[key] = m.group(1).decode("utf-8", "replace")
        matches = list(_USAGE_KEY.finditer(self._tail))
        if matches:
            try:
                doc["usage"], _ = json.JSONDecoder().raw_decode(self._tail[matches[-1].end() - 1:].decode())
            except ValueError:
                pass
        return doc


EventHandler = Callable[[str, bytes], bool]


class SseMeter:
    """Meters a server-sent-events stream; `feed` returns the bytes to forward.

    `drop_injected` (OpenAI chat/completions when we injected `include_usage`): each event is
    held until its blank line, the usage-only chunk (`choices: []`) is dropped,
    `,"usage":null` is removed from the others, and `[DONE]` waits in `pending` until the usage
    is spooled. Otherwise bytes are forwarded as they arrive.
    """

    def __init__(self, provider: str, *, drop_injected: bool = False, encoding: str = "",
                 cap: int = BODY_CAP) -> None:
        self._provider, self._drop, self._cap = provider, drop_injected, cap
        self._split = LineSplitter("" if drop_injected else encoding, cap)
        self._event = ""
        self._data: list[bytes] = []
        self._held: list[bytes] = []
        self._final = b""
        self.model: str | None = None
        self.response_id: str | None = None
        self._usage: dict[str, Any] | None = None
        self._done = False

    def feed(self, chunk: bytes) -> bytes:
        lines = self._split.lines(chunk)
        if not self._drop:
            for line in lines:
                self._on_line(line)
            return chunk
        out: list[bytes] = []
        for line in lines:
            self._held.append(line)
            if self._on_line(line) and self._held:
                out.append(self._release())
        return b"".join(out)

    def _release(self) -> bytes:
        held, self._held = self._held, []
        data = [i for i, line in enumerate(held) if line.startswith(b"data:")]
        if data and usage_only_chunk(b"\n".join(held[i][5:] for i in data)):
            return b""  # the chunk we asked for: the client did not
        if len(data) == 1 and held[data[0]][5:].strip() == b"[DONE]":
            # Held until the usage is spooled (`pending`): SDKs hang up as soon as they read it.
            self._final += b"\n".join(held) + b"\n"
            return b""
        for i in data:  # the `"usage":null` the injected option adds to every other chunk
            if b'"usage"' in held[i]:
                held[i] = _NULL_USAGE_FIELD.sub(b"", held[i], count=1)
        return b"\n".join(held) + b"\n"

    def _on_line(self, raw: bytes) -> bool:
        """Consume one line; True at the blank line that ends an event."""
        line = raw.rstrip(b"\r")
        if not line:
            if self._data:
                self._dispatch(self._event, b"\n".join(self._data))
            self._event, self._data = "", []
            return True
        if line.startswith(b"data:"):
            payload = line[5:].lstrip(b" ")
            if sum(map(len, self._data)) + len(payload) <= self._cap:
                self._data.append(payload)
        elif line.startswith(b"event:"):
            self._event = line[6:].strip().decode("utf-8", "replace")
        return False

    def _dispatch(self, event: str, data: bytes) -> None:
        if data == b"[DONE]":
            self._done = True
            return
        if not self._wanted(event, data):
            return
        try:
            doc = json.loads(data)
        except ValueError:
            return
        if isinstance(doc, dict):
            (self._anthropic if self._provider == "anthropic" else self._openai)(doc)

    def _wanted(self, event: str, data: bytes) -> bool:
        if self.model is None or (self._provider == "openai" and b'"usage"' in data and b'"usage":null' not in data):
            return True
        if self._provider == "anthropic":
            return event in ("message_start", "message_delta", "message_stop", "error") or b'"message_' in data[:40]
        return b'"response.completed"' in data[:60] or b'"response.incomplete"' in data[:60] \
            or b'"response.failed"' in data[:60]

    def _openai(self, doc: dict[str, Any]) -> None:
        kind = doc.get("type")
        body = doc.get("response") if isinstance(doc.get("response"), dict) else doc
        self.model = self.model or _str(body.get("model"))
        self.response_id = self.response_id or _str(body.get("id"))
        if isinstance(body.get("usage"), dict):
            self._usage = body["usage"]
        if kind in ("response.completed", "response.incomplete") or (kind is None and self._usage is not None):
            self._done = True

    def _anthropic(self, doc: dict[str, Any]) -> None:
        kind = doc.get("type")
        if kind == "message_start" and isinstance(doc.get("message"), dict):
            msg = doc["message"]
            self.model, self.response_id = _str(msg.get("model")), _str(msg.get("id"))
            self._usage = dict(msg.get("usage") or {})
        elif kind == "message_delta" and isinstance(doc.get("usage"), dict):
            # message_delta usage is cumulative: later values replace earlier ones.
            self._usage = {**(self._usage or {}), **{k: v for k, v in doc["usage"].items() if v is not None}}
        elif kind == "message_stop":
            self._done = True

    def finish(self, *, status: int, complete: bool = True) -> Metered:
        if status >= 400:
            return Metered(error=True)
        if self._split.rest:
            self._on_line(self._split.rest)
            self._on_line(b"")
        tokens = None
        if self._usage is not None:
            tokens = anthropic_tokens(self._usage) if self._provider == "anthropic" else openai_tokens(self._usage)
        # The provider's own terminal event ([DONE], the final usage chunk, response.completed,
        # message_stop) makes the usage final, even if the transport ends uncleanly afterwards:
        # SDKs hang up as soon as they read it, often before the upstream's EOF reaches us.
        return Metered(model=self.model, response_id=self.response_id, tokens=tokens, partial=not self._done)

    def pending(self) -> bytes:
        """Bytes still held at the end of the stream: `[DONE]` (in drop mode), an unterminated last event."""
        held, self._held, final, self._final = self._held, [], self._final, b""
        return final + b"".join(line + b"\n" for line in held) + (self._split.rest if self._drop else b"")
