"""`cs run` end to end: a real child process calls the fake upstream through the in-process proxy.

The child is a small Python script using the real `openai` / `anthropic` SDKs with the base URLs
`cs run` hands it. Costs: gpt-4o chat $0.00575, claude-sonnet-4 message $0.0114 (test_proxy_sdks).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli_runner import CS, Cs
from tests.e2e.helpers_proxy import FakeUpstream, ServedApp

CHILD = """
import json, os, signal, sys
import anthropic, openai
print(json.dumps({k: os.environ.get(k) for k in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "COSTHQ_SESSION_ID")}),
      flush=True)
mode = sys.argv[1]
if mode == "calls":
    openai.OpenAI(api_key="sk-child", max_retries=0).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    anthropic.Anthropic(api_key="sk-child", max_retries=0).messages.create(
        model="claude-sonnet-4", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    sys.exit(3)
if mode == "budget":
    try:
        openai.OpenAI(api_key="sk-child").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=1000)
    except openai.APIStatusError as e:
        print(json.dumps({"status": e.status_code, "error": e.body}), flush=True)
        sys.exit(0)
    sys.exit(1)
if mode == "files":
    with open("notes.txt", "w") as f:
        f.write("written by the agent")
    sys.exit(0)
if mode == "sigint":
    signal.signal(signal.SIGINT, lambda *_: sys.exit(42))
    print("ready", flush=True)
    signal.pause()
"""


@pytest.fixture
def run_env(tmp_path: Path) -> Iterator[tuple[Cs, FakeUpstream, Path]]:
    fake = FakeUpstream()
    with ServedApp(fake.app) as served:
        (tmp_path / "work").mkdir()
        cs = Cs(home=tmp_path, data=tmp_path / "data", cwd=tmp_path / "work",
                extra_env={"COSTHQ_OPENAI_UPSTREAM": served.url, "COSTHQ_ANTHROPIC_UPSTREAM": served.url})
        child = tmp_path / "child.py"
        child.write_text(CHILD)
        yield cs, fake, child


def test_run_gives_the_child_the_proxy_records_its_calls_ends_the_session_and_returns_its_code(
        run_env: tuple[Cs, FakeUpstream, Path]) -> None:
    cs, fake, child = run_env
    r = cs("run", "--name", "agent run", "--json", "--", sys.executable, str(child), "calls")
    assert r.code == 3, r.stderr
    seen, summary = (json.loads(line) for line in r.stdout.splitlines())
    port = seen["OPENAI_BASE_URL"].split(":")[2].split("/")[0]
    assert seen == {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/openai/v1",
                    "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}/anthropic/v1",
                    "COSTHQ_SESSION_ID": str(summary["id"])}
    assert (summary["name"], summary["status"], summary["exitCode"], summary["aiCalls"]) == (
        "agent run", "completed", 3, 2)
    assert summary["aiCost"] == 0.01715 and summary["aiTokens"] == 1500 + 3850
    assert [q["path"] for q in fake.requests] == ["/v1/chat/completions", "/v1/messages"]
    assert [q["headers"]["authorization"] for q in fake.requests] == ["Bearer sk-child"] * 2


def test_run_human_summary_and_resume_records_on_the_same_session(run_env: tuple[Cs, FakeUpstream, Path]) -> None:
    cs, _fake, child = run_env
    sid = cs.ok("start", "long task")["id"]
    r = cs("run", "--resume", "--", sys.executable, str(child), "calls")
    assert r.code == 3, r.stderr
    assert r.stdout.splitlines()[-1].startswith(f"Session #{sid} long task: ")
    assert r.stdout.splitlines()[-1].endswith("2 AI calls • $0.02 AI cost (exit 3)")
    shown = cs.ok("show", str(sid))
    assert (shown["status"], shown["aiCalls"], shown["aiCost"]) == ("completed", 2, 0.01715)


def test_run_budget_is_a_session_budget_enforced_by_the_firewall_with_a_402(
        run_env: tuple[Cs, FakeUpstream, Path]) -> None:
    cs, fake, child = run_env
    r = cs("run", "--budget", "0.001", "--json", "--", sys.executable, str(child), "budget")
    assert r.code == 0, r.stderr
    _seen, refused, summary = (json.loads(line) for line in r.stdout.splitlines())
    assert refused["status"] == 402 and fake.requests == []
    err = refused["error"]
    assert (err["code"], err["type"]) == ("budget_exceeded", "budget_exceeded")
    details = err["details"]
    assert (details["scope"], details["limit"], details["spent"], details["reserved"]) == ("session", 0.001, 0, 0)
    assert details["expected"] > 0.001 and details["ruleId"] == 1
    [rule] = cs.ok("budget", "list")["budgets"]
    assert (rule["scope"], rule["sessionId"], rule["limit"]) == ("session", summary["id"], 0.001)
    assert (summary["aiCalls"], summary["aiCost"]) == (0, 0)


def test_run_passes_ctrl_c_to_the_child_and_exits_with_its_code(run_env: tuple[Cs, FakeUpstream, Path]) -> None:
    cs, _fake, child = run_env
    proc = subprocess.Popen([CS, "run", "--", sys.executable, str(child), "sigint"], cwd=cs.cwd, env=cs.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["COSTHQ_SESSION_ID"]
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 42, err
    assert out.strip().endswith("(exit 42)") and "Traceback" not in err


def test_run_without_a_command_is_a_usage_error(run_env: tuple[Cs, FakeUpstream, Path]) -> None:
    cs, _fake, _child = run_env
    doc = cs.fails("invalid_argument", "run")
    assert doc["error"]["message"] == "Give the command to run after `--`, e.g. `cs run -- claude`"


def test_run_watches_the_childs_files_like_cs_start(run_env: tuple[Cs, FakeUpstream, Path]) -> None:
    cs, _fake, child = run_env  # cwd is outside git: only the watcher can see this file
    r = cs("run", "--name", "writer", "--json", "--", sys.executable, str(child), "files")
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    assert summary["filesChanged"] == 1
    shown = cs.ok("show", str(summary["id"]), "--files")
    assert [(f["filePath"], f["changeType"]) for f in shown["files"]] == [("notes.txt", "created")]


# A stand-in for Codex (0.171.0, read in its source and run against the fake): its built-in `openai`
# provider takes the base URL only from the `openai_base_url` config key (`-c` here), never from
# OPENAI_BASE_URL, tries a Responses WebSocket first and falls back to HTTP streaming on 426.
FAKE_CODEX = """#!{python}
import json, os, sys
import httpx2, openai
args = sys.argv[1:]
base = next((args[i + 1].split("=", 1)[1].strip('"') for i, a in enumerate(args[:-1])
             if a == "-c" and args[i + 1].startswith("openai_base_url=")), None)
