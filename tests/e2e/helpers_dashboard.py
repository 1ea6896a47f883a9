"""Shared dashboard test data: three sessions with exact, hand-checked totals, and deps builders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from costhq.adapters._shared.clock import FixedClock
from costhq.domain.pricing import PriceSource
from costhq.domain.sessions import Annotation, ChangeType, Commit, FileChange, NewSession
from costhq.domain.usage import TokenCounts, UsageRecord

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
UTC_TZ = ZoneInfo("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _call(sid: int, provider: str, model: str, inp: int, out: int, cost: str | None, ts: str) -> UsageRecord:
    return UsageRecord(
        session_id=sid,
        provider=provider,
        model=model,
        tokens=TokenCounts(input=inp, output=out),
        total_tokens=inp + out,
        cost=None if cost is None else Decimal(cost),
        price_source=PriceSource.UNPRICED if cost is None else PriceSource.BUILT_IN,
        timestamp=at(ts),
    )


def seed(make_uow: Callable[[], Any]) -> None:
    """Session 1 (ended, /repo/a), 2 (ended, /repo/b), 3 (active, /repo/a); see module docstring."""
    with make_uow() as uow:
        s1 = uow.sessions.add(
            NewSession(
                name="Fix auth bug",
                start_time=at("2026-11-20T10:00:00"),
                working_directory="/repo/a",
                git_root="/repo/a",
                branch="main",
                start_git_head="a" * 40,
            )
        )
        uow.usage.add(_call(s1.id, "anthropic", "claude-sonnet-4", 8000, 2000, "0.054", "2026-11-20T10:30:00"))
        uow.usage.add(_call(s1.id, "openai", "gpt-4o", 1000, 500, "0.0075", "2026-11-20T11:00:00"))
        for path in ("src/auth.py", "README.md"):
            uow.activity.add_file_change(
                FileChange(
                    session_id=s1.id,
                    file_path=path,
                    change_type=ChangeType.MODIFIED,
                    timestamp=at("2026-11-20T11:10:00"),
                )
            )
        uow.activity.add_commit(
            Commit(
                session_id=s1.id,
                hash="abc1234def",
                message="fix: auth null check",
                timestamp=at("2026-11-20T11:20:00"),
                author="Dev",
            )
        )
        uow.activity.add_annotation(
            Annotation(session_id=s1.id, message="phase 1", timestamp=at("2026-11-20T10:15:00"))
        )
        uow.sessions.end(s1.id, end_time=at("2026-11-20T12:00:00"), notes="done")
        s2 = uow.sessions.add(
            NewSession(name="Add feature", start_time=at("2026-11-22T09:00:00"), working_directory="/repo/b")
        )
        uow.usage.add(_call(s2.id, "anthropic", "claude-sonnet-4", 20000, 4000, "0.12", "2026-11-22T09:10:00"))
        uow.activity.add_file_change(
            FileChange(
                session_id=s2.id,
                file_path="src/auth.py",
                change_type=ChangeType.CREATED,
                timestamp=at("2026-11-22T09:20:00"),
            )
        )
        uow.sessions.end(s2.id, end_time=at("2026-11-22T09:30:00"), notes=None)
        s3 = uow.sessions.add(
            NewSession(name="Live run", start_time=at("2026-11-23T14:00:00"), working_directory="/repo/a")
        )
        uow.usage.add(_call(s3.id, "openai", "gpt-4o", 100, 100, "1.0", "2026-11-23T14:30:00"))
        uow.usage.add(_call(s3.id, "mystery", "x-1", 10, 5, None, "2026-11-23T14:40:00"))


def seed_team(make_uow: Callable[..., Any]) -> None:
    """Two more sessions with who and where (issue 16): ann on her laptop in /repo/a ($0.50, ended
    after 30 min, 2026-11-21), bob's CI run in /repo/c ($2, 2026-11-22). `seed`'s carry no who."""
    from datetime import timedelta

    for user, machine, project, cost, start in (("ann", "laptop", "/repo/a", "0.5", "2026-11-21T08:00:00"),
                                                ("bob", "ci-1", "/repo/c", "2", "2026-11-22T12:00:00")):
        with make_uow(user=user, machine=machine) as u:
            s = u.sessions.add(NewSession(name=f"{user} task", start_time=at(start), working_directory=project))
            u.usage.add(_call(s.id, "openai", "gpt-4o", 100, 10, cost, start))
            u.sessions.end(s.id, end_time=at(start) + timedelta(minutes=30), notes=None)


def memory_deps(store: Any, clock: FixedClock, tmp: Path, *, host: str = "127.0.0.1", port: int = 3737) -> Any:
    """DashboardDeps over in-memory fakes (the edge-test composition root)."""
    from costhq.adapters._shared.stats_card import render_card
    from costhq.adapters.http.alerts import FirewallAlerts
    from costhq.adapters.http.deps import DashboardDeps, Security
    from costhq.adapters.http.routes_local import LocalDeps
    from costhq.adapters.persistence.memory.prices import InMemoryCatalog, InMemoryCustomPriceStore
    from costhq.adapters.persistence.memory.queries import InMemoryDashboardQueries, InMemoryDataReset
    from costhq.adapters.persistence.memory.store import InMemoryUnitOfWork
    from costhq.adapters.persistence.price_book import CatalogPriceBook
    from costhq.adapters.watchers.fake_git import FakeGitMetadata
    from costhq.application import budgets, dashboard, local_models, pricing, sessions, team_spend
    from costhq.domain.pricing import ModelPrice, Rate
    from costhq.domain.sessions import Who

    q = InMemoryDashboardQueries(store)
    uow = lambda: InMemoryUnitOfWork(store)  # noqa: E731
    get = sessions.GetSession(uow, FakeGitMetadata())
    custom = InMemoryCustomPriceStore()
    book = CatalogPriceBook(
        InMemoryCatalog(
            {("anthropic", "claude-sonnet-4"): ModelPrice(input=Rate(Decimal(3)), output=Rate(Decimal(15)))}
        ),
        custom,
        now=clock.now,
    )
    policy = budgets.FirewallPolicy(tz=UTC_TZ)
    alerts = FirewallAlerts(
        budgets.SetBudget(uow, clock),
        budgets.ListBudgets(uow),
        budgets.RemoveBudget(uow, clock),
        budgets.BudgetStatus(uow, clock, policy),
    )
    return DashboardDeps(
        clock=clock,
        tz=UTC_TZ,
        overview=dashboard.GetOverview(q, clock),
        search_sessions=dashboard.SearchSessions(q, clock),
        export_sessions=dashboard.ExportSessions(q),
        export_rows=dashboard.ExportSessionRows(q, clock),
        get_session=get,
        stats=sessions.GetStats(uow, clock),
        models=dashboard.GetModelBreakdown(q),
        insights=dashboard.GetInsights(q, clock),
        card_stats=dashboard.GetCardStats(q, clock),
        render_card=render_card,
        list_prices=pricing.ListPrices(book, custom),
        set_price=pricing.SetCustomPrice(custom),
        reset_pricing=pricing.ResetPricing(custom),
        start_fresh=dashboard.StartFresh(InMemoryDataReset(store), alerts.clear),
        watch=dashboard.WatchChanges(q),
        alerts=alerts,
        local=LocalDeps(list_presets=local_models.ListPresets(uow), set_preset=local_models.SetPreset(uow),
                        remove_preset=local_models.RemovePreset(uow), list_models=local_models.ListLocalModels(uow),
                        compute=local_models.LocalComputeReport(uow)),
        team=team_spend.GetTeamView(q, clock, owner=Who("me", "box")),
        security=Security.for_bind(host, port),
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn serving `app` in a thread on 127.0.0.1:`port` (started/stopped by polling its flags)."""

    def __init__(self, app: Any, port: int) -> None:
        import threading

        import uvicorn

        self.port = port
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1, lifespan="on"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)  # polling uvicorn's started flag
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
