"""Durability of the library's background writer, in a real child process with the real OpenAI SDK.

- Calls are stored by the writer's timer, without flush() or a session end: a process SIGKILLed
  once its queue is empty has lost nothing.
- A process that just returns after its calls has them stored by the atexit flush.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from costhq.bootstrap.main import build_container
from tests.e2e.helpers_library import CHAT_COST

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import os, signal, sys, time
from costhq.agents import AgentSession
from costhq.adapters.library.writer import WRITER
from costhq.extensions import TrackedOpenAI
from tests.e2e.helpers_library import Recorded, sync_client

session = AgentSession("durable").start()  # also the active session of the cwd
bound = TrackedOpenAI(api_key="k", http_client=sync_client(Recorded()), session=session)
lookup = TrackedOpenAI(api_key="k", http_client=sync_client(Recorded()))
for client in [bound] * 10 + [lookup] * 10:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
print(session.id, flush=True)
if sys.argv[1] == "kill":
    deadline = time.monotonic() + 30
    while WRITER.pending and time.monotonic() < deadline:  # the timer stores them: no flush(), no end()
        time.sleep(0.002)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _run(tmp_path: Path, mode: str) -> tuple[subprocess.CompletedProcess[str], int]:
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "COSTHQ_HOME": str(tmp_path / "data"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("COSTHQ_SESSION_ID", None)
    r = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=work, env=env, capture_output=True, text=True,
                       timeout=120)
    return r, int(r.stdout.split()[0])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COSTHQ_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _stored(sid: int) -> tuple[int, object, int]:
    c = build_container()
    session = c.get_session()(cwd=".", session_id=sid).session
    logged = [e for e in c.read_audit()() if e.event == "usage.logged"]
    return session.ai_calls, session.ai_cost, len(logged)


def test_a_process_killed_once_its_queue_drained_lost_no_call(home: Path) -> None:
    r, sid = _run(home, "kill")
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert _stored(sid) == (20, CHAT_COST * 20, 20)


def test_a_process_that_just_returns_has_its_queued_calls_stored_at_exit(home: Path) -> None:
    r, sid = _run(home, "exit")
    assert r.returncode == 0, r.stderr
    assert "could not record" not in r.stderr
    assert _stored(sid) == (20, CHAT_COST * 20, 20)
