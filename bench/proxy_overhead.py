"""Proxy overhead: the same requests direct to a local fake upstream and through `cs proxy start`.

Usage: .venv/bin/python bench/proxy_overhead.py [--requests 2000] [--burst 8000] [--streams 300]
                                                [--concurrent-streams 1000]

Set-up (done by the script, in a temporary data dir): an active session (`cs start`) and three
blocking budget rules in force (daily, session, monthly for gpt-4o; limits high enough that
nothing is refused), so the spend firewall is armed and every proxied call goes through it.

The fake upstream, the proxy and this client are three processes (the proxy's own children,
if any, are counted with it). The client is a minimal asyncio HTTP/1.1 keep-alive client, so its
own cost is small and the same for both paths; direct and proxied requests are interleaved where
the measure allows. Reported, each against the direct baseline of the same run:
- c=1 latency p50/p95/p99 (added = proxy - direct);
- c=32 burst: requests/s, latency p50/p95/p99, lost (no complete response) and failed (not 200);
- stream time to first event p50/p95 and the inter-chunk gap (sequential streams);
- N concurrent streams through the proxy: RSS of the proxy (and its children) before, at the
  peak and after, and streams completed;
- usage rows stored vs proxied requests (waited for; every proxied call must be recorded once);
- the proxy's CPU time per request in the burst (not inflated by other processes' load);
- the load average before and after, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHAT = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}).encode()
BODY = json.dumps({"model": "gpt-4o", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}).encode()
STREAM_BODY = json.dumps({"model": "gpt-4o", "max_tokens": 64, "stream": True,
                          "messages": [{"role": "user", "content": "hi"}]}).encode()
CHUNKS = 10
GAP = 0.005
RULES = (["daily", "100000"], ["session", "100000"], ["monthly", "100000", "--model", "gpt-4o"])


def _loop() -> None:
    """uvloop for the client and the fake upstream when installed (same for both paths)."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


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

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


