"""Start-up helpers: dependency-injector without its framework probes, and deferred provider targets.

dependency-injector probes pydantic (settings support) and starlette/fastapi/werkzeug
(wiring marker filters) at import time whenever they are installed: ~80 ms on every `cs`
call. We use neither `Configuration.from_pydantic` nor `@inject` wiring (STYLE §2.7: no
wiring markers), so while it imports we hide the not-yet-imported ones. Nothing is hidden
that is already imported, and everything is visible again afterwards. Standard modules it
binds names from but calls only on paths we do not take (asyncio for async providers,
configparser for `Configuration.from_ini`, pkgutil for `wire(packages=...)`) get delegating
stand-ins the same way. See ADR 0003.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Cython's import of a `None` sys.modules entry returns None instead of raising, so pydantic
# gets a stub whose VERSION says "not v1" and pydantic_settings one without BaseSettings.
_STUBS = {"pydantic": {"VERSION": "0.hidden"}, "pydantic_settings": {}}
_HIDDEN = ("starlette", "starlette.requests", "fastapi", "fastapi.params", "werkzeug", "werkzeug.local",
           "fast_depends", "yaml")
# The names dependency-injector binds from each at import; they are only *called* later.
_DEFERRED_STDLIB = {"asyncio": ("Future", "ensure_future", "gather"), "configparser": ("ConfigParser",),
                    "pkgutil": ("walk_packages",)}


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
    deferred = [name for name in _DEFERRED_STDLIB if name not in sys.modules]
    for name in deferred:
        sys.modules[name] = _stand_in(name)
        placed.append(name)
    try:
        yield
    finally:
        # submodules loaded under a stand-in (asyncio.coroutines): the real package loads its own
        placed += [sub for sub in sys.modules if any(sub.startswith(name + ".") for name in deferred)]
        for name in placed:
            sys.modules.pop(name, None)


def _stand_in(module: str) -> types.ModuleType:
    """`module` as dependency-injector binds it at import, without importing it.

    asyncio (~35-90 ms here): its modules do `from asyncio import Future, ensure_future, gather`
    and only *call* those, on async paths (a provider returning an awaitable, async Resources).
    configparser (~3 ms) and pkgutil (~1-2 ms): `ConfigParser` is called by
    `Configuration.from_ini`, `walk_packages` by `wire(packages=...)`. Each stand-in imports the
    real module on first call and delegates, so those paths behave as before. `asyncio.coroutines`
    (two constants DI reads at import) is the real submodule, found through `__path__`, and is
    dropped afterwards because the real package must load its own. The one difference: on
    Python 3.11, `asyncio.iscoroutinefunction(<a providers.Coroutine>)` is False (its marker
    object comes from that dropped copy); we define no Coroutine providers and hand none to a
    framework.
    """
    spec = importlib.machinery.PathFinder.find_spec(module)
    stand_in = types.ModuleType(module)
    stand_in.__path__ = list(spec.submodule_search_locations or []) if spec else []
    for name in _DEFERRED_STDLIB[module]:
        setattr(stand_in, name, _delegate(module, name))
    return stand_in


def _delegate(module: str, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        # the real module: the stand-in only lives while dependency-injector imports
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


class DeferredModule:
    """A module named in provider definitions but imported only when a provider first calls into it.

    `providers.Singleton(m.StartSession, uow)` with `m = DeferredModule("costhq.application.sessions")`
    builds the same object as with the real module; the import just moves from `cs` start-up to the
    first resolve, so a command pays only for the use cases it asks for. See ADR 0003.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> _Deferred:
        if attr.startswith("_"):  # dunder probes (copy, inspect, the container metaclass) see no magic
            raise AttributeError(attr)
        return _Deferred(self._name, attr)

    def __repr__(self) -> str:
        return f"DeferredModule({self._name!r})"


class _Deferred:
    """`module.attr`, imported on first call; then calls go straight to the real object."""

    __slots__ = ("_attr", "_module", "_target")

    def __init__(self, module: str, attr: str) -> None:
        self._module, self._attr = module, attr
        self._target: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._target is None:
            self._target = getattr(importlib.import_module(self._module), self._attr)
        return self._target(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<deferred {self._module}.{self._attr}>"
