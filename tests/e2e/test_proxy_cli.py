"""`cs proxy start|status` as real subprocesses: start-up lines, /health, graceful stop, crash recovery.

The fake upstream runs in this process; the proxy is the real `cs` with a private COSTHQ_HOME.
Expected cost of one gpt-4o chat call (see test_proxy_sdks): $0.00575.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apsw
import openai
import pytest

from costhq.adapters._shared.version import VERSION
from costhq.adapters.cli.commands_proxy import env_lines
from tests.e2e.cli_runner import CS, Cs
from tests.e2e.helpers_proxy import FakeUpstream, ServedApp
from tests.e2e.test_proxy_sdks import KEY, MSG

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll `check` until it returns a truthy value (condition wait, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        threading.Event().wait(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return dict(json.loads(r.read()))
    except (OSError, urllib.error.URLError):
        return None


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on `port` (Linux /proc/net/tcp{,6})."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                found.append(socket.inet_ntoa(bytes.fromhex(addr)[::-1]) if len(addr) == 8 else addr)
    return found


class Proxy:
    """A `cs proxy start` subprocess."""

    def __init__(self, cs: Cs, port: int, *args: str, shell: str = "/bin/bash") -> None:
        self.port = port
        env = {**cs.env(), "SHELL": shell}
        self.proc = subprocess.Popen([CS, "proxy", "start", "--port", str(port), *args], cwd=cs.cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)  # never block forever on a silent child
        assert ready, "cs proxy start printed nothing"
        self.first = self.proc.stdout.readline()
        wait_for(lambda: health(port), what="proxy /health")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        code = self.proc.wait(60)  # its output is a few lines: the pipes cannot fill up meanwhile
        assert self.proc.stdout is not None and self.proc.stderr is not None
        return code, self.first + self.proc.stdout.read(), self.proc.stderr.read()


@pytest.fixture
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    with ServedApp(fake.app) as served:
        yield fake, served.url
        fake.release.set()


@pytest.fixture
def cs(tmp_path: Path, upstream: tuple[FakeUpstream, str]) -> Cs:
    (tmp_path / "work").mkdir()
    url = upstream[1]
    return Cs(home=tmp_path, data=tmp_path / "data", cwd=tmp_path / "work",
              extra_env={"COSTHQ_OPENAI_UPSTREAM": url, "COSTHQ_ANTHROPIC_UPSTREAM": url})


def oa(port: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/openai/v1", api_key=KEY, max_retries=0)


def test_start_json_prints_one_exact_line_and_status_reads_pid_file_and_health(cs: Cs) -> None:
    port = free_port()
    proxy = Proxy(cs, port, "--json")
    try:
        doc = json.loads(proxy.first)
        assert doc == {"schemaVersion": 1, "costhqVersion": VERSION, "url": f"http://127.0.0.1:{port}", "port": port,
                       "pid": proxy.proc.pid, "env": {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}/anthropic/v1",
                                                      "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/openai/v1"}}
        assert (cs.data / f"proxy-{port}.pid").read_text().strip() == str(proxy.proc.pid)
        assert listening_addresses(port) == ["127.0.0.1"]
        status = cs.ok("proxy", "status", "--port", str(port))
        assert (status["running"], status["pid"], status["port"]) == (True, proxy.proc.pid, port)
        h = status["health"]
        assert sorted(h) == ["pinnedSession", "port", "requests", "session", "status", "upstreams", "uptime",
                                 "version"]
        assert (h["status"], h["version"], h["port"], h["session"]) == ("ok", VERSION, port, None)
        assert h["uptime"] >= 0 and set(h["upstreams"]) == {"anthropic", "openai"}
    finally:
        code, out, err = proxy.stop()
    assert (code, out.count("\n"), "Traceback" not in err) == (0, 1, True)
    assert not (cs.data / f"proxy-{port}.pid").exists()
    doc = cs.fails("proxy_not_running", "proxy", "status", "--port", str(port))
    assert doc["error"]["message"] == f"No CostHQ proxy answers on 127.0.0.1:{port}"


@pytest.mark.parametrize(("shell", "lines"), [
    ("/bin/bash", ["export ANTHROPIC_BASE_URL=http://127.0.0.1:{p}/anthropic/v1",
                   "export OPENAI_BASE_URL=http://127.0.0.1:{p}/openai/v1"]),
    ("/usr/bin/fish", ["set -x ANTHROPIC_BASE_URL http://127.0.0.1:{p}/anthropic/v1",
                       "set -x OPENAI_BASE_URL http://127.0.0.1:{p}/openai/v1"]),
])
def test_start_prints_the_env_lines_for_the_users_shell(cs: Cs, shell: str, lines: list[str]) -> None:
    port = free_port()
    proxy = Proxy(cs, port, shell=shell)
    code, out, _err = proxy.stop(signal.SIGINT)
    assert code == 0
    assert out.splitlines() == [f"CostHQ proxy listening on http://127.0.0.1:{port} (Ctrl-C to stop)",
                                "Point your tools at it:", *(f"  {line.format(p=port)}" for line in lines)]


def test_env_lines_for_windows_shells() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:3739/openai/v1"}
    assert env_lines(env, os_name="nt", environ={}) == ['$env:OPENAI_BASE_URL="http://127.0.0.1:3739/openai/v1"']
    assert env_lines(env, os_name="nt", environ={"PROMPT": "$P$G"}) == [
        "set OPENAI_BASE_URL=http://127.0.0.1:3739/openai/v1"]


def test_health_names_the_most_recently_active_of_several_sessions(cs: Cs, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    older = cs.ok("start", "older task", cwd=tmp_path / "a")["id"]
    cs.ok("start", "newer task", cwd=tmp_path / "b")
    cs.ok("log-ai", "-p", "openai", "-m", "gpt-4o", "--prompt-tokens", "1000", "--completion-tokens", "0",
          "-s", str(older))
    port = free_port()
    proxy = Proxy(cs, port)
    try:
        assert health(port)["session"] == {"id": older, "name": "older task", "aiCost": 0.0025,  # type: ignore[index]
                                           "aiTokens": 1000}
        oa(port).chat.completions.create(model="gpt-4o", messages=MSG)
        got = wait_for(lambda: (h := health(port)) and h["session"]["aiTokens"] == 2500 and h, what="usage")
        assert got["session"]["aiCost"] == 0.00825
    finally:
        assert proxy.stop()[0] == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_accepting_finishes_the_in_flight_stream_and_records_it(
        cs: Cs, upstream: tuple[FakeUpstream, str], sig: int) -> None:
    fake, _url = upstream
    session = cs.ok("start", "graceful")["id"]
    port = free_port()
    proxy = Proxy(cs, port)
    client = oa(port)
    stream = client.chat.completions.create(model="hold-gpt", messages=MSG, stream=True)
    first = next(iter(stream))  # the stream is in flight; its last event waits for `release`
    proxy.proc.send_signal(sig)
    wait_for(lambda: refused(port), what="the listening socket to close")
    fake.release.set()
    rest = list(stream)
    assert [c.choices[0].delta.content for c in [first, *rest]] == ["", "Hel", "lo", None]
    code = proxy.proc.wait(60)
    assert code == 0
    [row] = cs.ok("show", str(session))["aiUsage"]
    assert (row["stream"], row["partial"], row["cost"]) == (True, False, 0.00575)


def test_a_killed_proxy_loses_no_usage_the_next_start_replays_its_spool(
        cs: Cs, upstream: tuple[FakeUpstream, str]) -> None:
    session = cs.ok("start", "crash")["id"]
    port = free_port()
    proxy = Proxy(cs, port)
    # Hold SQLite's write lock from here, so the proxy's writer cannot commit anything: every
    # answered call then lives only in the proxy's spool when the proxy is killed.
    blocker = apsw.Connection(str(cs.data / "sessions.db"))
    blocker.execute("BEGIN IMMEDIATE")
    try:
        client = oa(port)
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o", messages=MSG)
        list(client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True))
        proxy.proc.kill()
        assert proxy.proc.wait(30) == -signal.SIGKILL
        spools = list(cs.data.glob("proxy-spool-*.jsonl"))
        assert sum(len(p.read_bytes().splitlines()) for p in spools) == 4
        for path in cs.data.rglob("*"):  # the spool holds usage only: never the key, never a body
            if path.is_file() and path != cs.data / "sessions.db":
                assert KEY.encode() not in path.read_bytes() and b"Hello" not in path.read_bytes(), path
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert cs.ok("show", str(session))["aiCalls"] == 0
    again = Proxy(cs, free_port())
    try:
        shown = wait_for(lambda: (s := cs.ok("show", str(session)))["aiCalls"] == 4 and s, what="replay")
        assert shown["aiCost"] == 0.023 and shown["aiTokens"] == 6000
        wait_for(lambda: not list(cs.data.glob("proxy-spool-*-replay-*.jsonl")), what="replayed spool removed")
    finally:
        assert again.stop()[0] == 0
    assert cs.ok("show", str(session))["aiCalls"] == 4  # replay is idempotent: nothing counted twice
    for path in cs.data.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_start_refuses_a_taken_port_and_an_unknown_session_with_json_errors(cs: Cs) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        doc = cs.fails("port_in_use", "proxy", "start", "--port", str(port))
    assert doc["error"]["message"].startswith(f"Port {port} on 127.0.0.1 is in use")
    cs.fails("session_not_found", "proxy", "start", "--port", str(free_port()), "--session", "999")
    assert not list(cs.data.glob("proxy-*.pid"))
