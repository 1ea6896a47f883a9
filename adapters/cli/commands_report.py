"""`cs report daily|weekly|monthly|models|projects|blocks`: spend across all sessions and imports."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cyclopts import App, Parameter

from costhq.adapters._shared.views_integrations import report_json
from costhq.adapters.cli.output import emit_json, print_table, say
from costhq.adapters.cli.params import Json
from costhq.domain.errors import InvalidArgument
from costhq.domain.money import format_usd
from costhq.domain.reports import ReportFilter, ReportKind
from costhq.domain.sessions import Dimension

Kind = Literal["daily", "weekly", "monthly", "models", "projects", "users", "machines", "blocks"]
By = Literal["user", "machine", "project"]


def local_zone_name() -> str:
    """The user's IANA zone: `$TZ`, else the /etc/localtime link, else UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return "UTC"
    marker = "zoneinfo" + os.sep
    return target.split(marker, 1)[1] if marker in target else "UTC"


def parse_when(text: str | None, tz: str, flag: str) -> datetime | None:
    """`YYYY-MM-DD` (local midnight in `tz`), `YYYYMMDD`, or an ISO time (UTC when no offset)."""
    if text is None:
        return None
    raw = text.strip()
    if len(raw) == 8 and raw.isdigit():
        raw = f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    try:
        zone = ZoneInfo(tz)
        if len(raw) == 10:
            return datetime.combine(datetime.fromisoformat(raw).date(), time(), zone).astimezone(UTC)
        value = datetime.fromisoformat(raw)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise InvalidArgument(f"{flag}: not a date or time: {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def build_filter(since: str | None, until: str | None, tz: str | None, project: str | None,
                 model: str | None, user: str | None = None, machine: str | None = None) -> ReportFilter:
    zone = tz or local_zone_name()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(f"unknown timezone {zone!r}") from exc
    scope = os.path.realpath(project) if project else None
    return ReportFilter(since=parse_when(since, zone, "--since"), until=parse_when(until, zone, "--until"),
                        project=scope, model=model, timezone=zone, user=user, machine=machine)


def register(app: App, c: Any) -> None:
    """Add `report` to `app`."""

    @app.command
    def report(
        kind: Kind = "daily",
        *,
        since: str | None = None,
        until: str | None = None,
        timezone: Annotated[str | None, Parameter(name=["--timezone", "--tz"])] = None,
        project: str | None = None,
        model: str | None = None,
        user: str | None = None,
        machine: str | None = None,
        by: By | None = None,
        json_: Json = False,
    ) -> int:
        """Spend report across all sessions and imported usage.

        Parameters
        ----------
        kind
            daily, weekly (Monday start), monthly, models, projects, users, machines, or blocks (5-hour windows).
        since
            Start date (YYYY-MM-DD, local midnight) or ISO time; inclusive.
        until
            End date or ISO time; exclusive.
        timezone
            IANA zone of the day/week/month buckets (default: local).
        project
            Only this project (its scope path: git root).
        model
            Only models containing this text.
        user
            Only sessions of this user (config `[user] name`, default the OS user).
        machine
            Only sessions recorded on this machine (`[user] machine`, default the host name).
        by
            Split each row by user, machine or project (not with blocks).
        """
        where = build_filter(since, until, timezone, project, model, user, machine)
        rep = c.run_report()(kind=ReportKind(kind), where=where, by=Dimension(by) if by else None)
        from costhq.adapters.cli.commands_local import compute_json, print_compute  # issue 8

        local = c.local_compute_report()(where=where)
        if json_:
            emit_json({**report_json(rep), "localCompute": compute_json(local)})
            return 0
        if rep.kind is ReportKind.BLOCKS:
            print_table(["Block start", "Calls", "Tokens", "Cost", "Burn $/h", "Projected", ""],
                        [(b.start.astimezone(ZoneInfo(where.timezone)).strftime("%Y-%m-%d %H:%M"), b.calls,
                          f"{b.total_tokens:,}", format_usd(b.cost), format_usd(b.burn_rate),
                          format_usd(b.projected_cost), "ACTIVE" if b.active else "") for b in rep.blocks],
                        title="5-hour blocks")
        else:
            split = [by.capitalize()] if by else []
            print_table([kind.capitalize() if kind != "daily" else "Date", *split, "Calls", "Input", "Cache read",
                         "Cache write", "Output", "Cost"],
                        [(r.key, *([r.group] if by else []), r.calls, f"{r.input:,}", f"{r.cache_read:,}",
                          f"{r.cache_write:,}", f"{r.output:,}", format_usd(r.cost)) for r in rep.rows],
                        title=f"{kind} report" + (f" by {by}" if by else ""))
        unpriced = f" ({rep.unpriced_calls} unpriced)" if rep.unpriced_calls else ""
        print_compute(local)
        say(f"Total: {rep.calls} calls • {rep.total_tokens:,} tokens • {format_usd(rep.cost)}{unpriced}")
        return 0
