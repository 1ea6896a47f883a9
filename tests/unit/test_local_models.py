"""Local models: exact time-based cost math (domain) and the use cases over in-memory adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costhq.adapters._shared.clock import FixedClock
from costhq.adapters.persistence.memory.prices import InMemoryCatalog, InMemoryCustomPriceStore
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.adapters.persistence.price_book import CatalogPriceBook
from costhq.adapters.watchers.fake_git import FakeGitMetadata
from costhq.application import local_models as uc
from costhq.application.sessions import StartSession
from costhq.application.usage import LogUsage, UsageInput
from costhq.domain.errors import (
    BaseUrlNotAllowed,
    InvalidArgument,
    LocalModelNotFound,
    MissingDuration,
    PresetInUse,
    PresetNotFound,
    UnknownModel,
)
from costhq.domain.local_models import (
    BUILTIN_PRESETS,
    check_base_url,
    check_name,
    compute_cost,
    parse_rate,
    seconds_to_ms,
)
from costhq.domain.pricing import ModelPrice, PriceSource, Rate
from costhq.domain.reports import ReportFilter
from costhq.domain.usage import TokenCounts

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# --- domain ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ms", "rate", "expected"), [
    (12_500, "2.69", "0.0093402778"),      # 12.5 s x $2.69/h = 33.625 / 3600 = 0.009340277...
    (3_600_000, "0.102", "0.102"),         # one hour costs the hourly rate exactly
    (1, "2.69", "0.0000007472"),           # 1 ms: 2.69 / 3,600,000 = 7.4722e-7
    (90_000, "1.19", "0.02975"),           # 90 s x 1.19 / 3600
    (0, "2.69", "0"),
    (7 * 24 * 3_600_000, "10000", "1680000"),
])
def test_compute_cost_is_seconds_times_rate_over_3600_rounded_to_1e_10(ms: int, rate: str, expected: str) -> None:
    assert compute_cost(ms, Decimal(rate)) == Decimal(expected)


def test_compute_cost_rounds_half_even_at_the_tenth_decimal() -> None:
    # 9 ms at $0.0001/h = 2.5e-10 and 27 ms = 7.5e-10: ties go to the even neighbour (2e-10, 8e-10).
    assert compute_cost(9, Decimal("0.0001")) == Decimal("2E-10")
    assert compute_cost(27, Decimal("0.0001")) == Decimal("8E-10")


def test_seconds_are_kept_to_the_millisecond_half_even() -> None:
    assert [seconds_to_ms(v) for v in ("12.5", "0.0005", "0.0015", 3, Decimal("1.2344"), "604800")] == [
        12500, 0, 2, 3000, 1234, 604_800_000]
    for bad in ("-1", "nan", "inf", "abc", "604800.001"):
        with pytest.raises(InvalidArgument):
            seconds_to_ms(bad)


def test_rates_are_exact_finite_and_non_negative() -> None:
    assert parse_rate("2.69") == Decimal("2.69") and parse_rate("$0") == 0
    for bad in ("-0.01", "nan", "Infinity", "x", "10000.01"):
        with pytest.raises(InvalidArgument):
            parse_rate(bad)


def test_base_url_must_be_loopback_unless_the_user_allows_the_host() -> None:
    assert check_base_url("http://localhost:11434/", allow_remote=False) == "http://localhost:11434"
    assert check_base_url("http://127.0.0.2:8000/v1/", allow_remote=False) == "http://127.0.0.2:8000/v1"
    assert check_base_url("http://[::1]:8080", allow_remote=False) == "http://[::1]:8080"
    with pytest.raises(BaseUrlNotAllowed) as exc:
        check_base_url("http://gpu-box.lan:11434", allow_remote=False)
    assert exc.value.code == "base_url_not_allowed"
    assert check_base_url("https://gpu-box.lan:11434", allow_remote=True) == "https://gpu-box.lan:11434"
    for bad in ("ftp://127.0.0.1", "http://u:p@127.0.0.1", "http://127.0.0.1/?x=1", "http://127.0.0.1/a/../b",
                "127.0.0.1:80", "http://127.0.0.1:99999"):
        with pytest.raises(InvalidArgument):
            check_base_url(bad, allow_remote=True)


def test_names_are_one_url_segment() -> None:
    assert check_name("model", " llama3:8b ") == "llama3:8b"
    for bad in ("", "a b", "a/b", "../x", "-x", "a%2f"):
        with pytest.raises(InvalidArgument):
            check_name("model", bad)


def test_every_builtin_preset_cites_the_source_of_its_figure() -> None:
    names = {p.name: p for p in BUILTIN_PRESETS}
    assert set(names) == {"local-rtx-4090", "apple-silicon-cpu", "runpod-a100", "runpod-h100", "vast-a100",
                          "vast-h100"}
    assert all(p.builtin and len(p.source) > 20 and p.usd_per_hour > 0 for p in BUILTIN_PRESETS)
    assert names["runpod-h100"].usd_per_hour == Decimal("2.69")


# --- use cases -------------------------------------------------------------------------------------

class World:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.uow = lambda: InMemoryUnitOfWork(self.store)
        self.clock = FixedClock(NOW)
        self.git = FakeGitMetadata()
        catalog = InMemoryCatalog({("openai", "gpt-4o-mini"): ModelPrice(input=Rate(Decimal("0.15")),
                                                                         output=Rate(Decimal("0.60")))})
        self.prices = CatalogPriceBook(catalog, InMemoryCustomPriceStore(), now=self.clock.now)
        self.log = LogUsage(self.uow, self.clock, self.git, self.prices, None, uc.PriceLocalCall(self.uow, self.prices))
        self.add = uc.AddLocalModel(self.uow, self.clock, self.prices)
        self.session = StartSession(self.uow, self.clock, self.git)(name="local", cwd="/work").session.id

    def call(self, **kw: object) -> UsageInput:
        base: dict[str, object] = {"provider": "ollama", "model": "llama3",
                                   "tokens": TokenCounts(input=1000, output=500)}
        return UsageInput(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture
def w() -> World:
    return World()


def test_a_local_call_costs_compute_time_at_the_preset_rate_and_shows_the_api_equivalent(w: World) -> None:
    w.add(name="llama3", runtime="ollama", hardware="runpod-h100", api_equivalent="openai/gpt-4o-mini")
    logged = w.log(call=w.call(duration_ms=12_500), cwd="/work", session_id=w.session)
    r = logged.record
    assert (r.cost, r.price_source, r.rates, r.duration_ms) == (
        Decimal("0.0093402778"), PriceSource.LOCAL, {"usdPerHour": Decimal("2.69")}, 12_500)
    local = logged.local
    assert local is not None and (local.usage_id, local.hardware, local.cost) == (r.id, "runpod-h100", r.cost)
    # 1000 x $0.15/1M + 500 x $0.60/1M = $0.00045 (comparison only: never added to the session)
    assert local.api_equivalent_cost == Decimal("0.00045")
    assert logged.session.ai_cost == Decimal("0.0093402778")


def test_changing_a_preset_rate_never_rewrites_recorded_calls(w: World) -> None:
    w.add(name="llama3", runtime="ollama", hardware="local-rtx-4090")
    w.log(call=w.call(duration_ms=3_600_000), cwd="/work", session_id=w.session)
    uc.SetPreset(w.uow)(name="local-rtx-4090", usd_per_hour="0.5")
    w.log(call=w.call(duration_ms=1_800_000), cwd="/work", session_id=w.session)
    s = uc.LocalComputeReport(w.uow)()
    assert [(g.key, g.calls, g.duration_ms, g.cost) for g in s.by_hardware] == [
        ("local-rtx-4090", 2, 5_400_000, Decimal("0.352"))]  # 0.102 + 0.5 / 2
    assert s.by_hardware[0].hours == Decimal("1.5")


def test_summary_groups_by_hardware_and_model_most_expensive_first_and_filters(w: World) -> None:
    w.add(name="llama3", runtime="ollama", hardware="local-rtx-4090")
    w.add(name="qwen", runtime="vllm", hardware="runpod-a100")
    w.log(call=w.call(duration_ms=60_000), cwd="/work", session_id=w.session)
    w.clock.advance(hours=1)
    w.log(call=w.call(model="qwen", duration_ms=120_000), cwd="/work", session_id=w.session)
    s = uc.LocalComputeReport(w.uow)()
    assert [(g.key, g.cost) for g in s.by_hardware] == [("runpod-a100", Decimal("0.0396666667")),
                                                        ("local-rtx-4090", Decimal("0.0017"))]
    assert [g.key for g in s.by_model] == ["qwen", "llama3"] and (s.calls, s.duration_ms) == (2, 180_000)
    later = uc.LocalComputeReport(w.uow)(where=ReportFilter(since=datetime(2026, 11, 23, 12, 30, tzinfo=UTC)))
    assert [g.key for g in later.by_model] == ["qwen"]
    assert uc.LocalComputeReport(w.uow)(where=ReportFilter(model="LLAMA")).calls == 1


def test_a_local_call_needs_a_duration_or_a_cost_but_not_both(w: World) -> None:
    w.add(name="llama3", runtime="ollama", hardware="runpod-h100")
    with pytest.raises(MissingDuration):
        w.log(call=w.call(), cwd="/work", session_id=w.session)
    with pytest.raises(InvalidArgument):
        w.log(call=w.call(duration_ms=10, cost=Decimal("1")), cwd="/work", session_id=w.session)
    manual = w.log(call=w.call(cost=Decimal("0.25")), cwd="/work", session_id=w.session)
    assert (manual.record.price_source, manual.local) == (PriceSource.MANUAL, None)
    with InMemoryUnitOfWork(w.store) as uow:
        assert len(uow.usage.for_session(w.session)) == 1  # the refused calls wrote nothing


def test_presets_and_models_crud_with_clear_errors(w: World) -> None:
    assert [p.name for p in uc.ListPresets(w.uow)()][:2] == ["apple-silicon-cpu", "local-rtx-4090"]
    p = uc.SetPreset(w.uow)(name="my-3090", usd_per_hour="0.08", description="Desk 3090")
    assert (p.usd_per_hour, p.source, p.builtin) == (Decimal("0.08"), "user", False)
    w.add(name="mistral", runtime="llama.cpp", hardware="my-3090")
    assert uc.ListLocalModels(w.uow)()[0].base_url == "http://127.0.0.1:8080"
    with pytest.raises(PresetInUse):
        uc.RemovePreset(w.uow)(name="my-3090")
    with pytest.raises(PresetNotFound):
        w.add(name="x", runtime="ollama", hardware="nope")
    with pytest.raises(UnknownModel):
        w.add(name="x", runtime="ollama", hardware="my-3090", api_equivalent="nobody/nothing")
    with pytest.raises(BaseUrlNotAllowed):
        w.add(name="x", runtime="vllm", hardware="my-3090", base_url="http://10.0.0.9:8000")
    with pytest.raises(InvalidArgument):
        w.add(name="x", runtime="docker", hardware="my-3090")
    uc.RemoveLocalModel(w.uow)(name="mistral")
    uc.RemovePreset(w.uow)(name="my-3090")
    with pytest.raises(LocalModelNotFound):
        uc.RemoveLocalModel(w.uow)(name="mistral")
    with pytest.raises(PresetNotFound):
        uc.RemovePreset(w.uow)(name="my-3090")
    assert uc.ListLocalModels(w.uow)() == [] and len(uc.ListPresets(w.uow)()) == len(BUILTIN_PRESETS)
