"""AgentSession and run_agent_session on a real database, temp repo and real watchers."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from costhq.agents import AgentSession, BudgetExceededError, run_agent_session
from costhq.bootstrap.main import build_container
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
