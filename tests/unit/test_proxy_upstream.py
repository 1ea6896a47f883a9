"""The proxy's upstream client against a real HTTP/1.1 server on 127.0.0.1 (an asyncio socket server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from costhq.adapters.proxy.upstream import MAX_CONNECTIONS, UpstreamFailed, make_client

pytestmark = pytest.mark.anyio
Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Server:
    """Reads each request head + Content-Length body, records it, lets `handler` answer."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.heads, self.connections = handler, [], 0

    async def __aenter__(self) -> Server:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    self.heads.append((head, await reader.readexactly(length)))
                    await self.handler(head, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.close()


async def ok(head: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Encoding: gzip\r\n"
                 b"x-request-id: req_7\r\ncontent-length: 2\r\n\r\n{}")
    await writer.drain()


async def body_of(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


async def test_http1_upstreams_reuse_one_connection_and_get_exactly_the_client_headers_and_raw_path() -> None:
    client = make_client(connect_timeout=5, read_timeout=5)
    async with Server(ok) as up:
        for _ in range(3):
            resp = await client.send("POST", f"{up.url}/v1/chat/completions?a=%2F+b", [
                (b"authorization", b"Bearer sk-x"), (b"content-type", b"application/json")], b'{"m":1}')
            assert (resp.status, resp.header(b"x-request-id"), resp.header(b"content-encoding")) == (
                200, "req_7", "gzip")
            assert await body_of(resp.chunks()) == b"{}"  # still encoded: never decompressed
            await resp.aclose()
        await client.aclose()
    assert up.connections == 1
    head, body = up.heads[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions?a=%2F+b HTTP/1.1"
    assert sorted(line.split(":")[0].lower() for line in lines[1:] if line) == [
        "authorization", "content-length", "content-type", "host"]
    assert body == b'{"m":1}'


async def test_silent_upstream_is_a_timeout_and_a_cut_body_a_failure() -> None:
    async def silent(head: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def cut(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    client = make_client(connect_timeout=5, read_timeout=0.2)
    async with Server(silent) as up:
        with pytest.raises(UpstreamFailed) as err:
            await client.send("POST", f"{up.url}/v1/x", [], b"")
        assert err.value.timeout is True
    async with Server(cut) as up:
        resp = await client.send("POST", f"{up.url}/v1/x", [], b"")
        with pytest.raises(UpstreamFailed) as err:
            await body_of(resp.chunks())
        assert err.value.timeout is False
        await resp.aclose()
    with pytest.raises(UpstreamFailed):  # nothing listens there any more
        await client.send("POST", f"{up.url}/v1/x", [], b"")
    await client.aclose()


async def test_pools_and_timeouts_are_configured_and_tls_upstreams_offer_http2() -> None:
    client = make_client(connect_timeout=7, read_timeout=45)
    h1, h2 = client._make_aiohttp(), client._make_httpx2()  # private pools, checked once here
    assert (h1.connector.limit, h1.timeout.sock_connect, h1.timeout.sock_read, h1.timeout.total) == (
        MAX_CONNECTIONS, 7, 45, None)
    assert (h1.auto_decompress, h1.connector._keepalive_timeout) == (False, 60)
    pool = h2._transport._pool
    assert (pool._http1, pool._http2, pool._max_connections) == (True, True, MAX_CONNECTIONS)
    assert (h2.timeout.connect, h2.timeout.read, h2.follow_redirects) == (7, 45, False)
    assert client.http2 is True and make_client(http2=False).http2 is False
    await client.aclose()


def test_recorder_and_http2_settings_are_read_from_env_and_config_and_checked(tmp_path: Any) -> None:
    from costhq.adapters.proxy.server import proxy_config
    from costhq.bootstrap.settings import Settings
    from costhq.domain.errors import InvalidArgument

    def settings(**proxy: Any) -> Settings:
        return Settings(data_dir=tmp_path, legacy_dir=tmp_path / "old", config={"proxy": proxy})

    default = proxy_config(settings(), {})
    assert (default.recorder, default.http2) == ("process", True)
    chosen = proxy_config(settings(recorder="thread", http2=False), {})
    assert (chosen.recorder, chosen.http2) == ("thread", False)
    assert proxy_config(settings(recorder="thread"), {"COSTHQ_PROXY_RECORDER": "process"}).recorder == "process"
    with pytest.raises(InvalidArgument, match="recorder must be one of process, thread"):
        proxy_config(settings(), {"COSTHQ_PROXY_RECORDER": "fork"})
    with pytest.raises(InvalidArgument, match="http2 must be true or false"):
        proxy_config(settings(http2="yes"), {})
