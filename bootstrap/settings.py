"""Settings: the data dir (`$COSTHQ_HOME` or `~/.costhq`), file locations, and `config.toml`."""

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
    return Settings(data_dir=data_dir, legacy_dir=home / ".codesession", config=config)


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
