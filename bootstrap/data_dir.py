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
    from costhq.adapters.persistence.legacy import migrate_codesession

    report = migrate_codesession(legacy, settings.db_path)
    legacy_pricing = legacy / "pricing.json"
    if legacy_pricing.exists() and not settings.pricing_path.exists():
        import shutil  # first run only

        shutil.copy2(legacy_pricing, settings.pricing_path)
    sys.stderr.write(
        f"costhq: migrated data from {legacy} to {data_dir} ({report.summary()}); "
        f"the old directory was left untouched.\n"
    )
