"""The composition root: one DeclarativeContainer wiring adapters into use cases.

Adapters are imported inside provider factories only when first resolved, so a hot
command (`cs log-ai`) never pays for pygit2, genai-prices, httpx or starlette.
"""

from __future__ import annotations

from typing import Any

from costhq.adapters._shared.clock import SystemClock
from costhq.bootstrap.lean_imports import DeferredModule, optional_integrations_hidden

with optional_integrations_hidden():
    from dependency_injector import containers, providers

# Use-case modules load on a provider's first resolve, not at `cs` start-up (ADR 0003):
# `cs status` then imports the sessions use cases, not the dashboard's or the importers'.
usage_imports = DeferredModule("costhq.application.imports")  # issue 7
pricing = DeferredModule("costhq.application.pricing")
reports = DeferredModule("costhq.application.reports")  # issue 7
sessions = DeferredModule("costhq.application.sessions")
session_queries = DeferredModule("costhq.application.session_queries")  # cs status: the reads only
usage = DeferredModule("costhq.application.usage")
today_uc = DeferredModule("costhq.application.today")  # issue 7
integrations = DeferredModule("costhq.bootstrap.integrations")  # issue 7


def _uow_factory(db_path: Any, settings: Any = None, read_only: bool = False) -> Any:
    from costhq.adapters.persistence.apsw_uow import ApswUnitOfWork
    from costhq.bootstrap.firewall_providers import audit_key

    key = audit_key(settings) if settings is not None else None  # issue 4: HMAC audit chain
    return lambda: ApswUnitOfWork(str(db_path), audit_key=key, read_only=read_only)


def _git() -> Any:
    from costhq.adapters.watchers.git_scope import LazyGitMetadata

    return LazyGitMetadata()


def _custom_prices(path: Any) -> Any:
    from costhq.adapters.persistence.custom_prices import JsonCustomPriceStore

    return JsonCustomPriceStore(path)


def _price_book(cache_dir: Any, custom: Any) -> Any:
    from costhq.adapters.persistence.price_book import CatalogPriceBook
    from costhq.adapters.persistence.price_catalog import PriceCatalog

    return CatalogPriceBook(PriceCatalog(cache_dir), custom)


