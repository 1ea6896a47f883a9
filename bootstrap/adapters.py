"""Factories of the real adapters behind the core graph's ports (imported only when built).

Config (`config.toml`):
    [firewall]  unpriced = "allow" | "block";  reservation_ttl_seconds = 600
    [budgets]   timezone = "Europe/Paris"      (default: the system zone)
    [audit]     key = "..."                    (COSTHQ_AUDIT_KEY wins; enables HMAC-SHA-256)
    [storage]   url = "postgresql://..."       (COSTHQ_DATABASE_URL wins; team mode, issue 16)
    [user]      name = "ann"; machine = "ann-laptop"   (who and where on team records)
"""

from __future__ import annotations

import os
from typing import Any

from costhq.bootstrap.settings import Settings
from costhq.domain.errors import InvalidArgument


def uow_factory(settings: Settings, *, read_only: bool = False, durable: bool = True, pooled: bool = False) -> Any:
    """Every front end's units of work (new sessions carry who and where); `pooled`: on a team database,
    from the process's bounded psycopg-pool (the long-running front ends' threads share it)."""
    kw: dict[str, Any] = {"audit_key": audit_key(settings), "read_only": read_only, "durable": durable,
                          **settings.who, **({"pooled": True} if pooled and settings.database_url else {})}
    return lambda: _storage(settings, "postgres.uow.PgUnitOfWork", "sqlite.uow.ApswUnitOfWork", **kw)


def _storage(settings: Settings, pg: str, sqlite: str, **kw: Any) -> Any:
    """Persistence adapter `module.Class` of the configured back end, built on the URL or the file."""
    import importlib

    target, where = (pg, settings.database_url) if settings.database_url else (sqlite, str(settings.db_path))
    module, _, cls = target.rpartition(".")
    return getattr(importlib.import_module(f"costhq.adapters.persistence.{module}"), cls)(where, **kw)


def firewall_probe(settings: Settings) -> Any:
    """The request path's reads (rules version, runaway arming, samples) on a persistent connection."""
    return _storage(settings, "postgres.firewall.PgFirewallProbe", "sqlite.firewall.ApswFirewallProbe")


def usage_batch(settings: Settings) -> Any:
    """The proxy's usage writes in batches (one transaction each, a savepoint per call)."""
    return _storage(settings, "postgres.batch.PgBatch", "sqlite.proxy.ApswBatch", audit_key=audit_key(settings),
                    **(settings.who if settings.database_url else {}))


def schema_admin(settings: Settings) -> Any:
    """`cs db migrate`'s port on the configured back end."""
    return _storage(settings, "postgres.admin.PgSchemaAdmin", "sqlite.admin.SqliteSchemaAdmin")


def history_push(settings: Settings) -> Any:
    """`cs db push`'s port: this machine's SQLite history into a team database."""
    from costhq.adapters.persistence.postgres.push import SqliteToPostgresPush

    return SqliteToPostgresPush(str(settings.db_path), **settings.who, audit_key=audit_key(settings))


def git() -> Any:
    from costhq.adapters.watchers.git_scope import LazyGitMetadata

    return LazyGitMetadata()


def custom_prices(settings: Settings) -> Any:
    from costhq.adapters.persistence.custom_prices import JsonCustomPriceStore

    return JsonCustomPriceStore(settings.pricing_path)


def price_book(settings: Settings, custom: Any) -> Any:
    from costhq.adapters.persistence.price_book import CatalogPriceBook
    from costhq.adapters.persistence.price_catalog import PriceCatalog

    return CatalogPriceBook(PriceCatalog(settings.cache_dir), custom)


def audit_key(settings: Settings) -> bytes | None:
    """`COSTHQ_AUDIT_KEY`, else `[audit] key`, else None (plain SHA-256 chain)."""
    key = os.environ.get("COSTHQ_AUDIT_KEY") or settings.section("audit").get("key")
    return str(key).encode("utf-8") if key else None


def audit_anchor(settings: Settings) -> Any:
    """The audit chain's head file in the data dir (written after each commit that appends); none on
    a team database (docs/team.md: a machine's file would not follow the other machines' appends)."""
    if settings.database_url:
        return None
    from costhq.adapters.persistence.audit_head import FileAuditAnchor, head_path

    return FileAuditAnchor(head_path(settings.db_path), audit_key(settings))


def firewall_policy(settings: Settings) -> Any:
    """The policy from config; a bad zone or policy value is an error, never ignored."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from costhq.adapters._shared.clock import system_zone
    from costhq.application.budgets import FirewallPolicy

    fw, budgets = settings.section("firewall"), settings.section("budgets")
    unpriced = str(fw.get("unpriced", "allow"))
    if unpriced not in ("allow", "block"):
        raise InvalidArgument(f'[firewall] unpriced must be "allow" or "block", not {unpriced!r}')
    zone_name = budgets.get("timezone")
    try:
        tz = ZoneInfo(str(zone_name)) if zone_name else system_zone()
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(f"[budgets] timezone {zone_name!r} is not a known zone") from exc
    return FirewallPolicy(tz=tz, block_unpriced=unpriced == "block",
                          reservation_ttl_s=int(fw.get("reservation_ttl_seconds", 600)))


def claude_logs() -> Any:
    from costhq.adapters.watchers.claude_code_logs import ClaudeCodeLogs

    return ClaudeCodeLogs(os.environ, os.path.expanduser("~"))


def codex_logs() -> Any:
    from costhq.adapters.watchers.codex_logs import CodexLogs

    return CodexLogs(os.environ, os.path.expanduser("~"))


def work_tree() -> Any:
    from costhq.adapters.watchers.pygit2_today import Pygit2WorkTree

    return Pygit2WorkTree()


def file_state(path: str) -> tuple[int, int, int]:
    """(size, inode, mtime_ns) of a transcript; raises OSError when it is missing."""
    st = os.stat(path)
    return st.st_size, st.st_ino, st.st_mtime_ns


def dashboard_queries(settings: Settings) -> Any:
    return _storage(settings, "postgres.queries.PgDashboardQueries", "sqlite.queries.ApswDashboardQueries")


def data_reset(settings: Settings) -> Any:
    return _storage(settings, "postgres.reset.PgDataReset", "sqlite.reset.ApswDataReset", audit_key=audit_key(settings))
