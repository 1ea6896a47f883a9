"""The `cs` application: Cyclopts parses, the container supplies use cases, errors map to exit 1.

Integration contract (spec): exit 0 on success, 1 on every error (usage errors included);
with `--json`, errors print `{"schemaVersion","costhqVersion","error":{"code","message"}}`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from cyclopts import App, CycloptsError

from costhq.adapters._shared.version import VERSION
from costhq.adapters.cli.output import emit_error
from costhq.domain.errors import CostHQError

Registrar = Callable[[App, Any], None]


class Commands(NamedTuple):
    """The top-level commands one module registers, named up front so `cs <cmd>` imports only it.

    `target` is "package.module:function", a Registrar. A stale `names` list costs speed, never
    behaviour: a command no group claims makes `make_cli` register every group (ADR 0003).
    """

    names: tuple[str, ...]
    target: str

    def load(self) -> Registrar:
        module, _, attr = self.target.partition(":")
        register: Registrar = getattr(importlib.import_module(module), attr)
        return register


_CLI = "costhq.adapters.cli."
CORE: tuple[Commands, ...] = (
    Commands(("start", "end", "status", "show", "list", "note", "recover"), _CLI + "commands_sessions:register"),
    Commands(("stats",), _CLI + "commands_stats:register"),  # issue 16: --user/--machine/--project/--by
    Commands(("log-ai",), _CLI + "commands_usage:register"),
    Commands(("export",), _CLI + "commands_export:register"),
    Commands(("pricing",), _CLI + "commands_pricing:register"),
    # issue 7: agent integrations
    Commands(("import", "auto-log"), _CLI + "commands_import:register"),
    Commands(("report",), _CLI + "commands_report:register"),
    Commands(("statusline",), _CLI + "commands_statusline:register"),
    Commands(("today",), _CLI + "commands_today:register"),
    # issue 4: spend firewall
    Commands(("budget",), _CLI + "commands_budget:register"),
    Commands(("runaway",), _CLI + "commands_runaway:register"),
    Commands(("audit",), _CLI + "commands_audit:register"),
    # issue 8: hardware presets and local models
    Commands(("hardware", "local"), _CLI + "commands_local:register"),
    # long-running front ends: their servers come from the graph's front-end container
    Commands(("proxy", "run"), _CLI + "commands_proxy:register_proxy"),
    Commands(("dashboard", "card"), _CLI + "commands_dashboard:register_dashboard"),
    Commands(("mcp",), _CLI + "commands_mcp:register"),
    Commands(("skill",), _CLI + "commands_skill:register"),
    # issue 16: schema migrations and team pushes
    Commands(("db",), _CLI + "commands_db:register"),
)


def make_cli(container: Any, extra: Iterable[Registrar | Commands] = (), *, command: str | None = None) -> App:
    """Build the `cs` app. `extra` adds command groups (tests use it for stand-in groups).

    With `command` (the first CLI token), only the group that owns it is imported and registered;
    without it, or for `--help`, a typo or an unclaimed name, every group is, in a fixed order.
    """
    app = App(
        name="cs",
        help="CostHQ: track what AI coding sessions and agent runs cost — files, commits, tokens, dollars.",
        version=VERSION,
        result_action="return_value",
    )
    groups = [*CORE, *extra]
    owner = next((g for g in groups if isinstance(g, Commands) and command in g.names), None)
    if owner is not None and command is not None:
        _register(owner, app, container)
        if command in app:
            return app
        # Its names were stale: fall back to everything else (a module registers once).
        groups = [g for g in groups if not (isinstance(g, Commands) and g.target == owner.target)]
    for group in groups:
        _register(group, app, container)
    return app


def _register(group: Registrar | Commands, app: App, container: Any) -> None:
    (group.load() if isinstance(group, Commands) else group)(app, container)


def run(app: App, tokens: Sequence[str]) -> int:
    """Run one invocation and return the exit code; never lets a stack trace reach the user."""
    as_json = "--json" in tokens
    try:
        result = app(list(tokens), exit_on_error=False, print_error=not as_json)
    except CycloptsError as exc:
        if as_json:
            return emit_error("invalid_argument", _clean(exc), as_json=True)
        return 1  # cyclopts already printed a formatted error
    except CostHQError as exc:
        return emit_error(exc.code, exc.message, as_json=as_json,
                          details={k: v for k, v in exc.details.items() if _jsonable(v)})
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last-resort edge handler: log the type, never a traceback
        return emit_error("internal_error", f"unexpected error ({type(exc).__name__}): {exc}", as_json=as_json)
    if result is None or result is True:
        return 0
    return int(result) if isinstance(result, int) else 0


def _clean(exc: CycloptsError) -> str:
    return " ".join(str(exc).split())


def _jsonable(v: object) -> bool:
    return isinstance(v, (str, int, float, bool)) or v is None


def main_with(app: App) -> None:
    sys.exit(run(app, sys.argv[1:]))
