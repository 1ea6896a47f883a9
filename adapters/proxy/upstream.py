"""The proxy's pooled upstream client: aiohttp for HTTP/1.1, httpx2 for HTTP/2 to TLS upstreams (ADR 0009).

Rules:
- One client per proxy process, connections reused (keep-alive; idle ones kept 60 s).
- `http://` upstreams (local servers, tests, benchmarks) and, with `[proxy] http2 = false`, every
  upstream go through aiohttp: its HTTP/1.1 parser is C (llhttp), ~0.1 ms of CPU per request
  here where httpx2's pure-Python h11 path costs ~0.6 ms (ADR 0009).
- `https://` upstreams (the real providers) go through httpx2 with HTTP/2 when the `h2` package is
  installed (negotiated by ALPN; HTTP/1.1 otherwise): one TLS connection multiplexes every
  concurrent request, and the network, not parsing, is what a real call waits on.
- Bytes are relayed as received: no decompression, no redirects, no proxy environment variables,
  no cookies, no headers of the client's own (no User-Agent, Accept, Accept-Encoding added).
- Timeouts: `connect` to connect, `read` both to the first byte and between bytes, so a stream
  that keeps sending may run for hours. Every failure is an `UpstreamFailed` (timeout or not).
"""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import AsyncIterator
from typing import Any

#: More concurrent upstream connections than this wait for one to free up (per client).
MAX_CONNECTIONS = 4096


class UpstreamFailed(Exception):
    """The upstream could not be reached, broke the connection or stayed silent past a timeout."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


def http2_available() -> bool:
    """Whether the `h2` package (HTTP/2 for httpx2) is installed."""
    return importlib.util.find_spec("h2") is not None


class UpstreamResponse:
    """Status, raw headers and the body as it arrives (still content-encoded)."""

    __slots__ = ("_close", "_iter", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], chunks: AsyncIterator[bytes],
                 close: Any) -> None:
        self.status, self.headers, self._iter, self._close = status, headers, chunks, close

    def header(self, name: bytes) -> str:
        """The first value of header `name` (lower case), as text; "" when absent."""
        for k, v in self.headers:
            if k.lower() == name:
                return v.decode("latin-1")
        return ""

    def text_headers(self) -> dict[str, str]:
        """Every header as text, names lower-cased (the first value of a repeated one)."""
        out: dict[str, str] = {}
        for k, v in self.headers:
            out.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
        return out

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as received (decoded from chunked transfer, not from content-encoding).

        Raises:
            UpstreamFailed: the upstream cut the body or stayed silent past the read timeout.
        """
        try:
            async for chunk in self._iter:
                yield chunk
        except _ERRORS as exc:
            raise _failed(exc) from None

    async def aclose(self) -> None:
        """Give the connection back to the pool (or drop it if the body was not read to the end)."""
        await self._close()


_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError)


def _failed(exc: BaseException) -> UpstreamFailed:
    return UpstreamFailed(type(exc).__name__, timeout=isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__)


class UpstreamClient:
    """`send(method, url, headers, body)` -> UpstreamResponse, over the pool that fits the URL."""

    def __init__(self, *, connect_timeout: float = 30.0, read_timeout: float = 30.0, http2: bool | None = None,
                 transport: Any = None) -> None:
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.http2 = http2_available() if http2 is None else http2 and http2_available()
        self._transport = transport  # an httpx2 transport (tests): every request goes through httpx2
        self._aiohttp: Any = None
        self._httpx2: Any = None

    async def send(self, method: str, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> UpstreamResponse:
        """Send one request; the response's body is not read yet.

        Raises:
            UpstreamFailed: connecting, sending or reading the response head failed or timed out.
        """
        if self._transport is not None or (self.http2 and url.startswith("https:")):
            return await self._send_httpx2(method, url, headers, body)
        return await self._send_aiohttp(method, url, headers, body)

    async def _send_aiohttp(self, method: str, url: str, headers: list[tuple[bytes, bytes]],
                            body: bytes) -> UpstreamResponse:
        import aiohttp
        from yarl import URL

        session = self._aiohttp or self._make_aiohttp()
        try:
            resp = await session.request(
                method, URL(url, encoded=True), data=body,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
                allow_redirects=False)
        except (aiohttp.ClientError, *_ERRORS) as exc:
            raise _failed(exc) from None

        async def close() -> None:
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()  # a half-read body cannot be reused: drop the connection

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.content.iter_any():
                    yield chunk
            except aiohttp.ClientError as exc:  # cut before the announced end, or silent too long
                raise _failed(exc) from None

        return UpstreamResponse(resp.status, list(resp.raw_headers), chunks(), close)

    def _make_aiohttp(self) -> Any:
        import aiohttp

        # aiohttp sets TCP_NODELAY on every connection itself (Nagle + delayed ACK would add ~40 ms).
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=60,
                                         ttl_dns_cache=300, use_dns_cache=True)
        self._aiohttp = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout, sock_connect=self.connect_timeout,
                                          sock_read=self.read_timeout),
            read_bufsize=64 * 1024, max_line_size=64 * 1024, max_field_size=64 * 1024)
        return self._aiohttp

    async def _send_httpx2(self, method: str, url: str, headers: list[tuple[bytes, bytes]],
                           body: bytes) -> UpstreamResponse:
        import httpx2

        client = self._httpx2 or self._make_httpx2()
        try:
            resp = await client.send(client.build_request(method, url, headers=headers, content=body), stream=True)
        except httpx2.HTTPError as exc:
            raise UpstreamFailed(type(exc).__name__, timeout=isinstance(exc, httpx2.TimeoutException)) from None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.aiter_raw():
                    yield chunk
            except httpx2.HTTPError as exc:
                raise UpstreamFailed(type(exc).__name__, timeout=isinstance(exc, httpx2.TimeoutException)) from None

        return UpstreamResponse(resp.status_code, list(resp.headers.raw), chunks(), resp.aclose)

    def _make_httpx2(self) -> Any:
        import httpx2

        transport = self._transport
        if transport is None:
            limits = httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=64, keepalive_expiry=60)
            transport = httpx2.AsyncHTTPTransport(
                http2=self.http2, limits=limits, trust_env=False,
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._httpx2 = httpx2.AsyncClient(
            transport=transport, follow_redirects=False, trust_env=False,
            timeout=httpx2.Timeout(connect=self.connect_timeout, read=self.read_timeout, write=self.read_timeout,
                                   pool=self.connect_timeout))
        return self._httpx2

    async def aclose(self) -> None:
        """Close every pooled connection (at shutdown)."""
        if self._aiohttp is not None:
            await self._aiohttp.close()
        if self._httpx2 is not None:
            await self._httpx2.aclose()


def make_client(*, connect_timeout: float = 30.0, read_timeout: float = 30.0, http2: bool | None = None,
                transport: Any = None) -> UpstreamClient:
    """The proxy's upstream client; `transport` (an httpx2 transport, tests) replaces the network."""
    return UpstreamClient(connect_timeout=connect_timeout, read_timeout=read_timeout, http2=http2,
                          transport=transport)
