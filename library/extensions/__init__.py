"""costhq.extensions: drop-in tracked clients (`TrackedOpenAI`, `TrackedAnthropic` and async twins).

The SDKs are optional extras: `pip install 'costhq[openai]'` and/or `pip install 'costhq[anthropic]'`.
Each class is imported on first use, so having only one of the two SDKs is fine. Calls are
stored by a background thread; `flush()` waits for them (also done at exit and session end).
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from costhq.adapters.library.agents import BudgetExceededError
from costhq.adapters.library.graph import use_graph_factory
from costhq.adapters.library.writer import flush
from costhq.bootstrap.main import build_container

_EXTRAS = {
    "TrackedOpenAI": ("openai", "costhq.adapters.library.tracked_openai"),
    "AsyncTrackedOpenAI": ("openai", "costhq.adapters.library.tracked_openai"),
    "TrackedAnthropic": ("anthropic", "costhq.adapters.library.tracked_anthropic"),
    "AsyncTrackedAnthropic": ("anthropic", "costhq.adapters.library.tracked_anthropic"),
}

use_graph_factory(build_container)  # this entry point, like `cs`'s main, supplies the wiring

__all__ = ["AsyncTrackedAnthropic", "AsyncTrackedOpenAI", "BudgetExceededError", "TrackedAnthropic", "TrackedOpenAI",
           "flush"]

if find_spec("openai") is None and find_spec("anthropic") is None:
    raise ImportError(
        "costhq.extensions needs an AI SDK: pip install 'costhq[openai]' and/or pip install 'costhq[anthropic]'")


def __getattr__(name: str) -> Any:
    if name not in _EXTRAS:
        raise AttributeError(f"module 'costhq.extensions' has no attribute {name!r}")
    sdk, module = _EXTRAS[name]
    if find_spec(sdk) is None:
        raise ImportError(f"{name} needs the {sdk} SDK: pip install 'costhq[{sdk}]'")
    import importlib

    return getattr(importlib.import_module(module), name)
