"""Issue 16, items 5 and 6 with real proxies: two `cs proxy start` processes, each with its own data
dir and machine name (two machines), on one team database, against one tiny project budget.

Both machines work in the same project path (`/repo` on each laptop; here one temp repo), each in
its own session. 20 concurrent calls go through EACH proxy (the real `openai` SDK) to the gated
fake upstream, which holds every call until all 40 are decided, so the number admitted is exact.

Figures (gpt-4o: $2.50 in, $1.25 cached, $10 out per 1M):
- expected cost of a never-seen call with `max_tokens` 1000 (docs/firewall.md): 12 input tokens
  (the 47 bytes of the body's keys and strings) + min(1000, 4,096) output = $0.00003 + $0.01 = $0.01003;
- the upstream bills more than that: 1,000 input + 200 cached + 900 output = $0.01175 a call
  (a shortfall of $0.00172 per call);
- project budget $0.10 (block): 9 reservations fit ($0.09027), the 10th would pass it. The 9
  admitted calls spend $0.10575: $0.00575 past the limit, within the bound of docs/firewall.md
  (the shortfalls of the calls in flight at the last admission: 9 x $0.00172 = $0.01548).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openai
import psycopg
import pytest

from costhq.adapters.persistence.postgres.schema import CURRENT_VERSION
from tests.e2e.cli_runner import Cs, make_repo
from tests.e2e.helpers_budget import GatedUpstream
from tests.e2e.helpers_proxy import ServedApp
from tests.e2e.test_proxy_cli import Proxy, free_port

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")

D = Decimal
LIMIT = D("0.10")
EXPECTED, BILLED = D("0.01003"), D("0.01175")
ADMITTED = 9  # int(0.10 / 0.01003)


@pytest.fixture
def gate() -> Iterator[tuple[GatedUpstream, str]]:
    upstream = GatedUpstream()
    upstream.openai_usage = {"prompt_tokens": 1200, "completion_tokens": 900, "total_tokens": 2100,
                             "prompt_tokens_details": {"cached_tokens": 200}}
    with ServedApp(upstream.app) as served:
        yield upstream, served.url
        upstream.release()


def _machine(tmp_path: Path, repo: Path, name: str, url: str, upstream: str) -> Cs:
    data = tmp_path / f"{name}-data"
    data.mkdir()
    (data / "config.toml").write_text(f'[user]\nname = "{name}"\nmachine = "{name}-laptop"\n', encoding="utf-8")
    (tmp_path / f"{name}-home").mkdir()
    return Cs(home=tmp_path / f"{name}-home", data=data, cwd=repo,
              extra_env={"COSTHQ_DATABASE_URL": url, "COSTHQ_OPENAI_UPSTREAM": upstream})


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_two_proxies_on_one_team_database_hold_a_project_budget_and_keep_one_audit_chain(
        tmp_path: Path, pg_url: str, gate: tuple[GatedUpstream, str]) -> None:
    fake, upstream = gate
    repo = tmp_path / "repo"
    repo.mkdir()
    make_repo(repo)
    ann, bob = (_machine(tmp_path, repo, name, pg_url, upstream) for name in ("ann", "bob"))
    sessions = [ann.ok("start", "ann's task")["id"], bob.ok("start", "bob's task")["id"]]
    assert sessions == [1, 2]  # one session per machine in the same project
    ann.ok("budget", "set", "project", str(LIMIT), "--project", ".")
    proxies = [Proxy(cs, free_port()) for cs in (ann, bob)]
    codes: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    try:
        clients = [openai.OpenAI(base_url=f"http://127.0.0.1:{p.port}/openai/v1", api_key="sk-test", max_retries=0)
                   for p in proxies]

        def call(i: int) -> None:
            machine = i % 2
            msg = [{"role": "user", "content": f"q{i:02d}"}]  # distinct prompts: no runaway "identical" trip
            try:
                clients[machine].chat.completions.create(model="gpt-4o", messages=msg, max_tokens=1000)  # type: ignore[arg-type]
                codes.append((machine, 200))
            except openai.APIStatusError as exc:
                fake.note_refused()  # decided: the gate opens once all 40 are
                body = exc.response.json()
                assert (exc.response.headers["x-costhq-error"], body["error"]["code"], body["error"]["type"]) == (
                    "budget_exceeded", "budget_exceeded", "budget_exceeded")
                assert (body["error"]["details"]["scope"], body["error"]["details"]["expected"]) == ("project", 0.01003)
                codes.append((machine, exc.status_code))
            except BaseException as exc:
                errors.append(exc)

        fake.reset()
        threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        assert fake.decided(40)
        fake.release()
        for t in threads:
            t.join(60)
    finally:
        stopped = [p.stop(signal.SIGTERM) for p in proxies]  # drains the usage writer: every call stored
    assert errors == [] and [s[0] for s in stopped] == [0, 0], stopped
    admitted = sorted(m for m, code in codes if code == 200)
    assert (len(codes), len(admitted), sum(1 for _m, c in codes if c == 402)) == (40, ADMITTED, 40 - ADMITTED)
    assert fake.arrived == ADMITTED  # a refused call never reaches the upstream
    # Every admitted call stored exactly once, on its machine's session, priced exactly.
    rows = _rows(pg_url, "SELECT COUNT(*), COUNT(DISTINCT call_key), SUM(cost_units) FROM ai_usage")
    spend = D(int(rows[0][2])) / 10**10
    assert (rows[0][0], rows[0][1], spend) == (ADMITTED, ADMITTED, ADMITTED * BILLED)
    per_session = dict(_rows(pg_url, "SELECT session_id, COUNT(*) FROM ai_usage GROUP BY session_id"))
    assert {sessions[m]: admitted.count(m) for m in (0, 1) if admitted.count(m)} == per_session
    assert _rows(pg_url, "SELECT id, machine, ai_calls FROM sessions ORDER BY id") == [
        (1, "ann-laptop", admitted.count(0)), (2, "bob-laptop", admitted.count(1))]
    # The bound: spend past the limit <= the shortfalls of the calls in flight at the last admission.
    past = spend - LIMIT
    assert (past, ADMITTED * (BILLED - EXPECTED)) == (D("0.00575"), D("0.01548"))
    assert _rows(pg_url, "SELECT COUNT(*) FROM budget_reservations WHERE amount_units > 0") == [(0,)]
    # One valid chain with both proxies writing (item 6): every call and refusal audited.
    verified = bob.ok("audit", "verify")
    events = dict(_rows(pg_url, "SELECT event, COUNT(*) FROM audit_log GROUP BY event"))
    assert events == {"migration": CURRENT_VERSION, "session.start": 2, "budget.set": 1, "usage.logged": ADMITTED,
                      "firewall.block": 40 - ADMITTED}
    assert (verified["ok"], verified["entries"]) == (True, CURRENT_VERSION + 3 + 40)


def test_the_recorder_process_batches_team_writes_and_a_killed_child_loses_and_doubles_nothing(
        tmp_path: Path, pg_url: str) -> None:
    """The proxy's recorder child on PostgreSQL (ADR 0009): calls recorded in batches (one
    transaction each, a savepoint per call), and a child killed while its batch waits for a lock is
    replaced; the batch is rolled back by the server and recorded once by the next child."""
    from costhq.adapters.proxy.server import ProxyThread, bind, proxy_config
    from costhq.bootstrap.main import build_container
    from tests.e2e.helpers_live import wait_for
    from tests.e2e.helpers_proxy import FakeUpstream

    with ServedApp(FakeUpstream().app) as served:
        env = {"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data"), "COSTHQ_OPENAI_UPSTREAM": served.url,
               "COSTHQ_DATABASE_URL": pg_url, "COSTHQ_PROXY_RECORDER": "process"}
        c = build_container(env)
        sid = c.start_session()(name="recorder", cwd=str(tmp_path)).session.id
        sock = bind(0)
        app = c.front_ends().proxy_app(port=sock.getsockname()[1], pinned_session=None,
                                       config=proxy_config(c.settings(), env))
        proxy = ProxyThread(app, sock)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{proxy.port}/openai/v1", api_key="sk-x", max_retries=0)
        proxy.start()
        try:
            recorder = app.state.recorder
            first = recorder.pid
            assert first is not None and first != os.getpid()
            threads = [threading.Thread(target=client.chat.completions.create,
                                        kwargs={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
                       for _ in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert app.state.writer.wait_idle(60)
            assert _rows(pg_url, "SELECT COUNT(*) FROM ai_usage") == [(12,)]
            with psycopg.connect(pg_url) as blocker:  # the child's insert waits for this lock
                blocker.execute("LOCK TABLE ai_usage IN SHARE ROW EXCLUSIVE MODE")
                client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
                wait_for(lambda: recorder.in_flight, what="a batch sent to the child")
                os.kill(first, signal.SIGKILL)
                wait_for(lambda: recorder.pid != first, what="a new recorder child")
            assert app.state.writer.wait_idle(60)
        finally:
            proxy.stop()
    assert recorder.pid is None
    assert _rows(pg_url, "SELECT COUNT(*), COUNT(DISTINCT call_key), SUM(cost_units) FROM ai_usage") == [
        (13, 13, 13 * 57_500_000)]  # 13 x $0.00575, each call once
    assert _rows(pg_url, f"SELECT ai_calls, ai_cost_units FROM sessions WHERE id = {sid}") == [(13, 13 * 57_500_000)]
    assert c.verify_audit()().ok


def test_a_batch_is_one_team_transaction_where_a_failing_call_rolls_back_alone_and_a_replay_is_not_doubled(
        tmp_path: Path, pg_url: str) -> None:
    from datetime import UTC, datetime

    from costhq.adapters.proxy.spool import PendingUsage
    from costhq.application.usage import UsageInput
    from costhq.bootstrap.container import _proxy_storage
    from costhq.bootstrap.main import build_container
    from costhq.domain.errors import CostHQError
    from costhq.domain.identity import Verdict
    from costhq.domain.usage import Origin, TokenCounts

    c = build_container({"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data"), "COSTHQ_DATABASE_URL": pg_url})
    sid = c.start_session()(name="batch", cwd=str(tmp_path)).session.id
    record, batch, _armed, _lookup = _proxy_storage(c)

    def pending(key: str, session_id: int = sid) -> PendingUsage:
        call = UsageInput(provider="openai", model="gpt-4o", tokens=TokenCounts(input=1000, output=100),
                          origin=Origin.PROXY, call_key=key, timestamp=datetime(2026, 12, 4, 9, tzinfo=UTC))
        return PendingUsage(call=call, session_id=session_id)

    out: list[object] = []
    with batch():  # as the writer's `record_batch`, without its time budget
        for item in [pending("proxy:a"), pending("proxy:b", 999), pending("proxy:c"), pending("proxy:a")]:
            try:
                out.append(record(item).identity)
            except CostHQError as exc:  # its savepoint rolled back
                out.append(exc.code)
        # One transaction: another connection sees nothing before its commit.
        assert _rows(pg_url, "SELECT COUNT(*) FROM ai_usage") == [(0,)]
    assert out == [Verdict.NEW, "session_not_found", Verdict.NEW, Verdict.REPLAY]
    # The failed call's savepoint rolled back alone; the replay stored nothing.
    # 1000 x $2.50/M + 100 x $10/M = $0.0035 each
    assert _rows(pg_url, "SELECT COUNT(*), SUM(cost_units) FROM ai_usage") == [(2, 2 * 35_000_000)]
    assert c.verify_audit()().ok
