"""costhq.agents: track agent runs from Python (`AgentSession`, `run_agent_session`)."""

from costhq.bootstrap.agents import AgentSession, AgentSessionSummary, BudgetExceededError, run_agent_session

__all__ = ["AgentSession", "AgentSessionSummary", "BudgetExceededError", "run_agent_session"]
