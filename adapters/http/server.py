"""Serving the dashboard with uvicorn in the foreground (`cs dashboard`).

Port safety (spec): a pid file `dashboard-<port>.pid` in the data dir; on restart only the
process it names is stopped, and only when that process is still a `cs dashboard` — never
whatever else holds the port.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from costhq.domain.errors import CostHQError, InvalidArgument

API_VERSION = 1


class PortInUse(CostHQError):
    """The dashboard port is held by another program (which we never stop)."""

    code = "port_in_use"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part for part in raw.decode(errors="replace").split("\0") if part]


def is_our_dashboard(pid: int) -> bool:
    """True when `pid` runs `cs dashboard` / `costhq dashboard` (checked on the command line)."""
    args = _cmdline(pid)
    names = {Path(a).name for a in args[:3]}
    return "dashboard" in args and bool(names & {"cs", "costhq"} or any("costhq" in a for a in args[:3]))


def stop_stale(pid_file: Path, *, timeout: float = 5.0) -> int | None:
    """Stop the dashboard named by `pid_file` if it is still ours; returns the pid stopped."""
    try:
        pid = int(json.loads(pid_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        pid_file.unlink(missing_ok=True)
        return None
    if pid == os.getpid() or not is_our_dashboard(pid):
        pid_file.unlink(missing_ok=True)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and is_our_dashboard(pid):
        time.sleep(0.05)  # polling a process's exit: there is no portable wait for a non-child
    pid_file.unlink(missing_ok=True)
    return pid


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _url(host: str, port: int) -> str:
    shown = "localhost" if host in ("127.0.0.1", "localhost") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}"


@attrs.frozen
class DashboardServer:
    """The dashboard app (built by bootstrap) served on `host:port` until interrupted.

    `deps` carries the security settings (token when not on loopback); `make_app(deps)` builds it.
    """

    deps: Any
    make_app: Callable[[Any], Any]
    host: str
    port: int
    data_dir: Path

    def serve(self, *, open_browser: bool, announce: Callable[[dict[str, Any]], None]) -> int:
        """Check the port, write the pid file, `announce(info)`, serve (the pid file lives as long)."""
        import uvicorn

        host, port = self.host, self.port
        if not 0 < port < 65536:
            raise InvalidArgument("--port must be between 1 and 65535")
        pid_file = self.data_dir / f"dashboard-{port}.pid"
        if pid_file.exists():
            stop_stale(pid_file)
        if not port_free(host, port):
            raise PortInUse(f"Port {port} is in use by another program; choose another with --port", port=port)
        token = self.deps.security.api_token
        url = _url(host, port)
        if token:
            sys.stderr.write(
                "\n" + "!" * 72 + f"\n  WARNING: the dashboard is exposed on {host}:{port} — anyone on your network\n"
                "  can reach it. Every API call needs this token (keep it secret):\n"
                f"    {token}\n  Open: {url}/?token={token}\n" + "!" * 72 + "\n\n"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(json.dumps({"pid": os.getpid(), "port": port, "host": host}))
        info: dict[str, Any] = {"url": url, "port": port, "pid": os.getpid(), "host": host, "apiVersion": API_VERSION}
        if token:
            info["token"] = token
        announce(info)
        server = uvicorn.Server(uvicorn.Config(self.make_app(self.deps), host=host, port=port, log_level="warning",
                                               timeout_graceful_shutdown=2, access_log=False))
        if open_browser:
            threading.Thread(target=_open_when_up, args=(server, f"{url}/" + (f"?token={token}" if token else "")),
                             daemon=True).start()
        try:
            server.run()
        finally:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if json.loads(pid_file.read_text())["pid"] == os.getpid():
                    pid_file.unlink()
        return 0


def _open_when_up(server: Any, url: str) -> None:
    import webbrowser

    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if server.started:
        webbrowser.open(url)
