"""The budget reservations half of BudgetRepository on both SQL back ends: the statements are the
same on SQLite and PostgreSQL (see the package doc). The rules and spend halves stay per dialect
(PostgreSQL locks the rules `FOR UPDATE`; the spend sums read each back end's rollup)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from costhq.adapters.persistence.converter import time_text
from costhq.adapters.persistence.sql import SqlDb
from costhq.domain.money import to_units


class SqlReservations:
    """Reserve, lease, release and expire rows of `budget_reservations`; the rules version counter."""

    _sql: SqlDb

    def reserve(self, *, session_id: int | None, project: str | None, model: str, amount: Decimal,
                at: datetime, expires_at: datetime) -> int:
        return self._sql.insert(
            "INSERT INTO budget_reservations (session_id, project, model, amount_units, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, project, model, to_units(amount), time_text(at), time_text(expires_at)))

    def lease(self, reservation_id: int | None, *, session_id: int | None, project: str | None, model: str,
              amount: Decimal, at: datetime, expires_at: datetime) -> int:
        if reservation_id is not None and self._sql.run(
                "UPDATE budget_reservations SET amount_units = ?, created_at = ?, expires_at = ? WHERE id = ?",
                (to_units(amount), time_text(at), time_text(expires_at), reservation_id)):
            return reservation_id
        return self.reserve(session_id=session_id, project=project, model=model, amount=amount, at=at,
                            expires_at=expires_at)

    def release(self, reservation_id: int) -> bool:
        return self._sql.run("DELETE FROM budget_reservations WHERE id = ?", (reservation_id,)) > 0

    def expire(self, now: datetime) -> int:
        return self._sql.run("DELETE FROM budget_reservations WHERE expires_at <= ?", (time_text(now),))

    def rules_version(self) -> int:
        return int(self._sql.rows("SELECT rules AS rules FROM firewall_version WHERE id = 1")[0]["rules"])
