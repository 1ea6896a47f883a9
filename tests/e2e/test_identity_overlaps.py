"""Every call counted exactly once, whichever way it arrives (issue 17; docs/identity.md).

Each test lets two paths see the same calls, as a user's set-up would, and counts the rows on the
real SQLite file. Agents are stood in for by a child process of the real `cs run` that calls the
fake upstream through the proxy with the real SDKs and then writes the log its agent would
(a Claude Code transcript from tests/fixtures, a Codex rollout), with the ids the upstream gave.
Costs (test_proxy_sdks): claude-sonnet-4 message $0.0114; gpt-4o Responses call (600 + 400
cached + 500 out) $0.0070; gpt-4o chat $0.00575.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from tests.e2e.cli_runner import Cs
from tests.e2e.helpers_proxy import FakeUpstream, ServedApp

FIXTURE = Path(__file__).parent.parent / "fixtures" / "claude_code" / "session.jsonl"
CHILD = r"""
import datetime, json, os, pathlib, sys
import anthropic, openai

mode, home, here = sys.argv[1], pathlib.Path(os.environ["HOME"]), os.getcwd()
MSG = [{"role": "user", "content": "hi"}]


def now():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write(path, docs):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))


if mode == "claude":  # Claude Code: two calls, then its transcript with the ids the API gave
    client = anthropic.Anthropic(api_key="sk-child", max_retries=0)
    first = client.messages.create(model="claude-sonnet-4", max_tokens=100, messages=MSG)
    with client.messages.stream(model="claude-sonnet-4", max_tokens=100, messages=MSG) as s:
        second, second_rid = s.get_final_message(), s.response.headers["request-id"]
    text = pathlib.Path(sys.argv[2]).read_text()
    for old, new in {"msg_01A": first.id, "req_011CA": first._request_id, "msg_01B": second.id,
                     "req_011CB": second_rid}.items():
        text = text.replace(old, new)
    write(home / ".claude/projects/-work/session.jsonl",
          [{**json.loads(line), "timestamp": now(), "cwd": here} for line in text.splitlines()])
elif mode == "codex":  # Codex: two Responses calls, then its rollout (usage only: no upstream ids)
    client = openai.OpenAI(api_key="sk-child", max_retries=0)
    done = [client.responses.create(model="gpt-4o", input="hi").usage]
    done += [e.response.usage for e in client.responses.create(model="gpt-4o", input="hi", stream=True)
             if e.type == "response.completed"]
    docs = [{"timestamp": now(), "type": "session_meta", "payload": {"id": "abc", "cwd": here}},
            {"timestamp": now(), "type": "turn_context", "payload": {"model": "gpt-4o", "cwd": here}}]
    total = [0, 0, 0, 0]
    for u in done:
        last = [u.input_tokens, u.input_tokens_details.cached_tokens, u.output_tokens,
                u.output_tokens_details.reasoning_tokens]
        total = [a + b for a, b in zip(total, last)]
        shape = lambda v: {"input_tokens": v[0], "cached_input_tokens": v[1], "output_tokens": v[2],
                           "reasoning_output_tokens": v[3], "total_tokens": v[0] + v[2]}
        docs.append({"timestamp": now(), "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": shape(total), "last_token_usage": shape(last), "model_context_window": 272000}}})
    write(home / ".codex/sessions/2026/11/20/rollout-2026-11-20T10-00-00-abc.jsonl", docs)
elif mode == "tracked":  # the library's tracked clients, inside `cs run`: their base URLs are the proxy
    from costhq.extensions import TrackedAnthropic, TrackedOpenAI, flush

    gpt = TrackedOpenAI(api_key="sk-child", max_retries=0)
    gpt.chat.completions.create(model="gpt-4o", messages=MSG)
    for _ in gpt.chat.completions.create(model="gpt-4o", messages=MSG, stream=True):
        pass
    TrackedAnthropic(api_key="sk-child", max_retries=0).messages.create(
        model="claude-sonnet-4", max_tokens=100, messages=MSG)
    assert flush(30)
