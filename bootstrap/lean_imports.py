"""Import dependency-injector without its optional framework integrations.

dependency-injector probes pydantic (settings support) and starlette/fastapi/werkzeug
(wiring marker filters) at import time whenever they are installed: ~80 ms on every `cs`
call. We use neither `Configuration.from_pydantic` nor `@inject` wiring (STYLE §2.7: no
wiring markers), so while it imports we hide the not-yet-imported ones. Nothing is hidden
that is already imported, and everything is visible again afterwards. See ADR 0003.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

# Cython's import of a `None` sys.modules entry returns None instead of raising, so pydantic
# gets a stub whose VERSION says "not v1" and pydantic_settings one without BaseSettings.
_STUBS = {"pydantic": {"VERSION": "0.hidden"}, "pydantic_settings": {}}
_HIDDEN = ("starlette", "starlette.requests", "fastapi", "fastapi.params", "werkzeug", "werkzeug.local",
           "fast_depends", "yaml")


@contextmanager
def optional_integrations_hidden() -> Iterator[None]:
    placed: list[str] = []
    for name, attrs in _STUBS.items():
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__dict__.update(attrs)
            sys.modules[name] = stub
            placed.append(name)
    for name in _HIDDEN:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]
            placed.append(name)
    try:
        yield
    finally:
        for name in placed:
            sys.modules.pop(name, None)