class Container(containers.DeclarativeContainer):
    """Wires the real adapters; tests `override()` the gateway providers with fakes."""

    settings = providers.Dependency()

    clock = providers.Singleton(SystemClock)
    uow = providers.Singleton(_uow_factory, settings.provided.db_path, settings)
    # Use cases that only read: a WAL snapshot that neither takes nor waits for the write lock.
    read_uow = providers.Singleton(_uow_factory, settings.provided.db_path, settings, read_only=True)
    git = providers.Singleton(_git)
    custom_prices = providers.Singleton(_custom_prices, settings.provided.pricing_path)
    price_book = providers.Singleton(_price_book, settings.provided.cache_dir, custom_prices)

    start_session = providers.Singleton(sessions.StartSession, uow, clock, git)
    end_session = providers.Singleton(sessions.EndSession, uow, clock, git)
    get_session = providers.Singleton(session_queries.GetSession, read_uow, git)
    latest_session = providers.Singleton(session_queries.LatestSession, read_uow, git)
    list_sessions = providers.Singleton(session_queries.ListSessions, read_uow)
    get_stats = providers.Singleton(session_queries.GetStats, read_uow, clock)
    add_note = providers.Singleton(sessions.AddNote, uow, clock, git)
    recover_stale = providers.Singleton(sessions.RecoverStale, uow, clock)
    # issue 4: the firewall policy and LogUsage's after-record hook (budgets, runaway, audit)
    _fwp = DeferredModule("costhq.bootstrap.firewall_providers")
    firewall_policy = providers.Singleton(_fwp.firewall_policy, settings)
    usage_firewall = providers.Singleton(_fwp.usage_firewall, firewall_policy)
    _local = DeferredModule("costhq.application.local_models")  # issue 8: local models priced by compute time
    # log-ai's part of issue 8 has its own module: every call imports one use case, not nine (ADR 0003)
    price_local_call = providers.Singleton(DeferredModule("costhq.application.local_pricing").PriceLocalCall,
                                           uow, price_book)
    log_usage = providers.Singleton(usage.LogUsage, uow, clock, git, price_book, usage_firewall, price_local_call)
    background_session = providers.Singleton(usage.EnsureBackgroundSession, uow, clock)
    # issue 5: the library's writer stores every queued call in one transaction per batch
    log_usage_batch = providers.Singleton(DeferredModule("costhq.application.usage_batch").LogUsageBatch,
                                          uow, clock, git, price_book, usage_firewall, price_local_call)
    list_prices = providers.Singleton(pricing.ListPrices, price_book, custom_prices)
    _audit = DeferredModule("costhq.application.audit")  # issue 4: pricing.json changes are audited
    record_audit_event = providers.Singleton(_audit.RecordAuditEvent, uow, clock)
    set_custom_price = providers.Singleton(pricing.SetCustomPrice, custom_prices, record_audit_event)
    reset_pricing = providers.Singleton(pricing.ResetPricing, custom_prices, record_audit_event)

    # --- issue 7: agent integrations (imports, auto-log, reports, statusline, today) ---
    claude_logs = providers.Singleton(integrations.claude_logs)
    codex_logs = providers.Singleton(integrations.codex_logs)
    import_sources = providers.Dict({"claude-code": claude_logs, "codex": codex_logs})
    import_usage = providers.Singleton(usage_imports.ImportUsage, uow, clock, git, price_book, import_sources)
    auto_log = providers.Singleton(usage_imports.AutoLog, uow, clock, git, price_book, claude_logs,
                                   providers.Callable(integrations.file_state_provider))
    run_report = providers.Singleton(reports.RunReport, uow, clock)
    status_line = providers.Singleton(reports.GetStatusLine, uow, clock, git)
    work_tree = providers.Singleton(integrations.work_tree)
    today = providers.Singleton(today_uc.Today, uow, work_tree)
    today_add = providers.Singleton(today_uc.AddTodayProject, uow, clock, git)
    today_remove = providers.Singleton(today_uc.RemoveTodayProject, uow, git)

    # --- issue 5: live file/commit tracking (application/tracking.py, bootstrap/live.py) ---------
    # Imported here, not at the top, so this block stays self-contained for concurrent edits;
    # both modules are light (the watchers themselves load only when a tracker starts).
    _tracking = DeferredModule("costhq.application.tracking")
    _live = DeferredModule("costhq.bootstrap.live")

    record_file_change = providers.Singleton(_tracking.RecordFileChange, uow, clock)
    record_commit = providers.Singleton(_tracking.RecordCommit, uow, clock)
    note_branch_switch = providers.Singleton(_tracking.NoteBranchSwitch, uow, clock)
    # The watchers feed file churn to the runaway detector (issue 4's use case, stateless: a second
    # singleton here because `record_file_activity` is declared further down).
    _churn = DeferredModule("costhq.application.runaway")
    file_churn_feed = providers.Singleton(_churn.RecordFileActivity, uow, clock)
    live_tracking = providers.Singleton(_live.LiveTracking, get_session, end_session, record_file_change,
                                        record_commit, note_branch_switch, clock.provided.now, file_churn_feed)


    # --- issue 3: proxy and `cs run` (application/proxy.py, bootstrap/proxy_server.py) ------------
    # `request_guard` is the spend firewall's hook point; AllowAllGuard when none is wired.
    _proxy = DeferredModule("costhq.application.proxy")

    # issue 4: the spend firewall replaces AllowAllGuard (budgets, unpriced policy, runaway blocks)
    request_guard = providers.Singleton(_fwp.firewall_guard, uow, clock, price_book, firewall_policy)
    current_proxy_session = providers.Singleton(_proxy.CurrentProxySession, uow)
    resolve_proxy_session = providers.Singleton(_proxy.ResolveProxySession, current_proxy_session,
                                                background_session)
    record_proxy_usage = providers.Singleton(_proxy.RecordProxyUsage, log_usage, resolve_proxy_session)
    # --- issue 4: spend firewall, runaway detection, audit chain (application/budgets.py, ...) -----
    _budgets = DeferredModule("costhq.application.budgets")
    _runaway = DeferredModule("costhq.application.runaway")
    set_budget = providers.Singleton(_budgets.SetBudget, uow, clock)
    list_budgets = providers.Singleton(_budgets.ListBudgets, uow)
    remove_budget = providers.Singleton(_budgets.RemoveBudget, uow, clock)
    budget_status = providers.Singleton(_budgets.BudgetStatus, read_uow, clock, firewall_policy)
    runaway_status = providers.Singleton(_runaway.RunawayStatus, read_uow, clock)
    configure_runaway = providers.Singleton(_runaway.ConfigureRunaway, uow, clock)
    clear_runaway = providers.Singleton(_runaway.ClearRunaway, uow, clock)
    record_file_activity = providers.Singleton(_runaway.RecordFileActivity, uow, clock)
    audit_key = providers.Singleton(_fwp.audit_key, settings)
    verify_audit = providers.Singleton(_audit.VerifyAudit, uow, audit_key)
    audit_head = providers.Singleton(_audit.AuditHead, uow)
    read_audit = providers.Singleton(_audit.ReadAudit, uow)

    # --- issue 6: web dashboard, JSON API and stats card (application/dashboard.py) ----------------
    _dashboard = DeferredModule("costhq.application.dashboard")
    _dash = DeferredModule("costhq.bootstrap.dashboard_providers")

    dashboard_queries = providers.Singleton(_dash.queries, settings.provided.db_path)
    data_reset = providers.Singleton(_dash.data_reset, settings.provided.db_path, settings)
    dashboard_alerts = providers.Singleton(_dash.alerts, set_budget, list_budgets, remove_budget, budget_status)
    get_overview = providers.Singleton(_dashboard.GetOverview, dashboard_queries, clock)
    search_sessions = providers.Singleton(_dashboard.SearchSessions, dashboard_queries, clock)
    export_sessions = providers.Singleton(_dashboard.ExportSessions, dashboard_queries)
    export_session_rows = providers.Singleton(_dashboard.ExportSessionRows, dashboard_queries, clock)
    get_model_breakdown = providers.Singleton(_dashboard.GetModelBreakdown, dashboard_queries)
    get_insights = providers.Singleton(_dashboard.GetInsights, dashboard_queries, clock)
    get_card_stats = providers.Singleton(_dashboard.GetCardStats, dashboard_queries, clock)
    watch_changes = providers.Singleton(_dashboard.WatchChanges, dashboard_queries)
    start_fresh = providers.Factory(_dashboard.StartFresh, data_reset, clock=clock)

    # --- issue 8: local models & hardware presets (application/local_models.py) -------------------
    list_presets = providers.Singleton(_local.ListPresets, uow)
    set_preset = providers.Singleton(_local.SetPreset, uow)
    remove_preset = providers.Singleton(_local.RemovePreset, uow)
    add_local_model = providers.Singleton(_local.AddLocalModel, uow, clock, price_book)
    list_local_models = providers.Singleton(_local.ListLocalModels, uow)
    remove_local_model = providers.Singleton(_local.RemoveLocalModel, uow)
    find_local_model = providers.Singleton(_local.FindLocalModel, uow)
    local_compute_report = providers.Singleton(_local.LocalComputeReport, uow)
