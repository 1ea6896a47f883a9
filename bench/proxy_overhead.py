"""Proxy overhead: the same requests direct to a local fake upstream and through `cs proxy start`.

Usage: .venv/bin/python bench/proxy_overhead.py [--requests 2000] [--streams 1000]

The fake upstream and the proxy run as separate processes; the client is a minimal asyncio
HTTP/1.1 keep-alive client (so the client's own cost is small and identical for both paths).
Direct and proxied requests are interleaved. Reports added latency p50/p99 at concurrency 1 and
32, requests/s at 32 (and checks that usage was recorded for every proxied request), added
time-to-first-byte and inter-chunk delay on a stream, and proxy RSS before/after N streams.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHAT = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}).encode()
CHUNKS = 10
GAP = 0.005


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _upstream(port: int) -> None:
    """A tiny HTTP/1.1 server: JSON for non-stream bodies, SSE (10 chunks, 5 ms apart) for streams."""
    seq = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seq
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                seq += 1
                if b'"stream":true' in body.replace(b" ", b""):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                 b"transfer-encoding: chunked\r\n\r\n")
                    for i in range(CHUNKS):
                        ev = {"id": f"c{seq}", "object": "chat.completion.chunk", "model": "gpt-4o-2024-08-06",
                              "choices": [{"index": 0, "delta": {"content": f"t{i}"}}], "usage": None}
                        data = f"data: {json.dumps(ev, separators=(',', ':'))}\n\n".encode()
                        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                        await writer.drain()
                        await asyncio.sleep(GAP)
                    usage = {"id": f"c{seq}", "object": "chat.completion.chunk", "model": "gpt-4o-2024-08-06",
                             "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 10}}
                    for data in (f"data: {json.dumps(usage, separators=(',', ':'))}\n\n".encode(), b"data: [DONE]\n\n"):
                        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                    writer.write(b"0\r\n\r\n")
                else:
                    body = CHAT.replace(b"chatcmpl-1", b"chatcmpl-%d" % seq)
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                                 b"x-request-id: req_%d\r\n\r\n%s" % (len(body), seq, body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


class Conn:
    """One keep-alive connection; `request` returns (ttfb, [chunk arrival times], total)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def open(self) -> Conn:
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def request(self, path: str, body: bytes) -> tuple[float, list[float], float]:
        t0 = time.perf_counter()
        head_tpl = (b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                    b"authorization: Bearer sk-bench\r\ncontent-length: %d\r\n\r\n%s")
        self.w.write(head_tpl % (path.encode(), len(body), body))
        head = await self.r.readuntil(b"\r\n\r\n")
        ttfb = time.perf_counter() - t0
        arrivals: list[float] = []
        low = head.lower()
        if b"transfer-encoding: chunked" in low:
            while True:
                size = int((await self.r.readuntil(b"\r\n")).strip(), 16)
                data = await self.r.readexactly(size + 2)
                if size == 0:
                    break
                if data.startswith(b"data: {"):
                    arrivals.append(time.perf_counter() - t0)
        else:
            length = int(low.split(b"content-length:")[1].split(b"\r\n")[0])
            data = await self.r.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{head!r} {data!r}")
        return ttfb, arrivals, time.perf_counter() - t0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def latency_c1(direct: int, proxy: int, n: int) -> tuple[list[float], list[float]]:
    d, p = await Conn(direct).open(), await Conn(proxy).open()
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
    for _ in range(200):  # warm-up (connections, price catalogue, caches)
        await d.request("/v1/chat/completions", body)
        await p.request("/openai/v1/chat/completions", body)
    ds, ps = [], []
    for _ in range(n):
        ds.append((await d.request("/v1/chat/completions", body))[2])
        ps.append((await p.request("/openai/v1/chat/completions", body))[2])
    return ds, ps