"""


@pytest.fixture
def run(tmp_path: Path) -> Iterator[tuple[Cs, Path]]:
    fake = FakeUpstream()
    with ServedApp(fake.app) as served:
        (tmp_path / "work").mkdir()
        cs = Cs(home=tmp_path, data=tmp_path / "data", cwd=tmp_path / "work",
                extra_env={"COSTHQ_OPENAI_UPSTREAM": served.url, "COSTHQ_ANTHROPIC_UPSTREAM": served.url})
        child = tmp_path / "child.py"
        child.write_text(CHILD)
        yield cs, child


def _agent_run(cs: Cs, child: Path, mode: str) -> dict:
    r = cs("run", "--name", mode, "--json", "--", sys.executable, str(child), mode, str(FIXTURE))
    assert r.code == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def _rows(cs: Cs) -> list[tuple]:
    """Every usage row on the real SQLite file."""
    conn = apsw.Connection(str(cs.data / "sessions.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return conn.execute("SELECT session_id, origin, call_key, upstream_request_id, response_id, cost_units"
                            " FROM ai_usage ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("attach", [False, True])
def test_claude_code_through_cs_run_then_imported_counts_each_call_once(
        run: tuple[Cs, Path], attach: bool) -> None:
    cs, child = run
    summary = _agent_run(cs, child, "claude")
    assert (summary["aiCalls"], summary["aiCost"]) == (2, 0.0228)
    out = cs.ok("import", "claude-code", *(["--attach"] if attach else []))
    assert (out["imported"], out["skipped"], out["alreadyCaptured"], out["duplicateLines"]) == (0, 2, 2, 4)
    rows = _rows(cs)
    assert len(rows) == 2 and {r[1] for r in rows} == {"proxy"} and {r[0] for r in rows} == {summary["id"]}
    assert all(r[2].startswith("proxy:") and r[3].startswith("req_") and r[4].startswith("msg_") for r in rows)
    again = cs.ok("import", "claude-code", *(["--attach"] if attach else []))
    assert (again["imported"], again["skipped"], again["alreadyCaptured"]) == (0, 2, 0)  # now plain replays
    assert len(_rows(cs)) == 2 and cs.ok("show", str(summary["id"]))["aiCost"] == 0.0228


def test_codex_through_cs_run_then_imported_counts_each_call_once(run: tuple[Cs, Path]) -> None:
    """Rollouts carry no upstream ids: the two calls (identical usage) meet the proxy's records by
    token classes and time, one record each."""
    cs, child = run
    summary = _agent_run(cs, child, "codex")
    assert (summary["aiCalls"], summary["aiCost"]) == (2, 0.014)
    out = cs.ok("import", "codex")
    assert (out["imported"], out["skipped"], out["alreadyCaptured"]) == (0, 2, 2)
    assert len(_rows(cs)) == 2
    assert cs.ok("import", "codex")["imported"] == 0 and len(_rows(cs)) == 2


def test_tracked_clients_behind_the_proxy_link_to_its_records(run: tuple[Cs, Path]) -> None:
    cs, child = run
    summary = _agent_run(cs, child, "tracked")
    rows = _rows(cs)
    assert len(rows) == 3 and all(r[2].startswith("proxy:") for r in rows)
    assert sum(r[5] for r in rows) == 2 * 57_500_000 + 114_000_000  # $0.00575 x 2 + $0.0114, in 1e-10 USD
    assert cs.ok("show", str(summary["id"]))["aiCalls"] == 3


def test_an_agent_log_imported_before_the_proxy_records_still_meets_it(run: tuple[Cs, Path]) -> None:
    """The order does not matter: a transcript imported first, then the proxy's (late) records."""
    cs, child = run
    _agent_run(cs, child, "claude")
    conn = apsw.Connection(str(cs.data / "sessions.db"))
    columns = [r[1] for r in conn.execute("PRAGMA table_info(ai_usage)")]
    kept = conn.execute("SELECT * FROM ai_usage ORDER BY id").fetchall()
    conn.execute("DELETE FROM ai_usage")  # as if the proxy's writer had not committed yet
    conn.close()
    assert cs.ok("import", "claude-code")["imported"] == 2
    from costhq.application.usage import UsageInput
    from costhq.bootstrap.main import build_container
    from costhq.domain.usage import Origin, TokenCounts

    c = build_container({"HOME": str(cs.home), "COSTHQ_HOME": str(cs.data)})
    record = c.record_proxy_usage()
    for row in kept:
        r = dict(zip(columns, row, strict=True))
        logged = record(call=UsageInput(
            provider=r["provider"], model=r["model"], origin=Origin.PROXY, call_key=r["call_key"],
            upstream_request_id=r["upstream_request_id"], response_id=r["response_id"],
            tokens=TokenCounts(input=r["input_tokens"], cache_read=r["cache_read_tokens"],
                               cache_write_5m=r["cache_write_5m_tokens"], cache_write_1h=r["cache_write_1h_tokens"],
                               output=r["output_tokens"])), session_id=r["session_id"])
        assert logged is not None and logged.identity.value == "seen" and logged.record.origin is Origin.IMPORT
    assert [r[1] for r in _rows(cs)] == ["import", "import"]


class Proxy:
    """The real proxy app on a port, over the real SQLite file, in front of a fake upstream."""

    def __init__(self, tmp: Path, upstream: str) -> None:
        from costhq.adapters.proxy.server import ProxyThread, bind, proxy_config
        from costhq.bootstrap.main import build_container

        env = {"HOME": str(tmp), "COSTHQ_HOME": str(tmp / "data"), "COSTHQ_OPENAI_UPSTREAM": upstream,
               "COSTHQ_ANTHROPIC_UPSTREAM": upstream}
        self.c, self.data = build_container(env), tmp / "data"
        self.session = self.c.start_session()(name="proxied", cwd=str(tmp), resume=True).session.id
        sock = bind(0)
        self.app = self.c.front_ends().proxy_app(port=sock.getsockname()[1], pinned_session=self.session,
                                                 config=proxy_config(self.c.settings(), env))
        self.thread = ProxyThread(self.app, sock).start()
        self.url = f"http://127.0.0.1:{self.thread.port}"

    def stop(self) -> None:
        assert self.app.state.writer.wait_idle(10)
        self.thread.stop()

    def rows(self) -> list[tuple]:
        return _rows(Cs(home=self.data.parent, data=self.data, cwd=self.data.parent))


