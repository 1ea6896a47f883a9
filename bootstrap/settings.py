"""Settings: the data dir (`$COSTHQ_HOME` or `~/.costhq`), file locations, and `config.toml`.

Storage (issue 16): `COSTHQ_DATABASE_URL` (else `[storage] url` in config.toml) names a shared
PostgreSQL database (`postgresql://...`, or a libpq key/value string such as `service=team`);
without it everything stays in the data dir's SQLite file. Who and where: `[user] name`
(default: the OS user) and `[user] machine` (default: the host name) stamp team records.
"""

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
    def user_name(self) -> str:
        """`[user] name`, else the OS user."""
        import getpass

        name = self.section("user").get("name")
        if name:
            return str(name)
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (containers)
            return "unknown"

    @property
    def machine(self) -> str:
        """`[user] machine`, else the host name."""
        import socket

        return str(self.section("user").get("machine") or socket.gethostname())


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
    url = str(url).strip()
    low = url.lower()
    if not (low.startswith(("postgresql://", "postgres://")) or low.split("=", 1)[0].strip() in _CONNINFO_KEYS):
        import re

        shown = re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", url)
        raise InvalidArgument(f"COSTHQ_DATABASE_URL / [storage] url must be a postgresql:// URL or a libpq"
                              f" connection string, not {shown!r}")
    return url


_CONNINFO_KEYS = ("service", "host", "hostaddr", "dbname", "user", "port")


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
