"""What the spend firewall needs from a proxied request before it is forwarded (proxy adapter).

`request_estimate(body, user_agent)` parses the body once and returns the requested model, the
request's shape (domain.estimates: text, images, files, the Responses API's previous response,
max tokens), the runaway fingerprint (sha256 of model + canonical JSON, as `calls.request_facts`
gives the writer) and the calling client (the User-Agent's product: `claude-cli`, `OpenAI/Python`),
whose recent calls the expected cost learns from. A body that is not a JSON object has an empty shape.
"""

from __future__ import annotations

from typing import Any

import attrs

from costhq.adapters.proxy.calls import fingerprint, request_doc
from costhq.domain.estimates import RequestShape, shape_of


@attrs.frozen
class RequestEstimate:
    """The firewall's inputs from one request (`fingerprint` is computed when asked: only a guard
    that feeds the runaway detector before forwarding needs it)."""

    model: str
    shape: RequestShape
    client: str
    doc: dict[str, Any] = attrs.field(repr=False, eq=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.model, self.doc)


def client_of(user_agent: bytes | None) -> str:
    """The product token of a User-Agent (`claude-cli/2.0.14 (external, cli)` -> `claude-cli`)."""
    text = (user_agent or b"").decode("latin-1").strip()
    return text.split(" ", 1)[0].split("/", 1)[0][:64].lower() if text else ""


def request_estimate(body: bytes, user_agent: bytes | None = None,
                     doc: dict[str, Any] | None = None) -> RequestEstimate:
    """`doc`: the body already parsed (`request_doc`), if the caller has it."""
    doc = request_doc(body) if doc is None else doc  # parsed once for the shape and the fingerprint
    model = str(doc.get("model") or "")
    return RequestEstimate(model=model, shape=shape_of(doc), client=client_of(user_agent), doc=doc)
