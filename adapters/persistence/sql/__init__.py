"""What the SQL back ends share at the statement level: one placeholder style for SQL both run.

Repositories whose SQL really is the same on SQLite and PostgreSQL (this package) are
written once, in SQLite's placeholder style (`?` positional, `:name` named), against `SqlDb`:
sqlite/db.py's `Db` runs it as is, postgres/db.py's `PgDb.portable()` rewrites it to psycopg's
style (`%s`, `%(name)s`, a literal `%` doubled) once per statement text. What differs between the
dialects (DDL, upserts that lock, functions such as `instr`) stays in sqlite/ and postgres/.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any, ClassVar, Protocol, TypeVar

T = TypeVar("T")

_TOKENS = re.compile(r"'(?:[^']|'')*'|::|:([A-Za-z_]\w*)|\?|%")


class SqlDb(Protocol):
    """Statements in SQLite's placeholder style, rows as dicts keyed by `AS` names."""

    dialect: str  # "sqlite" | "postgres"

    def rows(self, sql: str, params: Any = ...) -> list[dict[str, Any]]: ...
    def run(self, sql: str, params: Any = ...) -> int: ...
    def many(self, sql: str, params: Any, cls: type[T]) -> list[T]: ...
    def one(self, sql: str, params: Any, cls: type[T]) -> T | None: ...
    def insert(self, sql: str, params: Any) -> int: ...  # an INSERT of one row: its new id


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """`sql` with SQLite placeholders in psycopg's style; quoted literals and `::` casts kept.

    >>> to_pyformat("SELECT a::bigint FROM t WHERE b = ? AND c = :c AND d LIKE '50%:x'")
    "SELECT a::bigint FROM t WHERE b = %s AND c = %(c)s AND d LIKE '50%%:x'"
    """

    def swap(m: re.Match[str]) -> str:
        text = m.group(0)
        if text.startswith("'"):
            return text.replace("%", "%%")
        if m.group(1):
            return f"%({m.group(1)})s"
        return {"?": "%s", "%": "%%"}.get(text, text)

    return _TOKENS.sub(swap, sql)


def contains(db: SqlDb, column: str, param: str) -> str:
    """A case-insensitive substring test of `column` against the named parameter `param`."""
    find = "instr" if db.dialect == "sqlite" else "strpos"
    return f"{find}(lower({column}), lower(:{param})) > 0"


class LazyRepositories:
    """A unit of work's repositories built on first use over its `_db` (`LAZY`: attribute name ->
    "module:Class"): `cs status` and `cs log-ai` never touch them, so they skip their imports
    (ADR 0003); a command that does use one imports it once, inside its transaction."""

    LAZY: ClassVar[dict[str, str]] = {
        "imports": "costhq.adapters.persistence.sql.integrations:SqlImportRepository",
        "today": "costhq.adapters.persistence.sql.integrations:SqlTodayRepository",
        "local": "costhq.adapters.persistence.sql.local:SqlLocalRepository",
    }  # a back end adds its own (its `reports`: bucketing by time zone is dialect-specific)

    def _forget_lazy(self) -> None:
        for name in self.LAZY:
            self.__dict__.pop(name, None)  # built on an earlier `with` block's (closed) connection

    def __getattr__(self, name: str) -> Any:
        target = self.LAZY.get(name)
        if target is None or "_db" not in self.__dict__:
            raise AttributeError(name)
        module, _, cls = target.partition(":")
        repo = getattr(importlib.import_module(module), cls)(self.__dict__["_db"])
        setattr(self, name, repo)
        return repo
