"""costhq.wrappers: record the usage of calls made with a client you already have."""

from costhq.bootstrap.agents import BudgetExceededError
from costhq.bootstrap.library_writer import flush
from costhq.bootstrap.wrappers import tracked_claude, tracked_claude_async, tracked_gpt, tracked_gpt_async

__all__ = ["BudgetExceededError", "flush", "tracked_claude", "tracked_claude_async", "tracked_gpt",
           "tracked_gpt_async"]