async def load_c32(port: int, path: str, n: int) -> tuple[list[float], float]:
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
    conns = [await Conn(port).open() for _ in range(32)]
    lat: list[float] = []

    async def worker(c: Conn, k: int) -> None:
        for _ in range(k):
            lat.append((await c.request(path, body))[2])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c, n // 32) for c in conns))
    return lat, (n // 32 * 32) / (time.perf_counter() - t0)


async def streams(direct: int, proxy: int, n: int) -> tuple[list[float], list[float], list[float], list[float]]:
    d, p = await Conn(direct).open(), await Conn(proxy).open()
    body = json.dumps({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    dt, pt, dg, pg = [], [], [], []
    for _ in range(n):
        legs = ((d, "/v1/chat/completions", dt, dg), (p, "/openai/v1/chat/completions", pt, pg))
        for conn, path, ttfbs, gaps in legs:
            _ttfb, arrivals, _ = await conn.request(path, body)
            assert arrivals, f"no stream events from {path}"
            ttfbs.append(arrivals[0])
            gaps.extend(b - a for a, b in itertools.pairwise(arrivals))
    return dt, pt, dg, pg


def ms(x: float) -> str:
    return f"{x * 1000:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--streams", type=int, default=1000)
    args = ap.parse_args()
    up_port, px_port = _free_port(), _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="costhq-bench-"))
    env = {**os.environ, "HOME": str(tmp), "COSTHQ_HOME": str(tmp / "data"),
           "COSTHQ_OPENAI_UPSTREAM": f"http://127.0.0.1:{up_port}"}
    here = str(Path(__file__).parent)
    up = subprocess.Popen([sys.executable, "-c", f"import asyncio,sys; sys.path.insert(0, {here!r});"
                           f"import proxy_overhead as b; asyncio.run(b._upstream({up_port}))"])
    cs = str(Path(sys.executable).with_name("cs"))
    px = subprocess.Popen([cs, "proxy", "start", "--port", str(px_port), "--json"], env=env, stdout=subprocess.PIPE)
    try:
        assert px.stdout is not None and json.loads(px.stdout.readline())["port"] == px_port
        asyncio.run(_run(args, up_port, px_port, px.pid, env))
    finally:
        px.terminate()
        up.terminate()
        print(f"proxy exit code after SIGTERM (graceful, queue flushed): {px.wait(600)}")
        up.wait(5)


async def _run(args: argparse.Namespace, up: int, px: int, pid: int, env: dict[str, str]) -> None:
    rows = []
    ds, ps = await latency_c1(up, px, args.requests)
    rows.append(("c=1 latency p50 (ms)", ms(pct(ds, 50)), ms(pct(ps, 50)), ms(pct(ps, 50) - pct(ds, 50)), "<= 0.8"))
    rows.append(("c=1 latency p99 (ms)", ms(pct(ds, 99)), ms(pct(ps, 99)), ms(pct(ps, 99) - pct(ds, 99)), "<= 3"))
    dl, drps = await load_c32(up, "/v1/chat/completions", args.requests * 2)
    pl, prps = await load_c32(px, "/openai/v1/chat/completions", args.requests * 2)
    rows.append(("c=32 latency p50 (ms)", ms(pct(dl, 50)), ms(pct(pl, 50)), ms(pct(pl, 50) - pct(dl, 50)), ""))
    rows.append(("c=32 latency p99 (ms)", ms(pct(dl, 99)), ms(pct(pl, 99)), ms(pct(pl, 99) - pct(dl, 99)), ""))
    rows.append(("c=32 requests/s", f"{drps:.0f}", f"{prps:.0f}", f"x{prps / drps:.2f}", ">= 1500"))
    before = rss_kb(pid)
    dt, pt, dg, pg = await streams(up, px, args.streams)
    after = rss_kb(pid)
    rows.append(("stream TTFB p50 (ms)", ms(pct(dt, 50)), ms(pct(pt, 50)), ms(pct(pt, 50) - pct(dt, 50)), "<= 1"))
    rows.append(("stream inter-chunk p50 (ms)", ms(statistics.median(dg)), ms(statistics.median(pg)),
                 ms(statistics.median(pg) - statistics.median(dg)), ""))
    rows.append((f"proxy RSS before/after {args.streams} streams (MB)", f"{before / 1024:.1f}",
                 f"{after / 1024:.1f}", f"{(after - before) / 1024:+.1f}", "< 10"))
    expected = 200 + args.requests + (args.requests * 2 // 32 * 32) + args.streams
    recorded = await asyncio.to_thread(_recorded, env, expected)
    rows.append(("usage records (expected/stored)", str(expected), str(recorded), "", "all"))
    print(f"{'metric':44} {'direct':>10} {'proxy':>10} {'added':>10}  target")
    for name, a, b, c, t in rows:
        print(f"{name:44} {a:>10} {b:>10} {c:>10}  {t}")


def _recorded(env: dict[str, str], expected: int) -> int:
    from costhq.bootstrap.main import build_container

    c = build_container(env)
    deadline = time.monotonic() + 600
    calls = 0
    while time.monotonic() < deadline:
        calls = c.get_stats()().ai_calls
        if calls >= expected:
            break
        time.sleep(0.2)  # polling the database the proxy writes from another process
    return calls


if __name__ == "__main__":
    main()
