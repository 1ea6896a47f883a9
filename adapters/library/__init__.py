"""The library front end: AgentSession, tracked clients, wrappers (costhq.agents, .extensions, .wrappers)."""
