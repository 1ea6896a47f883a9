"""`cs dashboard` and `cs card` end to end: the real `cs` in a subprocess with a private COSTHQ_HOME."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli_runner import CS, Cs
from tests.e2e.helpers_dashboard import free_port


@pytest.fixture
def cs(tmp_path: Path) -> Cs:
    (tmp_path / "work").mkdir()
    return Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=tmp_path / "work")


class Dashboard:
    def __init__(self, cs: Cs, *args: str) -> None:
        self.proc = subprocess.Popen(
            [CS, "dashboard", "--no-open", "--json", *args],
            cwd=cs.cwd,
            env=cs.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.info = json.loads(self.proc.stdout.readline())

    def wait_up(self) -> None:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(self.info["url"].replace("localhost", "127.0.0.1") + "/favicon.ico", timeout=1)
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline and self.proc.poll() is None, self.proc.stderr.read()  # type: ignore[union-attr]
                time.sleep(0.05)  # polling until the socket accepts

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=15)
        return err


@pytest.fixture
def started(cs: Cs) -> Iterator[tuple[Cs, Dashboard]]:
    port = free_port()
    d = Dashboard(cs, "--port", str(port))
    d.wait_up()
    yield cs, d
    d.stop()


def test_dashboard_json_startup_line_pid_file_and_api(started: tuple[Cs, Dashboard]) -> None:
    cs, d = started
    port = d.info["port"]
    assert d.info == {
        "schemaVersion": 1,
        "costhqVersion": d.info["costhqVersion"],
        "url": f"http://localhost:{port}",
        "port": port,
        "pid": d.proc.pid,
        "host": "127.0.0.1",
        "apiVersion": 1,
    }
    assert json.loads((cs.data / f"dashboard-{port}.pid").read_text())["pid"] == d.proc.pid
    cs.ok("start", "demo")
    cs.ok("log-ai", "-p", "openai", "-m", "gpt-4o", "-t", "100", "-c", "0.25")
    base = f"http://127.0.0.1:{port}"
    r = httpx.get(base + "/api/v1/stats")
    assert r.headers["x-costhq-api-version"] == "1" and r.json()["totalAiCost"] == 0.25
    csrf = httpx.get(base + "/api/v1/csrf").json()["csrfToken"]
    hdr = {"X-CSRF-Token": csrf, "Origin": base}
    assert httpx.post(base + "/api/v1/alerts", json={"scope": "total", "limit": 0.1}, headers=hdr).status_code == 201
    assert httpx.get(base + "/api/v1/alerts").json()["rules"][0]["exceeded"] is True
    assert httpx.post(base + "/api/v1/reset", json={"confirm": "RESET"}, headers={"Origin": base}).status_code == 403
    deleted = httpx.post(base + "/api/v1/reset", json={"confirm": "RESET"}, headers=hdr).json()["deleted"]
    assert (deleted["sessions"], deleted["aiUsage"], deleted["alertThresholds"]) == (1, 1, 1)
    assert cs.ok("stats")["totalSessions"] == 0
    last = cs.ok("audit", "log", "-l", "1")["entries"][-1]  # Start Fresh is itself an audited change
    assert (last["event"], last["actor"], last["payload"]["sessions"], last["payload"]["aiUsage"]) == (
        "data.reset", "http", 1, 1)
    assert cs.ok("audit", "verify")["ok"] is True


def test_restart_stops_only_the_stale_dashboard_named_in_the_pid_file(started: tuple[Cs, Dashboard]) -> None:
    cs, old = started
    new = Dashboard(cs, "--port", str(old.info["port"]))
    try:
        new.wait_up()
        assert old.proc.wait(timeout=10) is not None
        assert json.loads((cs.data / f"dashboard-{old.info['port']}.pid").read_text())["pid"] == new.proc.pid
    finally:
        new.stop()
    assert not (cs.data / f"dashboard-{old.info['port']}.pid").exists()


def test_a_foreign_program_on_the_port_is_never_killed(cs: Cs) -> None:
    port = free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen()
    other = subprocess.Popen(["sleep", "30"])
    cs.data.mkdir(parents=True)
    (cs.data / f"dashboard-{port}.pid").write_text(json.dumps({"pid": other.pid, "port": port}))
    try:
        err = cs.fails("port_in_use", "dashboard", "--no-open", "--port", str(port))
        assert "in use" in err["error"]["message"]
        assert other.poll() is None  # a pid file naming a non-dashboard process is ignored
    finally:
        other.kill()
        other.wait()
        holder.close()


def test_remote_bind_warns_loudly_and_prints_the_token(cs: Cs) -> None:
    port = free_port()
    d = Dashboard(cs, "--port", str(port), "--host", "0.0.0.0")
    try:
        d.wait_up()
        token = d.info["token"]
        assert d.info["host"] == "0.0.0.0" and len(token) >= 32
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/api/v1/stats").status_code == 401
        assert httpx.get(base + "/api/v1/stats", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert token not in httpx.get(base + "/").text
    finally:
        err = d.stop()
    assert "WARNING" in err and token in err


def test_card_writes_a_png(cs: Cs) -> None:
    cs.ok("start", "demo")
    cs.ok("log-ai", "-p", "openai", "-m", "gpt-4o", "-t", "100", "-c", "1.5")
    out = cs.cwd / "card.png"
    doc = cs.ok("card", "--period", "year", "--output", str(out))
    assert (doc["period"], doc["sessions"], doc["aiCost"]) == ("year", 1, 1.5)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        cs.fails("invalid_argument", "card", "--period", "decade")["error"]["message"]
        == "period must be month, year or all"
    )
    assert os.path.getsize(out) > 10_000
