"""Where the library front end gets its graph of use cases when the caller passes none.

The public modules (`costhq.agents`, `costhq.extensions`, `costhq.wrappers`) are entry points,
like `cs`'s `main`: they hand bootstrap's `build_container` in here, so this adapter never
imports bootstrap (import-linter's layers contract).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_factory: Callable[[], Any] | None = None


def use_graph_factory(factory: Callable[[], Any]) -> None:
    """Set how a default graph is built (called by the public entry modules)."""
    global _factory
    _factory = factory


def default_graph() -> Any:
    """A new graph over the user's data dir (settings from env and config.toml)."""
    if _factory is None:  # imported through a path that skipped the public modules
        import importlib

        importlib.import_module("costhq.agents")
    assert _factory is not None
    return _factory()
