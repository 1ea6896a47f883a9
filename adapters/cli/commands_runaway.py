"""`cs runaway status|config|clear`: runaway-agent detection."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from cyclopts import App, Parameter

from costhq.adapters._shared import firewall_views as fv
from costhq.adapters.cli.output import emit_json, print_kv, print_table, say
from costhq.adapters.cli.params import Json, SessionOpt, WholeOpt, positive_session


def register(app: App, c: Any) -> None:
    """Add the `runaway` command group to `app`."""
    runaway = App(name="runaway", help="Runaway-agent detection: status, thresholds, clearing trips.")
    app.command(runaway)

    @runaway.command
    def status(*, session: SessionOpt = None,
               json_: Json = False) -> int:
        """Detector settings and open trips (of one session, or all)."""
        rep = c.runaway_status()(session_id=positive_session(session))
        if json_:
            emit_json({"config": fv.runaway_config_json(rep.config), "blocked": rep.blocked,
                       "openTrips": [fv.trip_json(t) for t in rep.open_trips],
                       "recentTrips": [fv.trip_json(t) for t in rep.recent_trips]})
            return 0
        print_kv("Runaway detection", list(fv.runaway_config_json(rep.config).items()))
        print_table(["ID", "Session", "Detector", "Action", "Message", "Until"],
                    [(t.id, t.session_id, t.detector.value, t.action.value, t.message, fv.trip_json(t)["until"])
                     for t in rep.open_trips], title="Open trips")
        return 0

    @runaway.command
    def config(
        *,
        action: Literal["warn", "block"] | None = None,
        velocity: Annotated[str | None, Parameter(help="USD per minute that trips.")] = None,
        velocity_window: WholeOpt = None,
        identical: WholeOpt = None,
        identical_window: WholeOpt = None,
        loop_repeats: WholeOpt = None,
        loop_window: WholeOpt = None,
        churn: WholeOpt = None,
        churn_window: WholeOpt = None,
        reset: bool = False,
        json_: Json = False,
    ) -> int:
        """Show or change detector thresholds (windows in seconds).

        Parameters
        ----------
        action
            warn (default) or block (the proxy answers 402 runaway_detected).
        velocity
            Cost velocity threshold in USD per minute.
        identical
            Same request this many times in the window trips.
        loop_repeats
            A,B pairs repeated this many times trips.
        churn
            Same file modified this many times in the window trips.
        reset
            Back to the defaults first.
        """
        given = {"action": action, "velocity_usd_per_min": velocity, "velocity_window_s": velocity_window,
                 "identical_k": identical, "identical_window_s": identical_window, "loop_repeats": loop_repeats,
                 "loop_window_s": loop_window, "churn_n": churn, "churn_window_s": churn_window}
        changes = {k: v for k, v in given.items() if v is not None}
        cfg = c.configure_runaway()(changes=changes, reset=reset) if changes or reset else c.runaway_status()().config
        if json_:
            emit_json({"config": fv.runaway_config_json(cfg)})
        else:
            print_kv("Runaway detection", list(fv.runaway_config_json(cfg).items()))
        return 0

    @runaway.command
    def clear(*, session: SessionOpt = None,
              json_: Json = False) -> int:
        """Clear open trips (of one session, or all): lifts a runaway block."""
        n = c.clear_runaway()(session_id=positive_session(session))
        if json_:
            emit_json({"cleared": n})
        else:
            say(f"Cleared {n} runaway trip(s)")
        return 0
