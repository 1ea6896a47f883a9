"""Serving the proxy: configuration, uvicorn in the foreground (`cs proxy start`) or on a thread (`cs run`).

Upstream hosts come only from local configuration (DESIGN §7): env `COSTHQ_ANTHROPIC_UPSTREAM` /
`COSTHQ_OPENAI_UPSTREAM`, else `config.toml` `[proxy] anthropic_upstream` / `openai_upstream`,
else the fixed provider hosts. Timeouts: `[proxy] connect_timeout` / `read_timeout` (seconds,
default 30) or env `COSTHQ_PROXY_CONNECT_TIMEOUT` / `COSTHQ_PROXY_READ_TIMEOUT`. Usage is recorded
by a child process (`[proxy] recorder = "process"`, the default) or a thread of the proxy (`"thread"`;
env `COSTHQ_PROXY_RECORDER`); HTTP/2 to TLS upstreams unless `[proxy] http2 = false` (ADR 0009).
The server always binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from costhq.domain.errors import CostHQError, InvalidArgument

HOST = "127.0.0.1"
DEFAULT_PORT = 3739


class PortInUse(CostHQError):
    """The proxy port is already taken (another proxy, or another program)."""

    code = "port_in_use"


@attrs.frozen(kw_only=True)
class ProxyConfig:
    """Local proxy configuration (never influenced by a request)."""

    upstreams: Mapping[str, str]
    connect_timeout: float = 30.0
    read_timeout: float = 30.0
    recorder: str = "process"
    http2: bool = True


def _seconds(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be a number of seconds (got {value!r})") from None
    if not out > 0:
        raise InvalidArgument(f"{name} must be positive (got {value!r})")
    return out


def proxy_config(settings: Any, env: Mapping[str, str] | None = None) -> ProxyConfig:
    """Read env and `config.toml [proxy]` (env wins)."""
    from costhq.adapters.proxy.routing import DEFAULT_UPSTREAMS

    env = os.environ if env is None else env
    section = settings.section("proxy")
    upstreams = {p: env.get(f"COSTHQ_{p.upper()}_UPSTREAM") or section.get(f"{p}_upstream") or base
                 for p, base in DEFAULT_UPSTREAMS.items()}
    return ProxyConfig(
        upstreams={p: str(u).rstrip("/") for p, u in upstreams.items()},
        connect_timeout=_seconds("connect_timeout",
                                 env.get("COSTHQ_PROXY_CONNECT_TIMEOUT") or section.get("connect_timeout", 30)),
        read_timeout=_seconds("read_timeout", env.get("COSTHQ_PROXY_READ_TIMEOUT") or section.get("read_timeout", 30)),
        recorder=_choice("recorder", env.get("COSTHQ_PROXY_RECORDER") or section.get("recorder", "process"),
                         ("process", "thread")),
        http2=_flag("http2", section.get("http2", True)),
    )


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidArgument(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
    return str(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be true or false (got {value!r})")
    return value


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (`port` 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if os.name != "nt":  # SO_REUSEADDR on Windows would let two proxies share a port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise PortInUse(f"Port {port} on {HOST} is in use ({exc.strerror}); choose another with --port",
                        port=port) from None
    # Accepted sockets inherit TCP_NODELAY on Linux: without it, uvicorn's separate header and body
    # writes meet the client's delayed ACK and every response waits ~40 ms (measured).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def make_server(app: Any, port: int) -> Any:
    """A uvicorn server for `app` (httptools + uvloop)."""
    import sys

    import uvicorn

    # The usage writer thread is CPU-bound while recording; a short GIL switch interval keeps it
    # from starving the event loop (measured: p99 at concurrency 32, bench/proxy_overhead.py).
    sys.setswitchinterval(0.0005)

    # proxy_headers=False: the peer address decides loopback, never X-Forwarded-For (uvicorn would
    # otherwise take the client address from that header for a 127.0.0.1 peer), and its middleware
    # costs a layer per request. ws="none": a WebSocket upgrade reaches the app as plain HTTP and
    # gets 426 (Codex then falls back to HTTP). httptools and uvloop are dependencies (ADR 0009);
    # uvicorn's "auto" picks them (uvloop is not built for Windows).
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="on",
                            timeout_keep_alive=30, server_header=False, date_header=False, backlog=2048,
                            proxy_headers=False, ws="none", http="auto", loop="auto")
    _quiet_upgrade_warnings()
    return uvicorn.Server(config)


class _UpgradeNoise:
    """Drops uvicorn's per-request warnings about WebSocket upgrades it hands to the app as HTTP."""

    def filter(self, record: Any) -> bool:
        text = str(record.msg)
        return not (text.startswith("Unsupported upgrade request") or "WebSocket library detected" in text)


