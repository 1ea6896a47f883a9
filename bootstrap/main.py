"""Entry points: `cs` / `costhq`. The only place where settings, container and edges meet."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from costhq.domain.errors import CostHQError


def build_container(env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Settings -> first-run migration -> container."""
    from costhq.bootstrap.container import Container
    from costhq.bootstrap.data_dir import prepare_data_dir
    from costhq.bootstrap.settings import load_settings

    settings = load_settings(env)
    prepare_data_dir(settings)
    return Container(settings=settings)


def main(argv: Sequence[str] | None = None) -> None:
    """Run `cs` and exit with its code (0 ok, 1 any error)."""
    from costhq.adapters.cli.app import make_cli, run
    from costhq.adapters.cli.output import emit_error
    from costhq.bootstrap.commands import extra_registrars

    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        container = build_container()
    except CostHQError as exc:
        sys.exit(emit_error(exc.code, exc.message, as_json="--json" in tokens))
    sys.exit(run(make_cli(container, extra_registrars()), tokens))
