"""Header handling of the proxy: hop-by-hop removal (RFC 9110 7.6.1) in both directions.

Removed from requests and responses: the fixed hop-by-hop list and every header that message's
`Connection` header names. `x-costhq-*` request headers are ours and never go upstream; the
`Accept-Encoding` sent upstream keeps only encodings the meter can decode.
"""

from __future__ import annotations

from typing import Any

# Hop-by-hop (RFC 9110 7.6.1, plus the legacy Proxy-* ones), and the framing httpx2/uvicorn set themselves.
_HOP = frozenset({b"connection", b"proxy-connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
                  b"te", b"trailer", b"trailers", b"transfer-encoding", b"upgrade", b"host", b"content-length"})
CALL_HEADER = b"x-costhq-call"
_KNOWN_ENCODINGS = {b"gzip", b"deflate", b"identity"}


def _accept_encoding(value: bytes) -> bytes:
    # Only encodings the meter can decode (zlib); anything else would hide usage from us.
    kept = [p.strip() for p in value.split(b",") if p.split(b";")[0].strip().lower() in _KNOWN_ENCODINGS]
    return b", ".join(kept) or b"identity"


def _header_int(value: bytes) -> int | None:
    return int(value) if value.isdigit() and 0 < len(value) < 19 else None


def named_in_connection(headers: Any) -> frozenset[bytes]:
    """Header names listed in the `Connection` header(s): hop-by-hop for this message only."""
    return frozenset(token.strip().lower() for k, v in headers if k.lower() == b"connection"
                     for token in v.split(b",") if token.strip())


def response_headers(raw: list[tuple[bytes, bytes]], *, keep_length: bool) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers for the client: no hop-by-hop ones, no `x-costhq-*` (ours only)."""
    named = named_in_connection(raw)
    out = []
    for k, v in raw:
        low = k.lower()
        if (low not in _HOP or (keep_length and low == b"content-length")) and low not in named \
                and not low.startswith(b"x-costhq-"):
            out.append((k, v))
    return out


def request_headers(raw: list[tuple[bytes, bytes]]) -> tuple[list[tuple[bytes, bytes]], int | None, int | None, bool]:
    """(headers to send upstream, x-costhq-session, content-length, is a WebSocket upgrade)."""
    headers, session_header, length, upgrade = [], None, None, False
    named = named_in_connection(raw)
    for k, v in raw:
        if k.startswith(b"x-costhq-"):
            if k == b"x-costhq-session":
                session_header = _header_int(v.strip())
        elif k == b"content-length":
            length = _header_int(v)
        elif k == b"upgrade":
            upgrade = upgrade or b"websocket" in v.lower()
        elif k in _HOP or k in named:
            continue
        elif k == b"accept-encoding":
            headers.append((k, _accept_encoding(v)))
        else:
            headers.append((k, v))
    return headers, session_header, length, upgrade