def _quiet_upgrade_warnings() -> None:
    import logging

    log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _UpgradeNoise) for f in log.filters):
        log.addFilter(_UpgradeNoise())


@contextlib.contextmanager
def pid_file(data_dir: Path, port: int) -> Iterator[Path]:
    """`proxy-<port>.pid` for `cs proxy status`; removed on exit only if it is still ours."""
    path = data_dir / f"proxy-{port}.pid"
    path.write_text(f"{os.getpid()}\n", encoding="utf-8")
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8").strip() == str(os.getpid()):
                path.unlink()


class ProxyThread:
    """The proxy served by uvicorn on a background thread (`cs run`, tests, benchmarks)."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.sock, self.port = sock, sock.getsockname()[1]
        self.server = make_server(app, self.port)
        self._thread = threading.Thread(target=self._serve, name="costhq-proxy", daemon=True)
        self._ready = threading.Event()
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # reported to the starter instead of dying silently
            self.error = exc
        finally:
            self._ready.set()

    def start(self, timeout: float = 30.0) -> ProxyThread:
        """Start and wait until uvicorn has started (lifespan done, socket accepting)."""
        self._thread.start()
        waited = 0.0
        while not self.server.started and waited < timeout and not self._ready.is_set():
            self._ready.wait(0.005)  # poll uvicorn's `started` flag, which has no event to wait on
            waited += 0.005
        if not self.server.started:
            raise RuntimeError(f"proxy did not start: {self.error!r}")
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful: stop accepting, finish in-flight responses, flush usage (lifespan)."""
        self.server.should_exit = True
        self._thread.join(timeout)
        self.sock.close()


def _settle_heap(app: Any) -> None:
    """Load what the first calls would, then take the heap out of the garbage collector's way (issue 15).

    Measured on the 32-connection burst: full (generation 2) collections of 20-190 ms each, every
    few seconds, were the proxy's latency tail; what they scanned was the start-up heap (modules,
    the price catalogue: ~100,000 objects) and the calls queued for the recorder. `gc.freeze()` moves
    what exists once the proxy is ready into the permanent generation (c=32 p99 107 -> 52 ms,
    docs/benchmarks.md). Only the foreground `cs proxy start` does this: the proxy is then the
    whole process (a proxy on a thread of `cs run` or a test shares its heap).
    """
    import gc

    import aiohttp  # noqa: F401  # imported now, not by the first forwarded call

    app.prepare()
    gc.collect()
    gc.freeze()


@attrs.frozen
class ProxyServer:
    """The proxy app (built by bootstrap for the port it gets) and how to serve it.

    `app_for(port)` returns the ASGI app; the port is known only after binding (0 picks one).
    """

    app_for: Callable[[int], Any]
    port: int
    data_dir: Path

    def serve(self, announce: Callable[[int], None]) -> None:
        """Foreground: bind, write the pid file, `announce(port)`, serve until SIGINT/SIGTERM."""
        import signal

        sock = bind(self.port)
        port = sock.getsockname()[1]
        app = self.app_for(port)
        server = make_server(app, port)
        _settle_heap(app)
        with pid_file(self.data_dir, port):
            announce(port)
            # uvicorn handles SIGINT/SIGTERM (stop accepting, finish in-flight streams, lifespan
            # flush), then re-raises the signal to the handlers it found: make those no-ops.
            previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                server.run(sockets=[sock])
            finally:
                for s, h in previous.items():
                    signal.signal(s, h)

    def thread(self) -> ProxyThread:
        """Started on a background thread (`cs run`); `.port`, `.stop()`."""
        sock = bind(self.port)
        return ProxyThread(self.app_for(sock.getsockname()[1]), sock).start()