@pytest.fixture
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    with ServedApp(fake.app) as served:
        yield fake, served.url


def test_two_proxy_calls_answered_with_the_same_ids_are_two_records(
        tmp_path: Path, upstream: tuple[FakeUpstream, str], caplog: pytest.LogCaptureFixture) -> None:
    """OpenAI-compatible servers and gateways repeat ids (`chatcmpl-123`, `req_same`): nothing is dropped,
    and no SQL error is logged."""
    import anthropic
    import openai

    upstream[0].extra_headers = {"x-request-id": "req_same", "request-id": "req_same"}
    proxy = Proxy(tmp_path, upstream[1])
    try:
        gpt = openai.OpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk", max_retries=0)
        claude = anthropic.Anthropic(base_url=f"{proxy.url}/anthropic", api_key="sk", max_retries=0)
        answers = [gpt.chat.completions.create(model="sameid-gpt", messages=[{"role": "user", "content": "hi"}])
                   for _ in range(2)]
        answers += [claude.messages.create(model="sameid-claude", max_tokens=5,
                                           messages=[{"role": "user", "content": "hi"}]) for _ in range(2)]
    finally:
        proxy.stop()
    assert [a.id for a in answers] == ["chatcmpl-123", "chatcmpl-123", "msg_123", "msg_123"]
    rows = proxy.rows()
    assert [(r[3], r[4]) for r in rows] == [("req_same", "chatcmpl-123")] * 2 + [("req_same", "msg_123")] * 2
    assert len({r[2] for r in rows}) == 4
    assert not [r for r in caplog.records if "UNIQUE" in r.getMessage() or "Conflict" in r.getMessage()]


def test_a_spool_replayed_after_a_crash_adds_nothing(tmp_path: Path, upstream: tuple[FakeUpstream, str]) -> None:
    """A proxy died after committing its calls but before deleting its spool: the next start replays
    the spool (twice over, here) and every line is a replay of a stored key."""
    import openai

    from costhq.adapters.proxy.converter import make_converter
    from costhq.application.usage import UsageInput
    from costhq.domain.usage import Origin

    first = Proxy(tmp_path, upstream[1])
    try:
        openai.OpenAI(base_url=f"{first.url}/openai/v1", api_key="sk", max_retries=0).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    finally:
        first.stop()
    [(sid, _origin, key, rid, resp, _cost)] = first.rows()
    with first.c.uow()() as uow:
        stored = uow.usage.for_session(sid)[0]
    call = UsageInput(provider="openai", model="gpt-4o", tokens=stored.tokens, origin=Origin.PROXY, call_key=key,
                      upstream_request_id=rid, response_id=resp, timestamp=stored.timestamp)
    line = json.dumps({"call": make_converter().unstructure(call), "header": None, "pinned": sid, "session": None})
    spool = first.data / "proxy-spool-4206604-0.jsonl"  # a pid above pid_max's default: a dead process
    spool.write_text(f"{line}\n{line}\n")
    second = Proxy(tmp_path, upstream[1])
    second.stop()
    assert len(second.rows()) == 1 and list(first.data.glob("proxy-spool-*")) == []


def test_a_tracked_client_links_to_the_record_named_by_x_costhq_call(
        tmp_path: Path, upstream: tuple[FakeUpstream, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Any proxy in front that names its record (`x-costhq-call`) makes the tracked call the same call,
    whichever of the two is stored first."""
    from costhq.application.usage import UsageInput
    from costhq.bootstrap.main import build_container
    from costhq.domain.usage import Origin, TokenCounts
    from costhq.extensions import TrackedOpenAI, flush

    fake, url = upstream
    monkeypatch.setenv("COSTHQ_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    c = build_container({"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")})
    sid = c.start_session()(name="linked", cwd=str(tmp_path)).session.id
    proxy_record = c.record_proxy_usage()
    chat = TokenCounts(input=1000, cache_read=200, output=300)

    def proxy_saw(key: str) -> None:
        proxy_record(call=UsageInput(provider="openai", model="gpt-4o", tokens=chat, origin=Origin.PROXY,
                                     call_key=key), session_id=sid)

    client = TrackedOpenAI(base_url=f"{url}/v1", api_key="sk", max_retries=0, session=sid)
    proxy_saw("proxy:first")  # the proxy stored it first
    fake.extra_headers = {"x-costhq-call": "proxy:first"}
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert flush(30)
    fake.extra_headers = {"x-costhq-call": "proxy:second"}  # the library stores it first this time
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert flush(30)
    proxy_saw("proxy:second")
    rows = _rows(Cs(home=tmp_path, data=tmp_path / "data", cwd=tmp_path))
    assert [(r[1], r[2]) for r in rows] == [("proxy", "proxy:first"), ("library", "proxy:second")]
    assert c.get_session()(cwd=str(tmp_path), session_id=sid).session.ai_calls == 2
