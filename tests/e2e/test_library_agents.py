"""AgentSession and run_agent_session on a real database, temp repo and real watchers."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from costhq.agents import AgentSession, BudgetExceededError, run_agent_session
from costhq.bootstrap.main import build_container
from costhq.domain.errors import InvalidArgument
from tests.e2e.cli_runner import make_repo
from tests.e2e.helpers_live import wait_for


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COSTHQ_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_log_ai_budget_can_afford_and_summary(work: Path) -> None:
    s = AgentSession("Refactor auth module", budget=5).start()
    # claude-opus-4-6: $5 in / $25 out per 1M
    s.log_ai("anthropic", "claude-opus-4-6", 15000, prompt_tokens=10000, completion_tokens=5000, agent="bot")
    assert (s.spent, s.remaining, s.can_afford(4.825), s.can_afford("4.826")) == (
        Decimal("0.175"), Decimal("4.825"), True, False)
    s.log_ai("openai", "gpt-4o", 50000, 4.80)  # $4.975 of $5: exactly affordable
    with pytest.raises(BudgetExceededError) as err:
        s.log_ai("openai", "gpt-4o", 1000, "0.1")  # stored, and now past the budget
    assert (err.value.spent, err.value.budget, err.value.attempted) == (Decimal("5.075"), Decimal(5), Decimal("0.1"))
    s.note("switching to a cheaper model")
    summary = s.end("done")
    assert (summary.ai_calls, summary.ai_cost, summary.ai_tokens, summary.status, summary.notes) == (
        3, Decimal("5.075"), 66000, "completed", "done")
    assert s.end() is summary  # idempotent


def test_context_manager_records_the_exception_and_ends(work: Path) -> None:
    with pytest.raises(RuntimeError), AgentSession("boom") as s:
        raise RuntimeError("model refused")
    shown = build_container().get_session()(cwd=os.getcwd(), session_id=s.id, detail=True)
    assert shown.session.status.value == "completed"
    assert [a.message for a in shown.annotations] == ["Error: RuntimeError: model refused"]


def test_directory_and_git_watchers_track_files_and_commits(work: Path) -> None:
    repo = make_repo(work, {"src/app.py": "x = 1\n"})
    from tests.e2e.cli_runner import commit_all

    with AgentSession("watch", directory=work / "src", git=True) as s:
        (work / "src" / "new.py").write_text("y = 2\n")
        (work / "outside.txt").write_text("not watched by the file watcher\n")
        wait_for(lambda: s.status().files_changed >= 1, what="file recorded")
        commit_all(repo, "feat: agent commit")
        wait_for(lambda: s.status().commits == 1, what="commit recorded")
    files = build_container().get_session()(cwd=os.getcwd(), session_id=s.id, detail=True).files
    assert ("src/new.py", "created") in [(f.file_path, f.change_type.value) for f in files]


def test_run_agent_session_sync_and_async(work: Path) -> None:
    def job(session: AgentSession) -> None:
        session.log_ai("anthropic", "claude-opus-4-6", 3000, prompt_tokens=2000, completion_tokens=1000)

    summary = run_agent_session("sync", {"budget": 3}, job)
    assert (summary.ai_cost, summary.status) == (Decimal("0.035"), "completed")

    async def ajob(session: AgentSession) -> None:
        session.log_ai("openai", "gpt-4o", 1000, "0.5")

    assert anyio.run(run_agent_session, "async", None, ajob).ai_cost == Decimal("0.5")

    def failing(session: AgentSession) -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError):
        run_agent_session("fails", None, failing)
    assert build_container().list_sessions()(limit=1)[0].status.value == "completed"


def test_lifecycle_edges_and_properties_without_a_budget(work: Path) -> None:
    s = AgentSession("plain")
    with pytest.raises(InvalidArgument, match=r"start\(\) has not been called"):
        s.log_ai("openai", "gpt-4o", 10, "0.01")
    assert s.start() is s.start()  # idempotent: one session
    assert (s.budget, s.remaining, s.can_afford("1000000"), s.spent) == (None, None, True, Decimal(0))
    logged = s.log_ai("openai", "gpt-4o", cost="0.25", prompt_tokens=1000, completion_tokens=10,
                      cache_read_tokens=500, agent="planner")
    assert (logged.record.cost, logged.record.price_source.value, logged.record.agent) == (
        Decimal("0.25"), "manual", "planner")
    live = s.status()
    assert (live.status, live.ai_calls, live.ai_tokens, live.ai_cost, live.budget) == (
        "active", 1, 1510, Decimal("0.25"), None)
    with pytest.raises(InvalidArgument):
        AgentSession("nowhere", directory=work / "missing")
    with pytest.raises(InvalidArgument):
        AgentSession("bad budget", budget="-1")


def test_another_blocking_firewall_rule_raises_budget_exceeded_error_with_its_figures(work: Path) -> None:
    c = build_container()
    rule = c.set_budget()(scope="total", limit=Decimal("0.1"))
    s = AgentSession("under a total budget").start()
    s.log_ai("openai", "gpt-4o", cost="0.06")
    with pytest.raises(BudgetExceededError) as err:
        s.log_ai("openai", "gpt-4o", cost="0.05")
    e = err.value
    assert (e.spent, e.budget, e.attempted, e.details["rule_id"]) == (
        Decimal("0.11"), Decimal("0.1"), Decimal("0.05"), rule.id)
    assert s.end().ai_calls == 2  # the refused call was stored


def test_budget_is_registered_as_a_firewall_rule_for_the_session(work: Path) -> None:
    s = AgentSession("capped", budget="2.5").start()
    rules = build_container().list_budgets()()
    assert [(r.scope.value, r.limit, r.session_id) for r in rules] == [("session", Decimal("2.5"), s.id)]
    s.end()


def test_run_agent_session_with_a_callable_returning_an_awaitable_and_an_async_failure(work: Path) -> None:
    async def work_async(session: AgentSession) -> None:
        session.log_ai("openai", "gpt-4o", cost="0.2")

    summary = anyio.run(lambda: run_agent_session("lambda", None, lambda s: work_async(s)))
    assert (summary.ai_cost, summary.status) == (Decimal("0.2"), "completed")

    async def boom(session: AgentSession) -> None:
        raise RuntimeError("tool failed")

    with pytest.raises(RuntimeError):
        anyio.run(run_agent_session, "async boom", {"budget": 1}, boom)
    last = build_container().list_sessions()(limit=1)[0]
    shown = build_container().get_session()(cwd=os.getcwd(), session_id=last.id, detail=True)
    assert (last.name, last.status.value) == ("async boom", "completed")
    assert [a.message for a in shown.annotations] == ["Error: RuntimeError: tool failed"]
