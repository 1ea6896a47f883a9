"""The `cs` application: Cyclopts parses, the container supplies use cases, errors map to exit 1.

Integration contract (spec): exit 0 on success, 1 on every error (usage errors included);
with `--json`, errors print `{"schemaVersion","costhqVersion","error":{"code","message"}}`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cyclopts import App, CycloptsError

from costhq.adapters._shared.version import VERSION
from costhq.adapters.cli import (
    commands_audit,
    commands_budget,
    commands_export,
    commands_import,
    commands_pricing,
    commands_report,
    commands_runaway,
    commands_sessions,
    commands_statusline,
    commands_today,
    commands_usage,
)
from costhq.adapters.cli.output import emit_error
from costhq.domain.errors import CostHQError

Registrar = Callable[[App, Any], None]


def make_cli(container: Any, extra: Iterable[Registrar] = ()) -> App:
    """Build the `cs` app. `extra` registrars add commands owned by bootstrap (proxy, dashboard...)."""
    app = App(
        name="cs",
        help="CostHQ: track what AI coding sessions and agent runs cost — files, commits, tokens, dollars.",
        version=VERSION,
        result_action="return_value",
    )
    for register in (commands_sessions.register, commands_usage.register, commands_export.register,
                     commands_pricing.register,
                     commands_import.register, commands_report.register, commands_statusline.register,
                     commands_today.register,  # issue 7: agent integrations
                     commands_budget.register, commands_runaway.register, commands_audit.register,  # issue 4
                     *extra):
        register(app, container)
    return app


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