print(json.dumps({{"argv": args, "OPENAI_BASE_URL": os.environ.get("OPENAI_BASE_URL")}}), flush=True)
if base is None:
    sys.exit(5)  # the real Codex would call https://api.openai.com/v1: nothing captured
ws = httpx2.get(base + "/responses", headers={{"connection": "Upgrade", "upgrade": "websocket",
                                               "sec-websocket-version": "13", "sec-websocket-key": "S9QU6fMO=="}})
client = openai.OpenAI(base_url=base, api_key="sk-child", max_retries=0)
events = [e.type for e in client.responses.create(model="gpt-4o", input="hi", stream=True)]
print(json.dumps({{"ws": ws.status_code, "last": events[-1]}}), flush=True)
"""


@pytest.fixture
def codex(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "codex"
    path.parent.mkdir()
    path.write_text(FAKE_CODEX.format(python=sys.executable))
    path.chmod(0o755)
    return path


def test_run_points_codex_at_the_proxy_with_its_own_config_override_and_records_its_calls(
        run_env: tuple[Cs, FakeUpstream, Path], codex: Path) -> None:
    cs, fake, _child = run_env
    r = cs("run", "--json", "--", str(codex), "exec", "say hi")
    assert r.code == 0, r.stderr
    seen, outcome, summary = (json.loads(line) for line in r.stdout.splitlines())
    url = seen["OPENAI_BASE_URL"]
    assert seen["argv"] == ["-c", f'openai_base_url="{url}"', "exec", "say hi"]
    assert outcome == {"ws": 426, "last": "response.completed"}
    assert (summary["aiCalls"], summary["aiCost"]) == (1, 0.007)
    assert [q["path"] for q in fake.requests] == ["/v1/responses"]


@pytest.mark.parametrize("how", ["flag", "config"])
def test_run_leaves_a_codex_endpoint_the_user_chose_and_says_so(
        run_env: tuple[Cs, FakeUpstream, Path], codex: Path, how: str) -> None:
    cs, fake, _child = run_env
    args = [str(codex), "exec", "hi"]
    if how == "flag":
        args = [str(codex), "-c", "model_provider=ollama", "exec", "hi"]
        said = "codex already has -c model_provider"
    else:
        (cs.home / ".codex").mkdir()
        (cs.home / ".codex" / "config.toml").write_text('model_provider = "azure"\n')
        said = f"codex already has an endpoint or provider in {cs.home / '.codex' / 'config.toml'}"
    r = cs("run", "--json", "--", *args)
    assert r.code == 5, r.stderr  # the stand-in exits 5 when it would not reach the proxy
    seen, summary = (json.loads(line) for line in r.stdout.splitlines())
    assert seen["argv"] == args[1:] and said in r.stderr
    assert (summary["aiCalls"], fake.requests) == (0, [])
