"""The `/local/<name>/...` route: forward to the base URL configured for local model <name> (issue 8).

The upstream comes only from configuration (`cs local add NAME --base-url ...`, read from storage
per request, so `cs local add|rm` apply at once); the request chooses a *name*, never a host.
Usage is read from OpenAI-compatible responses (JSON or SSE; `include_usage` is injected into
chat/completions streams) or from Ollama's native `/api/chat` and `/api/generate` (JSON, or NDJSON
streams: `prompt_eval_count`, `eval_count`). The recorded duration is the wall time the proxy
measured; LogUsage prices it at the model's hardware preset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import anyio

from costhq.adapters.proxy.calls import INJECT_PATHS
from costhq.adapters.proxy.forward import Forwarder
from costhq.adapters.proxy.metering import BODY_CAP, JsonMeter, LineSplitter, Metered, SseMeter
from costhq.adapters.proxy.routing import _BAD_PATH, PathRejected, Route, Target, resolve
from costhq.domain.local_models import LocalModel
from costhq.domain.usage import TokenCounts

PREFIX = b"/local/"
_NAME = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
_OLLAMA_NATIVE = ("/api/chat", "/api/generate")


class OllamaMeter:
    """Meters Ollama's native responses: one JSON object, or NDJSON lines ending in `"done": true`.

    Only the current line is kept (capped); counts come from the last object that carries them.
    """

    def __init__(self, *, encoding: str = "", cap: int = BODY_CAP) -> None:
        self._split = LineSplitter(encoding, cap)
        self._lines = 0
        self._doc: dict[str, Any] = {}
        self._model: str | None = None
        self._done = False
        self.stream = False

    def feed(self, chunk: bytes) -> None:
        for line in self._split.lines(chunk):
            self._on_line(line)

    def _on_line(self, line: bytes) -> None:
        if not line.strip():
            return
        self._lines += 1
        self.stream = self._lines > 1
        try:
            doc = json.loads(line)
        except ValueError:
            return
        if isinstance(doc, dict):
            self._model = self._model or (doc.get("model") if isinstance(doc.get("model"), str) else None)
            if "eval_count" in doc or "prompt_eval_count" in doc or doc.get("done") is True:
                self._doc = doc
                self._done = self._done or doc.get("done") is True

    def finish(self, *, status: int, complete: bool = True) -> Metered:
        if status >= 400:
            return Metered(error=True)
        if self._split.rest:
            self._on_line(self._split.rest)
            self._split.rest = b""
        d = self._doc
        counts = [d.get(k) for k in ("prompt_eval_count", "eval_count")]
        tokens = None
        if any(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            prompt, out = (v if isinstance(v, int) and v > 0 else 0 for v in counts)
            tokens = TokenCounts(input=prompt, output=out)
        return Metered(model=self._model, tokens=tokens, partial=not (complete and self._done))


class LocalForwarder(Forwarder):
    """The Forwarder for `/local/<name>/<rest>`: `find(name)` (sync, storage) gives the model."""

    def __init__(self, *, find: Callable[[str], LocalModel | None], **kwargs: Any) -> None:
        super().__init__(routes={}, **kwargs)
        self._find = find

    async def _target(self, raw_path: bytes, query: bytes) -> Target | None:
        if not raw_path.startswith(PREFIX):
            return None
        if _BAD_PATH.search(raw_path) or not raw_path.isascii():
            raise PathRejected("path not allowed")
        name, _, rest = raw_path[len(PREFIX):].partition(b"/")
        if not _NAME.match(name):
            return None
        model = await anyio.to_thread.run_sync(self._find, name.decode("ascii"))
        if model is None or model.base_url is None:
            return None
        base = urlsplit(model.base_url)
        route = Route(prefix=model.name, provider=model.runtime, scheme=base.scheme, host=base.netloc,
                      base_path=base.path.rstrip("/"), model=model.name)
        return resolve({model.name: route}, b"/" + name + b"/" + rest, query)

    def _wants_usage_chunk(self, target: Target) -> bool:
        return target.path.endswith(INJECT_PATHS)

    def _meter(self, target: Target, *, sse: bool, drop_injected: bool, encoding: str) -> Any:
        if target.path.endswith(_OLLAMA_NATIVE):
            return OllamaMeter(encoding=encoding)
        # Every local server here speaks the OpenAI wire format outside Ollama's native API.
        return SseMeter("openai", drop_injected=drop_injected, encoding=encoding) if sse \
            else JsonMeter("openai", encoding=encoding)
