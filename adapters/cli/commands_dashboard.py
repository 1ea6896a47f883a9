"""`cs dashboard` (the server comes from bootstrap's front-end container) and `cs card` (the stats PNG)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

from cyclopts import App, Parameter

from costhq.adapters.cli.output import emit_json
from costhq.adapters.cli.params import Whole
from costhq.domain.money import as_json_number

Json = Annotated[bool, Parameter(name="--json", negative="", help="Machine-readable JSON output.")]
NoOpen = Annotated[bool, Parameter(name="--no-open", negative="", help="Don't open the browser.")]


def serve(c: Any, *, host: str, port: int, open_browser: bool, as_json: bool) -> int:
    """Run the dashboard the front-end container builds until interrupted."""

    def announce(info: dict[str, Any]) -> None:
        if as_json:
            emit_json(info)
        else:
            sys.stdout.write(f"CostHQ dashboard on {info['url']}  (Ctrl+C to stop)\n")
        sys.stdout.flush()

    server = c.front_ends().dashboard_server(host=host, port=port)
    return int(server.serve(open_browser=open_browser, announce=announce))


def register_dashboard(app: App, c: Any) -> None:
    """Add `dashboard` and `card`."""

    @app.command
    def dashboard(*, port: Whole = 3737, host: str = "127.0.0.1", no_open: NoOpen = False, json_: Json = False) -> int:
        """Open the local web dashboard (http://localhost:3737).

        Parameters
        ----------
        port
            Port to listen on.
        host
            Bind address; 0.0.0.0 exposes it on your network (a token is then required).
        no_open
            Don't open the browser.
        """
        return serve(c, host=host, port=port, open_browser=not no_open, as_json=json_)

    @app.command
    def card(
        *,
        period: str = "month",
        output: Annotated[Path, Parameter(name=["--output", "-o"])] = Path("card.png"),
        json_: Json = False,
    ) -> int:
        """Render the shareable stats card as a PNG.

        Parameters
        ----------
        period
            month, year or all.
        output
            PNG file to write.
        """
        from costhq.adapters._shared.stats_card import render_card
        from costhq.adapters.cli.output import say

        stats = c.get_card_stats()(period=period, tz=c.display_tz())
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(render_card(stats))
        if json_:
            emit_json(
                {
                    "output": str(output.resolve()),
                    "period": period,
                    "label": stats.label,
                    "sessions": stats.totals.sessions,
                    "aiCost": as_json_number(stats.totals.cost),
                }
            )
        else:
            say(f"Stats card written to {output}")
        return 0
