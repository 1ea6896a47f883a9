"""Data-dir preparation: create it, and on first run migrate `~/.codesession` (copy, never delete)."""

from __future__ import annotations

import sys

from costhq.bootstrap.settings import Settings


def prepare_data_dir(settings: Settings) -> None:
    """Create the data dir; when it has no database yet and the old tool's dir exists, migrate it.

    `~/.costhq` wins when both exist (spec): an existing database is never overwritten.
    The message goes to stderr so `--json` stdout stays clean.
    """
    data_dir, legacy = settings.data_dir, settings.legacy_dir
    if settings.db_path.exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (legacy / "sessions.db").exists():
        return
    from costhq.adapters.persistence.sqlite.legacy import migrate_codesession

    report = migrate_codesession(legacy, settings.db_path)
    legacy_pricing = legacy / "pricing.json"
    if legacy_pricing.exists() and not settings.pricing_path.exists():
        import shutil  # first run only

        shutil.copy2(legacy_pricing, settings.pricing_path)
        _adopt_prices(settings)
    sys.stderr.write(
        f"costhq: migrated data from {legacy} to {data_dir} ({report.summary()}); "
        f"the old directory was left untouched.\n"
    )


def _adopt_prices(settings: Settings) -> None:
    """Audit the copied overrides (issue 14: the chain covers every price override)."""
    from costhq.adapters._shared.clock import SystemClock
    from costhq.application.audit import AdoptCustomPrices
    from costhq.bootstrap import adapters
    from costhq.domain.errors import CostHQError

    try:
        AdoptCustomPrices(adapters.uow_factory(settings), SystemClock(), adapters.custom_prices(settings))()
    except CostHQError as exc:  # a malformed old file: `cs pricing` reports it; the migration goes on
        sys.stderr.write(f"costhq: the old pricing.json was copied but not audited: {exc.message}\n")
