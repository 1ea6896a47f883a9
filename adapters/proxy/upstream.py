"""The one pooled upstream client per proxy process (an `httpx2.AsyncClient`).

httpx2, the maintained fork of httpx (ADR 0007): httpx 0.28's pool re-scans every connection
for every queued request (O(connections x requests), 4x slower at 32 concurrent requests here).
HTTP/1.1 keep-alive always; HTTP/2 when the `h2` package is installed (negotiated by ALPN where
the upstream offers it). Timeouts: `connect` to connect, `read` both to the first byte and
between bytes, so a stream that keeps sending may run for hours.
"""

from __future__ import annotations

import importlib.util
import socket
from typing import Any


def http2_available() -> bool:
    """Whether the `h2` package (HTTP/2 for httpx2) is installed."""
    return importlib.util.find_spec("h2") is not None


def make_client(*, connect_timeout: float = 30.0, read_timeout: float = 30.0,
                transport: Any = None) -> Any:
    """A pooled `httpx2.AsyncClient` that never follows redirects nor reads proxy env vars."""
    import httpx2

    limits = httpx2.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
    if transport is None:
        # httpcore writes headers and body separately: without TCP_NODELAY, Nagle's algorithm and
        # the upstream's delayed ACK add ~40 ms to every request with a body (measured).
        transport = httpx2.AsyncHTTPTransport(
            http2=http2_available(), limits=limits, trust_env=False,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx2.AsyncClient(
        transport=transport,
        timeout=httpx2.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout),
        follow_redirects=False,
        trust_env=False,
    )
