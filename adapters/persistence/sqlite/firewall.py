"""APSW BudgetRepository (ports of issues 4 and 14; its statements: persistence/sql/budgets.py)
and the firewall's request-path probe.

Assumptions: runs inside an ApswUnitOfWork IMMEDIATE transaction, so a reservation's (or a
lease's) "sum, compare, write" is atomic across processes. `ApswFirewallProbe` answers the
request path's reads on one persistent connection (see its docstring).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from costhq.adapters.persistence.converter import RowConverter, parse_time, time_text
from costhq.adapters.persistence.rows import config_from_json
from costhq.adapters.persistence.sql.budgets import SqlBudgets
from costhq.adapters.persistence.sqlite.connection import DataVersion, open_connection
from costhq.adapters.persistence.sqlite.db import Db
from costhq.adapters.persistence.sqlite.transaction import translate_errors
from costhq.domain.estimates import CostSample
from costhq.domain.runaway import RunawayAction


class ApswBudgetRepository(SqlBudgets):
    """BudgetRepository on SQLite (persistence/sql/budgets.py)."""

    def __init__(self, db: Db) -> None:
        self._db, self._sql = db, db.portable()


class ApswFirewallProbe:
    """FirewallProbe on one persistent read connection (autocommit reads, never the write lock).

    The rules version and the runaway arming are answered from memory until `version` (a
    `DataVersion`, shared with the proxy's other request-path caches) says another connection
    committed (or an open block trip's end passes); samples and response look-ups read each time.
    A lock serialises the worker threads on the connection.
    """

    def __init__(self, db_path: str) -> None:
        self._path = str(db_path)
        self.version = DataVersion(self._path)
        self._lock = threading.Lock()
        self._db: Db | None = None
        self._seen: int | None = None
        self._rules, self._any = 0, True
        self._blocking, self._until = False, None  # type: tuple[bool, datetime | None]

    def _repo(self) -> tuple[Db, ApswBudgetRepository]:
        if self._db is None:
            self._db = Db(open_connection(self._path), RowConverter())
        return self._db, ApswBudgetRepository(self._db)

    def _refresh(self, now: datetime) -> None:
        seen = self.version()  # before the read: a commit in between only costs one more read
        db, _repo = self._repo()
        if seen == self._seen and (self._until is None or now < self._until):
            return
        # One statement (one snapshot): after every commit of the recorder this re-reads (issue 15).
        rules, any_block, config, until = db.conn.execute(
            "SELECT (SELECT rules FROM firewall_version WHERE id = 1),"
            " EXISTS (SELECT 1 FROM budgets WHERE action = 'block'),"
            " (SELECT config FROM runaway_config WHERE id = 1),"
            " (SELECT MIN(until) FROM runaway_trips WHERE action = 'block' AND cleared_at IS NULL AND until > ?)",
            (time_text(now),)).get
        self._rules, self._any = int(rules), bool(any_block)
        self._until = parse_time(until) if until is not None else None
        self._blocking = (config is not None and config_from_json(config).action is RunawayAction.BLOCK) \
            or self._until is not None
        self._seen = seen

    def rules_version(self) -> int:
        with self._lock, translate_errors():
            self._refresh(datetime.now(UTC))
            return self._rules

    def blocking_rules(self) -> bool:
        with self._lock, translate_errors():
            self._refresh(datetime.now(UTC))
            return self._any

    def runaway_blocking(self, now: datetime) -> bool:
        with self._lock, translate_errors():
            self._refresh(now)
            return self._blocking

    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]:
        with self._lock:
            return self._repo()[1].samples(model, client, n)

    def response_tokens(self, response_id: str) -> int | None:
        with self._lock:
            return self._repo()[1].response_tokens(response_id)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.conn.close()
                self._db = None
        self.version.close()


