"""The unit of work's RowConverter gives exactly what the cattrs converter gave, without building it.

Rows come from a real SQLite file written through the APSW unit of work; the reference is cattrs'
generated structuring function with the rename the persistence converter used before (ADR 0003).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, override

from costhq.adapters.persistence.converter import RowConverter, make_converter, parse_time
from costhq.adapters.persistence.rows import SESSION_COLUMNS, USAGE_COLUMNS
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.domain.money import from_units
from costhq.domain.pricing import PriceSource
from costhq.domain.sessions import ChangeType, FileChange, NewSession, Session
from costhq.domain.usage import Origin, TokenCounts, UsageRecord

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _reference() -> cattrs.Converter:
    """The persistence converter's Session mapping as cattrs generated it before the hand-written hook."""
    conv = cattrs.Converter()
    conv.register_structure_hook(datetime, lambda v, _t: parse_time(v))
    conv.register_structure_hook(Decimal, lambda v, _t: Decimal(v))
    conv.register_structure_hook(Session, make_dict_structure_fn(
        Session, conv, ai_cost=override(rename="ai_cost_units", struct_hook=lambda v, _t: from_units(v))))
    return conv


def _rows(db: Path, sql: str) -> list[dict[str, Any]]:
    with ApswUnitOfWork(str(db)) as uow:
        return uow.sessions._db.rows(sql)


def _store(db: Path) -> UsageRecord:
    with ApswUnitOfWork(str(db)) as uow:
        plain = uow.sessions.add(NewSession(name="plain", start_time=T0, working_directory="/w"))
        git = uow.sessions.add(NewSession(name="git", start_time=T0 + timedelta(seconds=1), working_directory="/r",
                                          git_root="/r", start_git_head="a" * 40, branch="main"))
        uow.sessions.end(plain.id, end_time=T0 + timedelta(hours=2, microseconds=7), notes="done ✓")
        return uow.usage.add(UsageRecord(
            session_id=git.id, provider="anthropic", model="claude-sonnet-4", served_model="claude-sonnet-4-0",
            tokens=TokenCounts(input=1234, output=567, cache_read=10, cache_write_5m=3, cache_write_1h=2, reasoning=9),
            total_tokens=1816, cost=Decimal("0.0122070001"), price_source=PriceSource.BUILT_IN,
            rates={"inputPer1M": Decimal("3"), "outputPer1M": Decimal("15")}, origin=Origin.CLI, agent="coder",
            request_id="req_1", duration_ms=812, stream=True, partial=False, error=False, timestamp=T0))


def test_sessions_structure_exactly_as_the_cattrs_generated_function_did(tmp_path: Path) -> None:
    db = tmp_path / "costhq.db"
    _store(db)
    rows = _rows(db, f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY id")
    ours = [RowConverter().structure(r, Session) for r in rows]
    assert ours == [_reference().structure(r, Session) for r in rows]
    assert [make_converter().structure(r, Session) for r in rows] == ours
    assert [(s.name, s.status.value, s.notes, s.branch, s.ai_cost, s.ai_tokens, s.ai_calls) for s in ours] == [
        ("plain", "completed", "done ✓", None, Decimal(0), 0, 0),
        ("git", "active", None, "main", Decimal("0.0122070001"), 1816, 1)]
    assert ours[0].end_time == T0 + timedelta(hours=2, microseconds=7)


def test_an_added_usage_record_equals_the_row_read_back(tmp_path: Path) -> None:
    db = tmp_path / "costhq.db"
    added = _store(db)
    (row,) = _rows(db, f"SELECT {USAGE_COLUMNS} FROM ai_usage")
    assert added == RowConverter().structure(row, UsageRecord) == make_converter().structure(row, UsageRecord)
    assert (added.id, added.cost, added.rates["outputPer1M"]) == (1, Decimal("0.0122070001"), Decimal(15))


def test_other_classes_go_through_cattrs_built_once_on_first_use() -> None:
    conv = RowConverter()
    change = FileChange(session_id=3, file_path="src/app.py", change_type=ChangeType.MODIFIED, timestamp=T0)
    assert conv.unstructure(change) == make_converter().unstructure(change) == {
        "session_id": 3, "file_path": "src/app.py", "change_type": "modified",
        "timestamp": "2026-03-01T09:30:15.123456Z", "id": None}
    assert conv.full() is conv.full()
