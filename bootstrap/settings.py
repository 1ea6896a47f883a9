"""Settings: the data dir (`$COSTHQ_HOME` or `~/.costhq`), file locations, and `config.toml`;
`COSTHQ_DATABASE_URL` (else `[storage] url`) names a shared PostgreSQL database (issue 16,
`postgresql://...` or a libpq key/value string); without it everything stays in the SQLite file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from costhq.domain.errors import InvalidArgument


@attrs.frozen(kw_only=True)
class Settings:
    """Where CostHQ keeps its data, plus user configuration.

    Attributes:
        data_dir: holds sessions.db, pricing.json, config.toml and pid files.
        legacy_dir: the old tool's `~/.codesession`, migrated on first run.
        config: parsed config.toml (empty when absent).
    """

    data_dir: Path
    legacy_dir: Path
    config: dict[str, Any] = attrs.field(factory=dict)
    database_url: str | None = None  # issue 16: a PostgreSQL back end instead of sessions.db

    @property
    def db_path(self) -> Path:
        return self.data_dir / "sessions.db"

    @property
    def pricing_path(self) -> Path:
        return self.data_dir / "pricing.json"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def section(self, name: str) -> dict[str, Any]:
        value = self.config.get(name, {})
        return value if isinstance(value, dict) else {}

    @property
    def who(self) -> dict[str, str]:
        """Who and where on team records: `[user] name` (else the OS user; "unknown" without one, as
        in containers) and `[user] machine` (else the host name)."""
        import getpass

        try:
            user = str(self.section("user").get("name") or getpass.getuser())
        except (KeyError, OSError):
            user = "unknown"
        machine = self.section("user").get("machine") or os.uname().nodename  # the host name, no socket import
        return {"user": user, "machine": str(machine)}


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the environment and `config.toml`. A malformed config is an error, never ignored."""
    env = dict(os.environ) if env is None else env
    home = Path(env.get("HOME") or Path.home())
    data_dir = Path(env["COSTHQ_HOME"]).expanduser() if env.get("COSTHQ_HOME") else home / ".costhq"
    config_path = data_dir / "config.toml"
    config: dict[str, Any] = {}
    if config_path.exists():
        import tomllib  # only when there is a config: most `cs` calls never parse TOML

        try:
            config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"{config_path} is not valid TOML: {exc}") from exc
    return Settings(data_dir=data_dir, legacy_dir=home / ".codesession", config=config,
                    database_url=_database_url(env, config))


def _database_url(env: dict[str, str], config: dict[str, Any]) -> str | None:
    """`COSTHQ_DATABASE_URL`, else `[storage] url`; anything but PostgreSQL is refused (password redacted)."""
    storage = config.get("storage", {})
    url = env.get("COSTHQ_DATABASE_URL") or (storage.get("url") if isinstance(storage, dict) else None)
    if not url:
        return None
    from costhq.adapters.persistence.postgres.url import is_postgres, redact  # stdlib only: no psycopg

    if not is_postgres(url := str(url).strip()):
        raise InvalidArgument(f"COSTHQ_DATABASE_URL / [storage] url must be a postgresql:// URL or a libpq"
                              f" connection string, not {redact(url)!r}")
    return url


def user_timezone(settings: Settings, env: dict[str, str] | None = None) -> Any:
    """`[dashboard] timezone` in config.toml, else $TZ, else the system zone (/etc/localtime), else UTC."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    env = dict(os.environ) if env is None else env
    name = settings.section("dashboard").get("timezone") or env.get("TZ", "").lstrip(":")
    if not name:
        link = Path("/etc/localtime")
        if link.is_symlink() and "zoneinfo/" in str(link.readlink()):
            name = str(link.readlink()).split("zoneinfo/", 1)[1]
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(f"unknown timezone {name!r} (config.toml [dashboard] timezone or $TZ)") from exc