class Conn:
    """One keep-alive connection; `request` returns (status, ttfb, [event arrival times], total)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def open(self) -> Conn:
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        self.w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def request(self, path: str, body: bytes) -> tuple[int, float, list[float], float]:
        t0 = time.perf_counter()
        head_tpl = (b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                    b"authorization: Bearer sk-bench\r\ncontent-length: %d\r\n\r\n%s")
        self.w.write(head_tpl % (path.encode(), len(body), body))
        head = await self.r.readuntil(b"\r\n\r\n")
        ttfb = time.perf_counter() - t0
        status = int(head[9:12])
        arrivals: list[float] = []
        low = head.lower()
        if b"transfer-encoding: chunked" in low:
            while True:
                size = int((await self.r.readuntil(b"\r\n")).strip(), 16)
                data = await self.r.readexactly(size + 2)
                if size == 0:
                    break
                # A relay may pass several events in one chunk: each counts, at the chunk's arrival.
                arrivals += [time.perf_counter() - t0] * data.count(b"data: {")
        else:
            length = int(low.split(b"content-length:")[1].split(b"\r\n")[0])
            await self.r.readexactly(length)
        return status, ttfb, arrivals, time.perf_counter() - t0

    def close(self) -> None:
        self.w.close()


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            out += [kid, *_children(kid)]
    return out


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid: int) -> int:
    """RSS of the proxy and every process it started (e.g. a usage writer)."""
    return sum(_status_kb(p, "VmRSS:") for p in [pid, *_children(pid)])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the proxy and its children so far."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def latency_c1(direct: int, proxy: int, n: int, warm: int) -> tuple[list[float], list[float], list[int]]:
    d, p = await Conn(direct).open(), await Conn(proxy).open()
    bad = []
    for _ in range(warm):  # warm-up (connections, price catalogue, caches)
        await d.request("/v1/chat/completions", BODY)
        await p.request("/openai/v1/chat/completions", BODY)
    ds, ps = [], []
    for i in range(n):
        legs = ((d, "/v1/chat/completions", ds), (p, "/openai/v1/chat/completions", ps))
        for conn, path, out in legs if i % 2 else legs[::-1]:  # alternate which path goes first
            status, _, _, total = await conn.request(path, BODY)
            out.append(total)
            if status != 200:
                bad.append(status)
    d.close()
    p.close()
    return ds, ps, bad


async def burst(port: int, path: str, n: int, conns: int = 32) -> tuple[list[float], float, int, int]:
    """n requests over `conns` keep-alive connections: (latencies, req/s, lost, failed)."""
    opened = [await Conn(port).open() for _ in range(conns)]
    lat: list[float] = []
    lost = failed = 0

    async def worker(c: Conn, k: int) -> None:
        nonlocal lost, failed
        for _ in range(k):
            try:
                status, _, _, total = await asyncio.wait_for(c.request(path, BODY), 30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                lost += 1
                c.close()
                c = await Conn(port).open()
                continue
            lat.append(total)
            failed += status != 200

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c, n // conns) for c in opened))
    rps = (n // conns * conns) / (time.perf_counter() - t0)
    for c in opened:
        c.close()
    return lat, rps, lost, failed


async def streams(direct: int, proxy: int, n: int) -> tuple[list[float], list[float], list[float], list[float]]:
    d, p = await Conn(direct).open(), await Conn(proxy).open()
    dt: list[float] = []
    pt: list[float] = []
    dg: list[float] = []
    pg: list[float] = []
    for i in range(n):
        legs = ((d, "/v1/chat/completions", dt, dg), (p, "/openai/v1/chat/completions", pt, pg))
        for conn, path, ttfbs, gaps in legs if i % 2 else legs[::-1]:
            _status, _ttfb, arrivals, _ = await conn.request(path, STREAM_BODY)
            assert arrivals, f"no stream events from {path}"
            ttfbs.append(arrivals[0])
            gaps.extend(b - a for a, b in itertools.pairwise(arrivals))
    d.close()
    p.close()
    return dt, pt, dg, pg


async def concurrent_streams(proxy: int, n: int, pid: int) -> tuple[int, int, int, int, float]:
    """n streams at once, each on its own connection: (rss before, peak, after (kB), completed, seconds)."""
    conns = []
    for _ in range(n):
        conns.append(await Conn(proxy).open())
    await asyncio.sleep(0.2)  # let the proxy settle its accept work before the baseline sample
    before = peak = rss_kb(pid)
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kb(pid))
            await asyncio.sleep(0.01)

    async def one(c: Conn) -> bool:
        try:
            status, _, arrivals, _ = await asyncio.wait_for(c.request("/openai/v1/chat/completions", STREAM_BODY), 120)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            return False
        return status == 200 and len(arrivals) == CHUNKS

    sampler = asyncio.create_task(sample())
    t0 = time.perf_counter()
    ok = await asyncio.gather(*(one(c) for c in conns))
    took = time.perf_counter() - t0
    done.set()
    await sampler
    for c in conns:
        c.close()
    await asyncio.sleep(0.5)
    return before, max(peak, rss_kb(pid)), rss_kb(pid), sum(ok), took


def ms(x: float) -> str:
    return f"{x * 1000:.3f}"


def _cs(env: dict[str, str], cwd: Path, *args: str) -> dict[str, object]:
    cs = str(Path(sys.executable).with_name("cs"))
    out = subprocess.run([cs, *args, "--json"], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000, help="c=1 requests per path")
    ap.add_argument("--burst", type=int, default=8000, help="c=32 requests per path")
    ap.add_argument("--streams", type=int, default=300, help="sequential streams per path (time to first event)")
    ap.add_argument("--concurrent-streams", type=int, default=1000)
    ap.add_argument("--warm", type=int, default=200)
    ap.add_argument("--gap-ms", type=float, default=GAP * 1000,
                    help="the fake upstream's pause between stream chunks; 0 shows the first event with a "
                         "proxy that never idles between streams (this VM runs code ~10x slower right after "
                         "an idle pause: ADR 0009 round 4)")
    ap.add_argument("--rules", type=int, default=len(RULES), choices=range(len(RULES) + 1),
                    help="budget rules to set (the targets are for all three; 0 leaves the firewall unarmed)")
    args = ap.parse_args()
    up_port, px_port = _free_port(), _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="costhq-bench-"))
    work = tmp / "project"
    work.mkdir()
    env = {**os.environ, "HOME": str(tmp), "COSTHQ_HOME": str(tmp / "data"),
           "COSTHQ_OPENAI_UPSTREAM": f"http://127.0.0.1:{up_port}"}
    session = _cs(env, work, "start", "proxy bench")
    for rule in RULES[:args.rules]:
        _cs(env, work, "budget", "set", *rule)
    here = str(Path(__file__).parent)
    up = subprocess.Popen([sys.executable, "-c", f"import asyncio,sys; sys.path.insert(0, {here!r});"
                           f"import proxy_overhead as b; b.GAP = {args.gap_ms / 1000!r}; b._loop();"
                           f"asyncio.run(b._upstream({up_port}))"])
    cs = str(Path(sys.executable).with_name("cs"))
    px = subprocess.Popen([cs, "proxy", "start", "--port", str(px_port), "--json"], env=env, cwd=work,
                          stdout=subprocess.PIPE)
    code = None
    try:
        assert px.stdout is not None and json.loads(px.stdout.readline())["port"] == px_port
        _loop()
        asyncio.run(_run(args, up_port, px_port, px.pid, env, session))
    finally:
        px.terminate()
        up.terminate()
        code = px.wait(600)
        up.wait(5)
    print(f"\nproxy exit code after SIGTERM (graceful, queue drained): {code}")


async def _run(args: argparse.Namespace, up: int, px: int, pid: int, env: dict[str, str],
               session: dict[str, object]) -> None:
    load0 = os.getloadavg()
    rows: list[tuple[str, str, str, str, str, str]] = []

    def row(name: str, d: float | str, p: float | str, target: str = "", ok: bool | None = None,
            added: str | None = None) -> None:
        fd = ms(d) if isinstance(d, float) else d
        fp = ms(p) if isinstance(p, float) else p
        if added is None:
            added = ms(p - d) if isinstance(d, float) and isinstance(p, float) else ""
        rows.append((name, fd, fp, added, target, "" if ok is None else ("met" if ok else "**missed**")))

    ds, ps, bad1 = await latency_c1(up, px, args.requests, args.warm)
    for q in (50, 95, 99):
        added = pct(ps, q) - pct(ds, q)
        target = {50: "<= 0.8", 99: "<= 3"}.get(q, "")
        row(f"c=1 latency p{q} (ms)", pct(ds, q), pct(ps, q), target,
            None if not target else added * 1000 <= float(target.split()[-1]))
    cpu0 = cpu_s(pid)
    dl, drps, dlost, dfail = await burst(up, "/v1/chat/completions", args.burst)
    cpu1 = cpu_s(pid)
    pl, prps, plost, pfail = await burst(px, "/openai/v1/chat/completions", args.burst)
    cpu2 = cpu_s(pid)
    for q in (50, 95, 99):
        row(f"c=32 latency p{q} (ms)", pct(dl, q), pct(pl, q))
    row("c=32 requests/s", f"{drps:,.0f}", f"{prps:,.0f}", ">= 1,500", prps >= 1500 and plost == pfail == 0,
        added=f"x{prps / drps:.3f}")
    row("c=32 lost / failed", f"{dlost} / {dfail}", f"{plost} / {pfail}", "0 / 0", plost == pfail == 0, added="")
    row("proxy CPU per burst request (ms)", "", ms((cpu2 - cpu1) / max(1, args.burst // 32 * 32)),
        added=f"idle {ms((cpu1 - cpu0) / max(1, args.burst // 32 * 32))}")
    dt, pt, dg, pg = await streams(up, px, args.streams)
    for q in (50, 95):
        added = pct(pt, q) - pct(dt, q)
        row(f"stream first event p{q} (ms)", pct(dt, q), pct(pt, q), "<= 1" if q == 50 else "",
            added * 1000 <= 1 if q == 50 else None)
    row("stream inter-chunk gap p50 (ms)", pct(dg, 50), pct(pg, 50))
    before, peak, after, completed, took = await concurrent_streams(px, args.concurrent_streams, pid)
    n = args.concurrent_streams
    row(f"{n} concurrent streams: proxy RSS before / peak (MB)", f"{before / 1024:.1f}", f"{peak / 1024:.1f}",
        "< 50 growth", (peak - before) / 1024 < 50, added=f"{(peak - before) / 1024:+.1f}")
    row(f"{n} concurrent streams: RSS after (MB), completed", f"{after / 1024:.1f}", f"{completed} / {n}",
        "all", completed == n, added=f"{took:.2f} s")
    expected = args.warm + args.requests + (args.burst // 32 * 32 - plost) + args.streams + completed
    t0 = time.perf_counter()
    recorded, cost = await asyncio.to_thread(_recorded, env, int(session["id"]), expected)  # type: ignore[call-overload]
    row("usage rows stored / proxied requests", str(expected), str(recorded), "all", recorded == expected,
        added=f"+{time.perf_counter() - t0:.1f} s")
    load1 = os.getloadavg()
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} ({os.cpu_count()} cores); "
          f"session #{session['id']} active, {args.rules} blocking budget rules; "
          f"stream chunks {args.gap_ms:g} ms apart; session cost ${cost}")
    if bad1:
        print(f"c=1: {len(bad1)} non-200 answers: {sorted(set(bad1))}")
    print("| metric | direct | proxy | added | target | |")
    print("|---|---:|---:|---:|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def _recorded(env: dict[str, str], session_id: int, expected: int) -> tuple[int, str]:
    """Rows stored for the session, waited for until `expected` (or 10 minutes)."""
    import apsw

    db = Path(env["COSTHQ_HOME"]) / "sessions.db"
    deadline = time.monotonic() + 600
    calls = 0
    while time.monotonic() < deadline:
        conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
        conn.set_busy_timeout(5000)
        calls = conn.execute("SELECT COUNT(*) FROM ai_usage WHERE session_id = ?", (session_id,)).get
        conn.close()
        if calls >= expected:
            break
        time.sleep(0.2)  # polling the database the proxy writes from another process
    from costhq.bootstrap.main import build_container

    s = build_container(env).get_session()(cwd=".", session_id=session_id).session
    return calls, str(s.ai_cost)


if __name__ == "__main__":
    main()
