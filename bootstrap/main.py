"""Entry points: `cs` / `costhq`. The only place where settings, the graph and the edges meet."""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from typing import Any

from costhq.domain.errors import CostHQError


def build_container(env: dict[str, str] | None = None) -> Any:
    """Settings -> first-run migration -> the core graph (front-end containers hang off it)."""
    from costhq.bootstrap.core import Core
    from costhq.bootstrap.data_dir import prepare_data_dir
    from costhq.bootstrap.settings import load_settings

    settings = load_settings(env)
    prepare_data_dir(settings)
    return Core(settings)


def main(argv: Sequence[str] | None = None) -> None:
    """Run `cs` and exit with its code (0 ok, 1 any error)."""
    from costhq.adapters.cli.app import make_cli, run
    from costhq.adapters.cli.output import emit_error

    tokens = list(sys.argv[1:] if argv is None else argv)
    own_process = argv is None  # the console script; callers passing argv keep their GC as it is
    if own_process:
        # Start-up only creates objects that live as long as the process (modules, classes, the
        # graph): cycle collection over them is wasted work (ADR 0003).
        gc.disable()
    try:
        container = build_container()
    except CostHQError as exc:
        sys.exit(emit_error(exc.code, exc.message, as_json="--json" in tokens))
    # Only the module owning the first token is imported (every module for --help or a typo).
    app = make_cli(container, command=tokens[0] if tokens else None)
    if own_process:
        gc.freeze()  # long-running commands (proxy, dashboard, watchers) never rescan start-up objects
        gc.enable()
    sys.exit(run(app, tokens))
