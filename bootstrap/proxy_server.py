"""Serving the proxy: configuration, the app built from the container, uvicorn (foreground or thread).

Upstream hosts come only from local configuration (DESIGN §7): env `COSTHQ_ANTHROPIC_UPSTREAM` /
`COSTHQ_OPENAI_UPSTREAM`, else `config.toml` `[proxy] anthropic_upstream` / `openai_upstream`,
else the fixed provider hosts. Timeouts: `[proxy] connect_timeout` / `read_timeout` (seconds,
default 30) or env `COSTHQ_PROXY_CONNECT_TIMEOUT` / `COSTHQ_PROXY_READ_TIMEOUT`.
The server always binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator, Mapping
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
    )


def build_proxy_app(c: Any, *, port: int, pinned_session: int | None, config: ProxyConfig,
                    transport: Any = None) -> Any:
    """The Starlette proxy app wired to the container's use cases."""
    from costhq.adapters._shared.version import VERSION
    from costhq.adapters.proxy.app import ProxyDeps, make_proxy_app
    from costhq.adapters.proxy.upstream import make_client

    current, resolve = c.current_proxy_session(), c.resolve_proxy_session()
    record, batch, armed = _storage(c)
    deps = ProxyDeps(
        record=record, batch=batch, armed=armed,
        current_session=lambda pinned: current(pinned_session=pinned),
        resolve_session=lambda header, pinned: resolve(header_session=header, pinned_session=pinned),
        guard=c.request_guard(), upstreams=config.upstreams, spool_dir=Path(c.settings().data_dir), port=port,
        version=VERSION, pinned_session=pinned_session,
        find_local=lambda name, find=c.find_local_model(): find(name=name),  # issue 8: `/local/<name>/`
    )
    client = make_client(connect_timeout=config.connect_timeout, read_timeout=config.read_timeout,
                         transport=transport)
    return make_proxy_app(deps, client)


def _storage(c: Any) -> tuple[Any, Any, Any]:
    """(record, batch, armed) for the proxy: batched writes and the firewall probe on SQLite.

    The recording use cases are the container's, re-pointed at the batch's units of work (so
    the writer thread records a whole burst in one transaction). With another storage (tests'
    in-memory fakes) records go one by one and the guard is always asked.
    """
    import contextlib

    from costhq.adapters.persistence.apsw_proxy import ApswBatch, ApswFirewallArming
    from costhq.adapters.persistence.apsw_uow import ApswUnitOfWork
    from costhq.application.proxy import ObserveProxyCall

    record, batch, armed = c.record_proxy_usage(), contextlib.nullcontext, lambda: True
    observe = ObserveProxyCall(c.uow(), c.clock())
    if isinstance(c.uow()(), ApswUnitOfWork):
        db = str(c.settings().db_path)
        box = ApswBatch(db, audit_key=c.audit_key())
        record, observe = _repoint(record, box.uow), ObserveProxyCall(box.uow, c.clock())
        batch, armed = box, ApswFirewallArming(db, block_unpriced=c.firewall_policy().block_unpriced)

    def record_one(item: Any) -> Any:
        logged = record(call=item.call, header_session=item.header_session, pinned_session=item.pinned_session,
                        session_id=item.session_id)
        if logged is not None and item.fingerprint:  # the guard was skipped: observe the call now
            observe(session_id=logged.record.session_id, fingerprint=item.fingerprint, at=item.call.timestamp)
        return logged

    return record_one, batch, armed


def _repoint(use_case: Any, uow: Any) -> Any:
    """`use_case` with every `uow` field in it (nested use cases included) replaced by `uow`."""
    if not attrs.has(type(use_case)):
        return use_case
    changes = {}
    for field in attrs.fields(type(use_case)):
        value = getattr(use_case, field.name)
        new = uow if field.name == "uow" else _repoint(value, uow)
        if new is not value:
            changes[field.alias] = new
    return attrs.evolve(use_case, **changes) if changes else use_case


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
    """A uvicorn server for `app` (httptools/uvloop are used when installed)."""
    import sys

    import uvicorn

    # The usage writer thread is CPU-bound while recording; a short GIL switch interval keeps it
    # from starving the event loop (measured: p99 at concurrency 32, bench/proxy_overhead.py).
    sys.setswitchinterval(0.0005)

    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="on",
                            timeout_keep_alive=30, server_header=False, date_header=False, backlog=2048)
    return uvicorn.Server(config)


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
