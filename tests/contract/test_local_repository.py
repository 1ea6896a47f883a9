"""LocalRepository contract: the in-memory fake and APSW (schema v5) behave the same."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costhq.adapters.persistence.memory.queries import InMemoryDataReset
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.adapters.persistence.sqlite.reset import ApswDataReset
from costhq.application.errors import Conflict
from costhq.domain.local_models import BUILTIN_PRESETS, HardwarePreset, LocalCompute, LocalModel
from costhq.domain.pricing import PriceSource
from costhq.domain.reports import ReportFilter
from costhq.domain.sessions import NewSession
from costhq.domain.usage import TokenCounts, UsageRecord

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["in_memory", "apsw", "postgres"])
def backend(request: pytest.FixtureRequest, db_path: Path) -> tuple[Callable[[], Any], Any]:
    """(uow factory, Start Fresh) on one storage."""
    if request.param == "in_memory":
        store = InMemoryStore()
        return (lambda: InMemoryUnitOfWork(store)), InMemoryDataReset(store)
    if request.param == "postgres":
        from costhq.adapters.persistence.postgres.reset import PgDataReset
        from costhq.adapters.persistence.postgres.uow import PgUnitOfWork

        url = request.getfixturevalue("pg_url")
        return (lambda: PgUnitOfWork(url)), PgDataReset(url)
    from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork

    return (lambda: ApswUnitOfWork(str(db_path))), ApswDataReset(str(db_path))


def _session(uow: Any, cwd: str = "/p") -> int:
    return int(uow.sessions.add(NewSession(name="s", start_time=T0, working_directory=cwd)).id)


def _usage(uow: Any, sid: int, at: datetime, tokens: int = 10) -> int:
    rec = uow.usage.add(UsageRecord(session_id=sid, provider="ollama", model="llama3", tokens=TokenCounts(input=tokens),
                                    total_tokens=tokens, cost=Decimal("0.1"), price_source=PriceSource.LOCAL,
                                    timestamp=at, duration_ms=1000))
    return int(rec.id)


def _compute(uid: int, model: str, hw: str, ms: int, cost: str, api: str | None = None) -> LocalCompute:
    return LocalCompute(usage_id=uid, model=model, hardware=hw, usd_per_hour=Decimal("2.69"), duration_ms=ms,
                        cost=Decimal(cost), api_equivalent_model=None if api is None else "gpt-4o-mini",
                        api_equivalent_cost=None if api is None else Decimal(api))


def test_fresh_storage_holds_the_builtin_presets(backend: Any) -> None:
    make, _ = backend
    with make() as uow:
        presets = uow.local.presets()
    assert presets == sorted(BUILTIN_PRESETS, key=lambda p: p.name)
    assert [p.name for p in presets] == ["apple-silicon-cpu", "local-rtx-4090", "runpod-a100", "runpod-h100",
                                         "vast-a100", "vast-h100"]


def test_presets_and_models_are_upserted_removed_and_rolled_back(backend: Any) -> None:
    make, _ = backend
    with make() as uow:
        uow.local.put_preset(HardwarePreset(name="runpod-h100", usd_per_hour=Decimal("3.1"), source="user"))
        uow.local.put_model(LocalModel(name="llama3", runtime="ollama", hardware="runpod-h100", added_at=T0,
                                       base_url="http://127.0.0.1:11434", api_equivalent="openai/gpt-4o-mini"))
    with make() as uow:
        h100 = uow.local.preset("runpod-h100")
        assert (h100.usd_per_hour, h100.source, h100.builtin) == (Decimal("3.1"), "user", False)
        assert uow.local.model("llama3") == LocalModel(name="llama3", runtime="ollama", hardware="runpod-h100",
                                                       added_at=T0, base_url="http://127.0.0.1:11434",
                                                       api_equivalent="openai/gpt-4o-mini")
        assert uow.local.models_on("runpod-h100") == ["llama3"] and uow.local.models_on("vast-a100") == []
    with pytest.raises(RuntimeError), make() as uow:
        uow.local.remove_model("llama3")
        raise RuntimeError("roll back")
    with make() as uow:
        assert [m.name for m in uow.local.models()] == ["llama3"]
        assert uow.local.remove_model("llama3") and not uow.local.remove_model("llama3")
        assert uow.local.remove_preset("runpod-h100") and uow.local.preset("runpod-h100") is None
        assert not uow.local.remove_preset("runpod-h100")


def test_foreign_keys_hold_in_both_backends(backend: Any) -> None:
    make, _ = backend
    with pytest.raises(Conflict), make() as uow:
        uow.local.put_model(LocalModel(name="x", runtime="vllm", hardware="no-such-preset", added_at=T0))
    with make() as uow:
        uow.local.put_model(LocalModel(name="x", runtime="vllm", hardware="vast-a100", added_at=T0))
    with pytest.raises(Conflict), make() as uow:
        uow.local.remove_preset("vast-a100")
    with pytest.raises(Conflict), make() as uow:
        uow.local.add_compute(_compute(999, "x", "vast-a100", 1, "0.1"))


def test_compute_links_to_usage_and_summaries_aggregate_exactly(backend: Any) -> None:
    make, _ = backend
    with make() as uow:
        a, b = _session(uow, "/a"), _session(uow, "/b")
        u1, u2, u3 = _usage(uow, a, T0, 100), _usage(uow, a, T0 + timedelta(hours=2), 50), _usage(uow, b, T0, 7)
        stored = uow.local.add_compute(_compute(u1, "llama3", "runpod-h100", 12_500, "0.0093402778", "0.00045"))
        uow.local.add_compute(_compute(u2, "llama3", "local-rtx-4090", 3_600_000, "0.102"))
        uow.local.add_compute(_compute(u3, "qwen", "runpod-h100", 1, "0.0000007472", "0.0000000001"))
    assert stored == _compute(u1, "llama3", "runpod-h100", 12_500, "0.0093402778", "0.00045")
    with make() as uow:
        assert uow.local.compute_for(u2) == _compute(u2, "llama3", "local-rtx-4090", 3_600_000, "0.102")
        assert uow.local.compute_for(12345) is None
        s = uow.local.summary(ReportFilter())
        by_model = uow.local.summary(ReportFilter(project="/a", until=T0 + timedelta(hours=1)))
    assert [(g.key, g.calls, g.duration_ms, g.cost, g.api_equivalent_cost, g.total_tokens) for g in s.by_hardware] == [
        ("local-rtx-4090", 1, 3_600_000, Decimal("0.102"), Decimal(0), 50),
        ("runpod-h100", 2, 12_501, Decimal("0.0093410250"), Decimal("0.0004500001"), 107)]
    assert [(g.key, g.calls, g.cost) for g in s.by_model] == [("llama3", 2, Decimal("0.1113402778")),
                                                             ("qwen", 1, Decimal("0.0000007472"))]
    assert (s.calls, s.duration_ms, s.cost) == (3, 3_612_501, Decimal("0.1113410250"))
    assert [(g.key, g.calls) for g in by_model.by_model] == [("llama3", 1)]


def test_start_fresh_takes_the_compute_rows_along(backend: Any) -> None:
    make, reset = backend
    with make() as uow:
        uid = _usage(uow, _session(uow), T0)
        uow.local.add_compute(_compute(uid, "llama3", "runpod-h100", 10, "0.1"))
    assert reset.clear_all().ai_usage == 1
    with make() as uow:
        assert uow.local.summary(ReportFilter()).calls == 0 and uow.local.compute_for(uid) is None
        uid2 = _usage(uow, _session(uow), T0)  # ids restart at 1: no stale compute may attach
        assert uid2 == uid and uow.local.compute_for(uid2) is None
        assert len(uow.local.presets()) == len(BUILTIN_PRESETS)  # presets are settings, not session data
