"""The dependency-injector containers of the long-running front ends: proxy, dashboard, MCP.

Each takes the core graph (core.py) as its dependency and adds what only its front end needs.
They are built on first use (`core.front_ends()`), so a hot `cs` command never imports
dependency-injector (ADR 0003).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import attrs
from dependency_injector import containers, providers


def _proxy_config(core: Any) -> Any:
    from costhq.adapters.proxy.server import proxy_config

    return proxy_config(core.settings())


def _proxy_app(core: Any, config: Any, *, port: int, pinned_session: int | None, transport: Any = None) -> Any:
    """The Starlette proxy app wired to the core's use cases."""
    from costhq.adapters._shared.version import VERSION
    from costhq.adapters.proxy.app import ProxyDeps, make_proxy_app
    from costhq.adapters.proxy.upstream import make_client

    current, (record, batch, armed, lookup) = core.current_proxy_session(), _proxy_storage(core)
    resolve, find = lookup or (core.resolve_proxy_session(), None)  # SQLite: a kept connection (ADR 0009)
    probe, load_prices = core.firewall_probe(), core.price_book().load

    def warm() -> None:  # the request path's caches, after each commit of usage (and at start)
        armed()
        find.refresh()
        probe.rules_version()

    deps = ProxyDeps(
        record=record, batch=batch, armed=armed, find_session=find,
        hold_reads=getattr(probe, "version", None) if lookup else None,
        recorder=(type(core), _proxy_storage, core.settings()) if config.recorder == "process" else None,
        current_session=lambda pinned: current(pinned_session=pinned),
        resolve_session=lambda header, pinned: resolve(header_session=header, pinned_session=pinned),
        guard=core.request_guard(), upstreams=config.upstreams, spool_dir=Path(core.settings().data_dir),
        port=port, version=VERSION, pinned_session=pinned_session,
        find_local=lambda name, find=core.find_local_model(): find(name=name),  # `/local/<name>/`
        warm=warm if lookup else None, prepare=(lambda: (load_prices(), warm())) if lookup else load_prices,
    )
    client = make_client(connect_timeout=config.connect_timeout, read_timeout=config.read_timeout,
                         http2=config.http2, transport=transport)
    return make_proxy_app(deps, client)


def _proxy_storage(core: Any) -> tuple[Any, Any, Any, Any]:
    """(record, batch, armed, lookup): `RecordUsage` in batches (an `ApswBatch` / `PgBatch`; fakes: one by
    one), SQLite's firewall arming probe and session look-up on a kept connection (None: the uow's)."""
    from costhq.adapters.persistence.sqlite.proxy import ApswFirewallArming, kept_session_lookup
    from costhq.application.proxy import RecordProxyUsage
    from costhq.bootstrap.adapters import usage_batch

    pipeline, batch, armed, lookup = core.record_usage(), contextlib.nullcontext, lambda: True, None
    if type(core.uow()()).__name__ in ("ApswUnitOfWork", "PgUnitOfWork"):  # not a test's fake storage
        box = usage_batch(core.settings())
        pipeline, batch = attrs.evolve(pipeline, uow=box.uow), box
        if not core.settings().database_url:  # the kept look-up opens its connection on first use
            db, unpriced = str(core.settings().db_path), core.firewall_policy().block_unpriced
            version = core.firewall_probe().version  # one `data_version` for every request-path cache
            armed = ApswFirewallArming(db, block_unpriced=unpriced, version=version)
            lookup = kept_session_lookup(db, core.background_session(), version)
    record = RecordProxyUsage(pipeline)

    def record_one(item: Any) -> Any:
        # The guard was skipped (or did not observe): the request's fingerprint is observed with the
        # call's cost, once (a replay was observed when first stored).
        logged = record(call=item.call, header_session=item.header_session, pinned_session=item.pinned_session,
                        session_id=item.session_id, fingerprint=item.fingerprint)
        if item.after is not None:
            # Issue 14: settle inside the batch, before its commit, so no renewal ever sees the call
            # both recorded and still held (the writer's own call after the commit is then a no-op).
            item.after(logged)
        return logged

    return record_one, batch, armed, lookup


def _proxy_server(core: Any, config: Any, *, port: int, pinned_session: int | None) -> Any:
    from costhq.adapters.proxy.server import ProxyServer

    return ProxyServer(lambda bound: _proxy_app(core, config, port=bound, pinned_session=pinned_session),
                       port=port, data_dir=Path(core.settings().data_dir))


def _dashboard_deps(core: Any, *, host: str, port: int, tz: Any = None) -> Any:
    """DashboardDeps over the core's use cases (or fakes a test put in the core)."""
    from costhq.adapters._shared.stats_card import render_card
    from costhq.adapters.http.alerts import FirewallAlerts
    from costhq.adapters.http.deps import DashboardDeps, Security
    from costhq.adapters.http.routes_local import LocalDeps

    c = core
    alerts = FirewallAlerts(c.set_budget(), c.list_budgets(), c.remove_budget(), c.budget_status())
    local = LocalDeps(list_presets=c.list_presets(), set_preset=c.set_preset(), remove_preset=c.remove_preset(),
                      list_models=c.list_local_models(), compute=c.local_compute_report())
    return DashboardDeps(
        clock=c.clock(), tz=tz or c.display_tz(), overview=c.get_overview(), search_sessions=c.search_sessions(),
        export_sessions=c.export_sessions(), export_rows=c.export_session_rows(), get_session=c.get_session(),
        stats=c.get_stats(), models=c.get_model_breakdown(), insights=c.get_insights(),
        card_stats=c.get_card_stats(), render_card=render_card, list_prices=c.list_prices(),
        set_price=c.set_custom_price(), reset_pricing=c.reset_pricing(),
        start_fresh=c.start_fresh(clear_alerts=alerts.clear), watch=c.watch_changes(), alerts=alerts, local=local,
        team=c.get_team_view(), security=Security.for_bind(host, port),
    )


def _dashboard_server(core: Any, *, host: str, port: int) -> Any:
    from costhq.adapters.http.app import make_app
    from costhq.adapters.http.server import DashboardServer

    return DashboardServer(_dashboard_deps(core, host=host, port=port), make_app, host=host, port=port,
                           data_dir=Path(core.settings().data_dir))


def _mcp_server(core: Any) -> Any:
    from costhq.adapters.mcp.server import make_server

    return make_server(core)


class FrontEnds(containers.DeclarativeContainer):
    """Proxy, dashboard and MCP, each over the shared core graph."""

    core = providers.Dependency()

    proxy_config = providers.Singleton(_proxy_config, core)
    # Injected by keyword, so a caller (a test) may pass its own `config=`.
    proxy_app = providers.Factory(_proxy_app, core=core, config=proxy_config)
    proxy_server = providers.Factory(_proxy_server, core=core, config=proxy_config)
    dashboard_deps = providers.Factory(_dashboard_deps, core=core)
    dashboard_server = providers.Factory(_dashboard_server, core=core)
    mcp_server = providers.Factory(_mcp_server, core=core)
