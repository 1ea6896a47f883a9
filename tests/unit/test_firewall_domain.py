"""Budget windows (midnight, month end, DST, zones), rule evaluation, runaway detectors, audit chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from costhq.domain import audit
from costhq.domain.budgets import (
    BudgetAction,
    BudgetRule,
    BudgetScope,
    NewBudgetRule,
    evaluate,
    first_blocking,
    window,
)
from costhq.domain.runaway import (
    ActivityEvent,
    Detector,
    EventKind,
    RunawayConfig,
    WindowFacts,
    detect,
    detect_facts,
    window_facts,
)

PARIS, NY = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")
T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def rule(scope: BudgetScope, limit: str = "10", action: BudgetAction = BudgetAction.BLOCK, **kw: object) -> BudgetRule:
    return BudgetRule(id=1, created_at=T, scope=scope, limit=Decimal(limit), action=action, **kw)  # type: ignore[arg-type]


def test_daily_window_runs_from_local_midnight_to_the_next() -> None:
    # 23:30 UTC on Mar 10 is 00:30 Mar 11 in Paris: the Paris day is Mar 11.
    start, end = window(BudgetScope.DAILY, datetime(2026, 3, 10, 23, 30, tzinfo=UTC), PARIS)
    assert (start, end) == (datetime(2026, 3, 10, 23, 0, tzinfo=UTC), datetime(2026, 3, 11, 23, 0, tzinfo=UTC))
    start, end = window(BudgetScope.DAILY, datetime(2026, 3, 10, 22, 59, 59, tzinfo=UTC), PARIS)
    assert start == datetime(2026, 3, 9, 23, 0, tzinfo=UTC)


def test_dst_days_are_23_and_25_hours_long() -> None:
    start, end = window(BudgetScope.DAILY, datetime(2026, 3, 29, 12, tzinfo=UTC), PARIS)  # spring forward
    assert (start, end - start) == (datetime(2026, 3, 28, 23, tzinfo=UTC), timedelta(hours=23))
    start, end = window(BudgetScope.DAILY, datetime(2026, 10, 25, 12, tzinfo=UTC), PARIS)  # fall back
    assert (start, end - start) == (datetime(2026, 10, 24, 22, tzinfo=UTC), timedelta(hours=25))


def test_month_end_and_leap_february_in_new_york() -> None:
    start, end = window(BudgetScope.MONTHLY, datetime(2028, 3, 1, 3, tzinfo=UTC), NY)  # still Feb 29 in NY
    assert (start, end) == (datetime(2028, 2, 1, 5, tzinfo=UTC), datetime(2028, 3, 1, 5, tzinfo=UTC))
    start, end = window(BudgetScope.MONTHLY, datetime(2026, 12, 31, 23, tzinfo=UTC), UTC)
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_weekly_window_starts_on_monday() -> None:
    start, end = window(BudgetScope.WEEKLY, datetime(2026, 3, 15, 12, tzinfo=UTC), UTC)  # a Sunday
    assert (start, end) == (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC))


def test_non_calendar_scopes_have_no_window() -> None:
    for scope in (BudgetScope.TOTAL, BudgetScope.SESSION, BudgetScope.PROJECT):
        assert window(scope, T, UTC) == (None, None)


def test_exactly_the_limit_passes_a_cent_more_blocks_and_warn_never_blocks() -> None:
    r = rule(BudgetScope.TOTAL)
    assert not evaluate(r, spent=Decimal(10), now=T, tz=UTC).exceeded
    over = evaluate(r, spent=Decimal("9.99"), reserved=Decimal("0.005"), incoming=Decimal("0.0051"), now=T, tz=UTC)
    assert over.blocks
    warn = evaluate(rule(BudgetScope.TOTAL, action=BudgetAction.WARN), spent=Decimal(11), now=T, tz=UTC)
    assert (warn.exceeded, warn.blocks) == (True, False)


def test_stacked_rules_the_tightest_blocking_rule_is_reported() -> None:
    a = evaluate(rule(BudgetScope.TOTAL, "100"), spent=Decimal(50), incoming=Decimal(60), now=T, tz=UTC)
    b = evaluate(rule(BudgetScope.DAILY, "20"), spent=Decimal(15), incoming=Decimal(60), now=T, tz=UTC)
    c = evaluate(rule(BudgetScope.DAILY, "1000"), spent=Decimal(0), incoming=Decimal(60), now=T, tz=UTC)
    assert first_blocking([a, b, c]) is b
    assert first_blocking([c]) is None


def test_projection_is_linear_over_the_calendar_window() -> None:
    s = evaluate(rule(BudgetScope.DAILY), spent=Decimal(3), now=datetime(2026, 3, 10, 6, tzinfo=UTC), tz=UTC)
    assert s.projected == Decimal(12)


def test_rule_scoping_by_session_project_and_model() -> None:
    r = rule(BudgetScope.SESSION, session_id=7, model="gpt-4o")
    assert r.applies(session_id=7, project="/p", model="gpt-4o")
    assert r.applies(session_id=7, project="/p", model="gpt-4o-2024", served_model="gpt-4o")
    assert not r.applies(session_id=8, project="/p", model="gpt-4o")
    assert not r.applies(session_id=7, project="/p", model="o3")
    p = rule(BudgetScope.PROJECT, project="/repo")
    assert p.applies(session_id=1, project="/repo", model="x") and not p.applies(session_id=1, project="/o", model="x")


def test_invalid_rules_are_refused() -> None:
    for kw in ({"scope": BudgetScope.SESSION}, {"scope": BudgetScope.PROJECT}, {"scope": BudgetScope.DAILY,
                                                                                 "session_id": 3}):
        with pytest.raises(ValueError):
            NewBudgetRule(limit=Decimal(1), **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        NewBudgetRule(scope=BudgetScope.TOTAL, limit=Decimal(0))


def _calls(keys: list[str], every: int = 10) -> list[ActivityEvent]:
    return [ActivityEvent(session_id=1, kind=EventKind.CALL, key=k, at=T + timedelta(seconds=i * every))
            for i, k in enumerate(keys)]


def test_identical_calls_trip_at_k_within_the_window() -> None:
    cfg = RunawayConfig(identical_k=3)
    four = _calls(["a", "a"])
    assert detect(cfg, 1, four, T + timedelta(seconds=20)) == []
    trips = detect(cfg, 1, _calls(["a", "a", "a"]), T + timedelta(seconds=20))
    assert [t.detector for t in trips] == [Detector.IDENTICAL]
    spread = _calls(["a", "a", "a"], every=400)  # outside the 600 s window
    assert detect(cfg, 1, spread, T + timedelta(seconds=800)) == []


def test_abab_loops_trip_but_aabb_does_not() -> None:
    cfg = RunawayConfig(loop_repeats=3, identical_k=99)
    now = T + timedelta(seconds=60)
    assert [t.detector for t in detect(cfg, 1, _calls(list("xABABAB")), now)] == [Detector.LOOP]
    assert detect(cfg, 1, _calls(list("AABBAB")), now) == []


def test_velocity_and_churn_trip() -> None:
    cfg = RunawayConfig(velocity_usd_per_min=Decimal(1), velocity_window_s=300, churn_n=3)
    costs = [ActivityEvent(session_id=1, kind=EventKind.COST, cost=Decimal("2.5"), at=T + timedelta(seconds=i))
             for i in range(2)]
    assert [t.detector for t in detect(cfg, 1, costs, T + timedelta(seconds=5))] == [Detector.VELOCITY]
    files = [ActivityEvent(session_id=1, kind=EventKind.FILE, key="a.py", at=T + timedelta(seconds=i))
             for i in range(3)]
    assert [t.detector for t in detect(cfg, 1, files, T + timedelta(seconds=5))] == [Detector.CHURN]


def test_detectors_read_only_the_window_aggregates() -> None:
    """`detect_facts` on facts is `detect` on events: the newest fingerprint / path is the one counted."""
    cfg = RunawayConfig(identical_k=3, loop_repeats=2, churn_n=2, velocity_usd_per_min=Decimal(1))
    now = T + timedelta(seconds=60)
    events = _calls(["a", "a", "b", "a", ""]) + [
        ActivityEvent(session_id=1, kind=EventKind.FILE, key=k, at=T + timedelta(seconds=i)) for i, k in
        enumerate(["x", "y", "x"])] + [ActivityEvent(session_id=2, kind=EventKind.CALL, key="a", at=T)]
    facts = window_facts(cfg, [e for e in events if e.session_id == 1], now)
    assert facts == WindowFacts(repeated=("a", 3), recent_calls=("a", "b", "a", ""), churned=("x", 2))
    trips = detect_facts(cfg, 1, facts, now)
    assert trips == detect(cfg, 1, events, now)
    assert [(t.detector, t.message, t.until - t.at) for t in trips] == [
        (Detector.IDENTICAL, "the same request (a) was sent 3 times in 600s", timedelta(seconds=600)),
        (Detector.CHURN, "x was modified 2 times in 600s", timedelta(seconds=600))]
    # $5 in the 300 s window is $1/min exactly: the threshold trips, a tenth of a cent less does not.
    assert [t.message for t in detect_facts(cfg, 1, WindowFacts(spent=Decimal(5)), now)] == [
        "spending $1/min over the last 300s (threshold $1/min)"]
    assert detect_facts(cfg, 1, WindowFacts(spent=Decimal("4.999")), now) == []
    assert detect_facts(cfg, 1, WindowFacts(recent_calls=("p", "q", "p", "q")), now)[0].detector is Detector.LOOP


def test_a_normal_session_never_trips() -> None:
    cfg = RunawayConfig()
    events = []
    for i in range(60):  # an hour: a distinct call a minute at $0.05, a few edits over many files
        at = T + timedelta(minutes=i)
        events += [ActivityEvent(session_id=1, kind=EventKind.CALL, key=f"req{i}", at=at),
                   ActivityEvent(session_id=1, kind=EventKind.COST, cost=Decimal("0.05"), at=at),
                   ActivityEvent(session_id=1, kind=EventKind.FILE, key=f"f{i % 7}.py", at=at)]
        assert detect(cfg, 1, events, at) == []


def _chain(n: int, key: bytes | None = None) -> list[audit.AuditEntry]:
    out: list[audit.AuditEntry] = []
    for i in range(n):
        ev = audit.AuditEvent(event="note", actor="cli", payload={"i": i, "amount": Decimal("1.50")}, at=T)
        out.append(audit.seal(ev, seq=i + 1, prev_hash=out[-1].hash if out else audit.GENESIS, key=key))
    return out


def test_audit_chain_verifies_and_detects_each_tampering() -> None:
    chain = _chain(6)
    ok = audit.verify(chain)
    assert (ok.ok, ok.count, ok.head_seq, ok.head_hash) == (True, 6, 6, chain[-1].hash)
    import attrs

    def kind(entries: list[audit.AuditEntry], **kw: Any) -> tuple[int | None, str | None]:
        found = audit.verify(entries, **kw)
        return found.bad_seq, found.reason

    assert kind([*chain[:2], attrs.evolve(chain[2], payload={"i": 99}), *chain[3:]]) == (3, "edited")
    assert kind(chain[:3] + chain[4:]) == (4, "deleted")
    assert kind(chain[:3] + [attrs.evolve(e, seq=e.seq - 1) for e in chain[4:]]) == (4, "deleted")
    assert kind(chain[:3] + [attrs.evolve(e, seq=e.seq + 10) for e in chain[3:]]) == (4, "renumbered")
    assert kind([*chain[:2], attrs.evolve(chain[3], seq=3), attrs.evolve(chain[2], seq=4), *chain[4:]]) == (
        3, "reordered")
    assert kind(chain[:4], anchors={"head file": f"6:{chain[-1].hash}"}) == (5, "truncated")
    assert kind([], anchors={"head file": f"6:{chain[-1].hash}"}) == (1, "truncated")
    assert kind(chain, anchors={"kept": f"4:{chain[2].hash}"}) == (4, "edited")  # other history at seq 4
    assert audit.verify(chain, anchors={"kept": chain[3].hash}).ok  # the chain grew since that head


def test_hmac_segment_starts_when_the_key_is_turned_on_and_cannot_be_forged_without_it() -> None:
    key = b"s3cret"
    plain = _chain(3)
    keyed = [*plain]
    for i in range(3, 5):
        ev = audit.AuditEvent(event="note", actor="cli", payload={"i": i}, at=T)
        keyed.append(audit.seal(ev, seq=i + 1, prev_hash=keyed[-1].hash, key=key))
    v = audit.verify(keyed, key=key)
    assert (v.ok, v.keyed_from) == (True, 4)  # the old, unkeyed entries are not flagged
    assert (audit.verify(keyed).bad_seq, audit.verify(keyed).reason) == (4, "key_required")
    assert (audit.verify(keyed, key=b"wrong").bad_seq, audit.verify(keyed, key=b"wrong").reason) == (4, "edited")
    unkeyed_after = audit.seal(audit.AuditEvent(event="note", actor="cli", payload={}, at=T), seq=6,
                               prev_hash=keyed[-1].hash, key=None)
    found = audit.verify([*keyed, unkeyed_after], key=key)
    assert (found.bad_seq, found.reason) == (6, "forged")
    migration = audit.seal(audit.AuditEvent(event="migration", actor="system", payload={}, at=T), seq=6,
                           prev_hash=keyed[-1].hash, key=None)
    assert audit.verify([*keyed, migration], key=key).ok  # the schema ladder has no key
    assert audit.canonical_bytes({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_audit_time_never_goes_backwards() -> None:
    first = audit.seal(audit.AuditEvent(event="a", actor="cli", payload={}, at=T), seq=1, prev_hash=audit.GENESIS,
                       key=None)
    earlier = audit.AuditEvent(event="b", actor="cli", payload={}, at=T - timedelta(seconds=5))
    second = audit.seal(earlier, seq=2, prev_hash=first.hash, key=None, prev_at=first.at)
    assert second.at == first.at == "2026-03-10T12:00:00.000000Z" and audit.verify([first, second]).ok
