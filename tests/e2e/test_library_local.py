"""The library's `log_ai(..., duration=...)` prices a registered local model by compute time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from costhq.agents import AgentSession, BudgetExceededError
from costhq.bootstrap.main import build_container
from costhq.domain.errors import InvalidArgument


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COSTHQ_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_log_ai_duration_prices_local_models_by_time_and_keeps_the_budget(work: Path) -> None:
    build_container().add_local_model()(name="llama3", runtime="ollama", hardware="runpod-a100")
    s = AgentSession("local agent", budget=1).start()
    logged = s.log_ai("ollama", "llama3", prompt_tokens=800, completion_tokens=200, duration=2.5)
    # 2.5 s x $1.19/h / 3600 = 0.000826388... -> 0.0008263889
    assert (logged.record.cost, logged.record.duration_ms, logged.local.hardware) == (
        Decimal("0.0008263889"), 2500, "runpod-a100")
    with pytest.raises(BudgetExceededError) as err:  # one hour costs the rate itself: stored, then refused
        s.log_ai("ollama", "llama3", duration=Decimal("3600"))
    assert (err.value.spent, err.value.attempted, s.spent) == (Decimal("1.1908263889"), Decimal("1.19"),
                                                              Decimal("1.1908263889"))
    with pytest.raises(InvalidArgument):
        s.log_ai("ollama", "llama3", duration=-1)
    assert s.end().ai_calls == 2
