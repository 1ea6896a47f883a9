"""costhq.agents: track agent runs from Python (`AgentSession`, `run_agent_session`)."""

from costhq.adapters.library.agents import AgentSession, AgentSessionSummary, BudgetExceededError, run_agent_session
from costhq.adapters.library.graph import use_graph_factory
from costhq.bootstrap.main import build_container

use_graph_factory(build_container)  # this entry point, like `cs`'s main, supplies the wiring

__all__ = ["AgentSession", "AgentSessionSummary", "BudgetExceededError", "run_agent_session"]
