"""costhq.wrappers: record the usage of calls made with a client you already have."""

from costhq.adapters.library.agents import BudgetExceededError
from costhq.adapters.library.graph import use_graph_factory
from costhq.adapters.library.wrappers import tracked_claude, tracked_claude_async, tracked_gpt, tracked_gpt_async
from costhq.adapters.library.writer import flush
from costhq.bootstrap.main import build_container

use_graph_factory(build_container)  # this entry point, like `cs`'s main, supplies the wiring

__all__ = ["BudgetExceededError", "flush", "tracked_claude", "tracked_claude_async", "tracked_gpt",
           "tracked_gpt_async"]
