"""The core graph: the ports and use cases every front end shares, each built on first use.

Plain Python, not dependency-injector, because every `cs` call builds it: importing
dependency-injector costs ~120 ms here (asyncio, plus its wiring module's probes of starlette
and pydantic), more than a hot command's whole budget (ADR 0003). The long-running front ends
(proxy, dashboard, MCP) are wired by the containers in container.py, which take this graph as
their dependency, so each part is defined once. Parts are called like providers
(`core.log_usage()`), built once per graph, thread-safe; tests replace ports with `override`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from costhq.bootstrap.settings import Settings, user_timezone

_APP = "costhq.application."


def _use(target: str) -> Any:
    """`module.Name` under costhq.application, imported when the part is first built."""
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(_APP + module), name)


class _Part:
    """A part of the graph: `core.name()` builds it once (`build(core)`) and then returns it."""

    def __init__(self, build: Callable[[Core], Any]) -> None:
        self._build = build
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, core: Core | None, owner: type | None = None) -> Any:
        if core is None:
            return self
        return partial(core._part, self._name, self._build)


def _uc(target: str, *deps: str, **named: str) -> _Part:
    """A use case `target` whose fields are the named parts, in order (keyword parts by name)."""
    return _Part(lambda c: _use(target)(*(getattr(c, d)() for d in deps),
                                        **{k: getattr(c, d)() for k, d in named.items()}))


class Core:
    """Ports (uow, clock, git, prices) and the use cases over them; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()  # parts build their dependencies while holding it
        self._front_ends: Any = None

    def _part(self, name: str, build: Callable[[Core], Any]) -> Any:
        try:
            return self._built[name]
        except KeyError:
            pass
        with self._lock:
            if name not in self._built:
                self._built[name] = build(self)
            return self._built[name]

    def override(self, **parts: Any) -> Core:
        """Use these objects for the named parts (fakes in tests); call before the parts are used."""
        self._built.update(parts)
        return self

    def settings(self) -> Settings:
        return self._settings

    def front_ends(self) -> Any:
        """The dependency-injector container of the long-running front ends, over this graph."""
        with self._lock:
            if self._front_ends is None:
                from costhq.bootstrap.container import FrontEnds

                if self._settings.database_url:  # team mode: the servers' threads share one bounded pool
                    f, s = _adapters().uow_factory, self._settings
                    self.override(uow=f(s, pooled=True), read_uow=f(s, read_only=True, pooled=True),
                                  lease_uow=f(s, durable=False, pooled=True))
                self._front_ends = FrontEnds(core=self)
            return self._front_ends

    # --- ports ---------------------------------------------------------------------------------
    clock = _Part(lambda c: importlib.import_module("costhq.adapters._shared.clock").SystemClock())
    uow = _Part(lambda c: _adapters().uow_factory(c.settings()))
    # Use cases that only read: a WAL snapshot that neither takes nor waits for the write lock.
    read_uow = _Part(lambda c: _adapters().uow_factory(c.settings(), read_only=True))
    # The firewall's leases and samples: commits without a disk flush (never audit entries).
    lease_uow = _Part(lambda c: _adapters().uow_factory(c.settings(), durable=False))
    firewall_probe = _Part(lambda c: _adapters().firewall_probe(c.settings()))
    git = _Part(lambda c: _adapters().git())
    custom_prices = _Part(lambda c: _adapters().custom_prices(c.settings()))
    price_book = _Part(lambda c: _adapters().price_book(c.settings(), c.custom_prices()))
    audit_key = _Part(lambda c: _adapters().audit_key(c.settings()))
    firewall_policy = _Part(lambda c: _adapters().firewall_policy(c.settings()))
    claude_logs = _Part(lambda c: _adapters().claude_logs())
    codex_logs = _Part(lambda c: _adapters().codex_logs())
    work_tree = _Part(lambda c: _adapters().work_tree())
    dashboard_queries = _Part(lambda c: _adapters().dashboard_queries(c.settings()))
    data_reset = _Part(lambda c: _adapters().data_reset(c.settings()))
    display_tz = _Part(lambda c: user_timezone(c.settings()))  # dashboard days and the stats card

    # --- sessions --------------------------------------------------------------------------------
    start_session = _uc("sessions.StartSession", "uow", "clock", "git")
    end_session = _uc("sessions.EndSession", "uow", "clock", "git")
    add_note = _uc("sessions.AddNote", "uow", "clock", "git")
    recover_stale = _uc("sessions.RecoverStale", "uow", "clock")
    get_session = _uc("session_queries.GetSession", "read_uow", "git")
    latest_session = _uc("session_queries.LatestSession", "read_uow", "git")
    list_sessions = _uc("session_queries.ListSessions", "read_uow")
    get_stats = _uc("session_queries.GetStats", "read_uow", "clock")
    # issue 16: whose this machine's sessions stored before they carried user and machine are (domain/team.py)
    owner = _Part(lambda c: importlib.import_module("costhq.domain.sessions").Who(**c.settings().who))
    get_team_spend = _uc("team_spend.GetTeamSpend", "dashboard_queries", "clock", owner="owner")
    get_team_view = _uc("team_spend.GetTeamView", "dashboard_queries", "clock", owner="owner")

    # --- usage and prices ------------------------------------------------------------------------
    usage_firewall = _uc("firewall.UsageFirewall", "firewall_policy")
    price_local_call = _uc("local_pricing.PriceLocalCall", "uow", "price_book")
    log_usage = _uc("usage.LogUsage", "uow", "clock", "git", "price_book", "usage_firewall", "price_local_call")
    background_session = _uc("usage.EnsureBackgroundSession", "uow", "clock")
    record_usage = _uc("usage.RecordUsage", "uow", "clock", "git", "price_book", "usage_firewall", "price_local_call")
    list_prices = _uc("pricing.ListPrices", "price_book", "custom_prices")
    record_audit_event = _uc("audit.RecordAuditEvent", "uow", "clock")
    set_custom_price = _uc("pricing.SetCustomPrice", "custom_prices", "record_audit_event")
    reset_pricing = _uc("pricing.ResetPricing", "custom_prices", "record_audit_event")

    # --- agent integrations: imports, auto-log, reports, today -----------------------------------
    import_usage = _Part(lambda c: _use("imports.ImportUsage")(
        c.uow(), c.clock(), c.git(), c.price_book(), {"claude-code": c.claude_logs(), "codex": c.codex_logs()}))
    auto_log = _Part(lambda c: _use("imports.AutoLog")(c.uow(), c.clock(), c.git(), c.price_book(), c.claude_logs(),
                                                      _adapters().file_state))
    run_report = _uc("reports.RunReport", "uow", "clock", owner="owner")
    status_line = _uc("reports.GetStatusLine", "uow", "clock", "git")
    today = _uc("today.Today", "uow", "work_tree")
    today_add = _uc("today.AddTodayProject", "uow", "clock", "git")
    today_remove = _uc("today.RemoveTodayProject", "uow", "git")

    # --- live file/commit tracking (the watchers load only when a tracker starts) ----------------
    record_file_change = _uc("tracking.RecordFileChange", "uow", "clock")
    record_commit = _uc("tracking.RecordCommit", "uow", "clock")
    note_branch_switch = _uc("tracking.NoteBranchSwitch", "uow", "clock")
    record_file_activity = _uc("runaway.RecordFileActivity", "uow", "clock")
    live_tracking = _Part(lambda c: importlib.import_module("costhq.adapters.watchers.live").LiveTracking(
        c.get_session(), c.end_session(), c.record_file_change(), c.record_commit(), c.note_branch_switch(),
        c.clock().now, c.record_file_activity()))

    # --- proxy sessions and the spend firewall ---------------------------------------------------
    reservation_ledger = _Part(lambda c: _use("reservations.ReservationLedger")(  # leases renewed ahead (issue 15)
        c.lease_uow(), c.firewall_probe(), c.firewall_policy(), renew_ahead=True))
    call_session = _uc("firewall.CallSession", "read_uow", "uow", "clock", "git")
    request_guard = _uc("firewall.FirewallGuard", "uow", "clock", "price_book", "firewall_policy",
                        "reservation_ledger")
    current_proxy_session = _uc("proxy.CurrentProxySession", "read_uow")  # reads only: never waits for the write lock
    resolve_proxy_session = _uc("proxy.ResolveProxySession", "current_proxy_session", "background_session")
    record_proxy_usage = _uc("proxy.RecordProxyUsage", "record_usage")
    set_budget = _uc("budgets.SetBudget", "uow", "clock")
    list_budgets = _uc("budgets.ListBudgets", "uow")
    remove_budget = _uc("budgets.RemoveBudget", "uow", "clock")
    budget_status = _uc("budgets.BudgetStatus", "read_uow", "clock", "firewall_policy")
    runaway_status = _uc("runaway.RunawayStatus", "read_uow", "clock")
    configure_runaway = _uc("runaway.ConfigureRunaway", "uow", "clock")
    clear_runaway = _uc("runaway.ClearRunaway", "uow", "clock")
    audit_anchor = _Part(lambda c: _adapters().audit_anchor(c.settings()))
    verify_audit = _uc("audit.VerifyAudit", "read_uow", "audit_key", "custom_prices", "audit_anchor")
    audit_head = _uc("audit.AuditHead", "uow")
    read_audit = _uc("audit.ReadAudit", "uow")

    # --- dashboard queries and the stats card ----------------------------------------------------
    get_overview = _uc("dashboard.GetOverview", "dashboard_queries", "clock")
    search_sessions = _uc("dashboard.SearchSessions", "dashboard_queries", "clock")
    export_sessions = _uc("dashboard.ExportSessions", "dashboard_queries")
    export_session_rows = _uc("dashboard.ExportSessionRows", "dashboard_queries", "clock")
    get_model_breakdown = _uc("dashboard.GetModelBreakdown", "dashboard_queries")
    get_insights = _uc("dashboard.GetInsights", "dashboard_queries", "clock")
    get_card_stats = _uc("dashboard.GetCardStats", "dashboard_queries", "clock")
    watch_changes = _uc("dashboard.WatchChanges", "dashboard_queries")

    def start_fresh(self, *, clear_alerts: Callable[[], int]) -> Any:
        """A new StartFresh per dashboard: it clears that dashboard's alerts too."""
        return _use("dashboard.StartFresh")(self.data_reset(), clear_alerts=clear_alerts, clock=self.clock())

    # --- team mode: schema migrations and pushes (issue 16) ---------------------------------------
    schema_admin = _Part(lambda c: _adapters().schema_admin(c.settings()))
    history_push = _Part(lambda c: _adapters().history_push(c.settings()))
    migrate_storage = _uc("team.MigrateStorage", "schema_admin")
    push_history = _uc("team.PushHistory", "history_push")

    # --- local models and hardware presets -------------------------------------------------------
    list_presets = _uc("local_models.ListPresets", "uow")
    set_preset = _uc("local_models.SetPreset", "uow")
    remove_preset = _uc("local_models.RemovePreset", "uow")
    add_local_model = _uc("local_models.AddLocalModel", "uow", "clock", "price_book")
    list_local_models = _uc("local_models.ListLocalModels", "uow")
    remove_local_model = _uc("local_models.RemoveLocalModel", "uow")
    find_local_model = _uc("local_models.FindLocalModel", "uow")
    local_compute_report = _uc("local_models.LocalComputeReport", "uow", owner="owner")


def _adapters() -> Any:
    from costhq.bootstrap import adapters

    return adapters
