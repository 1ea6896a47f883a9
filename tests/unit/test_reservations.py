"""Issue 14: expected-cost estimates (domain) and the reservation ledger + guard on verified fakes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest

from costhq.adapters.persistence.memory.firewall import InMemoryFirewallProbe
from costhq.application.budgets import FirewallPolicy, SetBudget
from costhq.application.firewall import FirewallGuard
from costhq.application.reservations import ReservationLedger
from costhq.application.usage import UsageInput
from costhq.domain.errors import BudgetExceeded
from costhq.domain.estimates import (
    DEFAULT_EXPECTED_OUTPUT,
    CostSample,
    RequestShape,
    expected_cost,
    expected_output,
    input_ratio,
    input_tokens,
    shape_of,
)
from costhq.domain.usage import Origin, TokenCounts
from tests.unit.core_world import REPO, SONNET, World, make_world

D = Decimal


def test_the_shape_counts_text_and_what_the_request_references_never_blob_bytes() -> None:
    blob = "A" * 300_000  # a base64 image: 300 KB that must not count as 75,000 text tokens
    req = {"model": "m", "max_output_tokens": 700, "previous_response_id": "resp_9", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "abcd"},
                                     {"type": "input_image", "image_url": f"data:image/png;base64,{blob}"},
                                     {"type": "input_file", "file_id": "file-1"}]}]}
    shape = shape_of(req)
    text = sum(len(k) for k in ("model", "max_output_tokens", "previous_response_id", "input", "role", "content",
                                "type", "text")) + len("m" + "resp_9" + "user" + "input_text" + "abcd")
    assert shape == RequestShape(text_bytes=text, images=1, files=1, previous_response_id="resp_9",
                                 max_output_tokens=700)
    anthropic = {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "data": blob}},
        {"type": "document", "source": {"type": "base64", "data": blob}},
        {"type": "document", "source": {"type": "text", "data": "ééé"}}]}], "max_tokens": True}
    a = shape_of(anthropic)
    assert (a.images, a.files, a.max_output_tokens) == (1, 1, None)  # a bool is no ceiling
    assert a.text_bytes < 200  # the text document counts (6 bytes of ééé), the blobs do not
    assert input_tokens(shape, "openai", referenced=20_500) == -(-text // 4) + 1_536 + 10_000 + 20_500
    assert input_tokens(RequestShape(images=2), "anthropic") == 3_200


def test_expected_output_is_a_high_percentile_of_recent_calls_capped_by_max_tokens() -> None:
    def s(out: int) -> CostSample:
        return CostSample(estimated_input=D("0.01"), input_cost=D("0.002"), output_tokens=out)

    assert expected_output([], None) == DEFAULT_EXPECTED_OUTPUT == 4_096
    assert expected_output([], 64_000) == 4_096 and expected_output([], 1_000) == 1_000
    assert expected_output([s(100), s(200)], None) == 4_096  # fewer than 3 samples: the default
    ten = [s(n) for n in (10, 20, 30, 40, 50, 60, 70, 80, 90, 1_000)]
    assert expected_output(ten, None) == 90 and expected_output(ten, 50) == 50  # p90, nearest rank
    assert input_ratio(ten) == D("0.2") and input_ratio(ten[:2]) == 1
    assert expected_cost(SONNET, input_tokens=10_000, output_tokens=1_000, ratio=D("0.2")) == D("0.021")


def _ledger(w: World, ttl: int = 600, ahead: int = 4) -> ReservationLedger:
    return ReservationLedger(w.uow, InMemoryFirewallProbe(w.store), FirewallPolicy(tz=UTC, reservation_ttl_s=ttl),
                             ahead=ahead)


def _guard(w: World, ledger: ReservationLedger | None = None) -> FirewallGuard:
    policy = FirewallPolicy(tz=UTC)
    return FirewallGuard(w.uow, w.clock, w.prices, policy, ledger or _ledger(w))


def _session_with_budget(w: World, limit: str) -> int:
    sid = w.start()(name="t", cwd=REPO).session.id
    SetBudget(w.uow, w.clock)(scope="session", limit=D(limit), session_id=sid)
    return sid


def _reserved(w: World) -> list[D]:
    with w.uow() as uow:
        return sorted(r.amount for r in uow.budgets._fw.reservations.values())


def test_holds_fill_the_limit_exactly_and_the_lease_takes_whole_calls_ahead() -> None:
    w = make_world()
    sid = _session_with_budget(w, "1")
    ledger = _ledger(w)
    holds = [ledger.admit(session_id=sid, model="m", amount=D("0.1"), now=w.clock.now()) for _ in range(10)]
    assert _reserved(w) == [D(1)]  # ten calls held: the lease covers exactly the limit
    with pytest.raises(BudgetExceeded) as exc:
        ledger.admit(session_id=sid, model="m", amount=D("0.1"), now=w.clock.now())
    assert (exc.value.details["reserved"], exc.value.details["expected"]) == ("1.0000000000", "0.1")
    first = _ledger(w).admit  # another process
    with pytest.raises(BudgetExceeded):
        first(session_id=sid, model="m", amount=D("0.0000000001"), now=w.clock.now())
    for h in holds[:5]:
        assert ledger.release(h, None) is True and ledger.release(h, None) is False  # idempotent
    ledger.admit(session_id=sid, model="m", amount=D("0.4"), now=w.clock.now())  # in memory: 0.5 is free again
    with pytest.raises(BudgetExceeded):  # others still see the whole lease until it is renewed or given back
        _ledger(w).admit(session_id=sid, model="m", amount=D("0.1"), now=w.clock.now())
    ledger.close()
    assert _ledger(w).admit(session_id=sid, model="m", amount=D(1), now=w.clock.now()).lease is not None


def test_a_lease_leaves_other_processes_their_share_of_a_tight_budget() -> None:
    w = make_world()
    sid = _session_with_budget(w, "0.25")
    a, b = _ledger(w), _ledger(w)
    a.admit(session_id=sid, model="m", amount=D("0.1"), now=w.clock.now())
    assert _reserved(w) == [D("0.1")]  # 0.15 left is 1.5 calls: half of it holds no whole call
    b.admit(session_id=sid, model="m", amount=D("0.1"), now=w.clock.now())
    with pytest.raises(BudgetExceeded):
        a.admit(session_id=sid, model="m", amount=D("0.1"), now=w.clock.now())


def test_recorded_spend_moves_from_the_hold_to_spent_and_a_new_rule_applies_at_once() -> None:
    w = make_world()
    sid = _session_with_budget(w, "1")
    ledger = _ledger(w)
    h = ledger.admit(session_id=sid, model="claude-sonnet-4", amount=D("0.5"), now=w.clock.now())
    logged = w.log()(call=UsageInput(provider="anthropic", model="claude-sonnet-4", origin=Origin.PROXY,
                                     tokens=TokenCounts(input=100_000, output=10_000)), cwd=REPO, session_id=sid)
    assert logged.record.cost == D("0.45")
    ledger.release(h, logged.record.cost)
    ledger.admit(session_id=sid, model="claude-sonnet-4", amount=D("0.5"), now=w.clock.now())  # 0.45 + 0.5 <= 1
    SetBudget(w.uow, w.clock)(scope="daily", limit=D("0.9"))  # the rules version changes: the lease renews
    with pytest.raises(BudgetExceeded) as exc:
        ledger.admit(session_id=sid, model="claude-sonnet-4", amount=D("0.01"), now=w.clock.now())
    assert exc.value.details["scope"] == "daily"


def test_a_hold_never_released_stops_counting_after_the_ttl_and_close_gives_leases_back() -> None:
    w = make_world()
    sid = _session_with_budget(w, "1")
    ledger = _ledger(w, ttl=60)
    ledger.admit(session_id=sid, model="m", amount=D("0.9"), now=w.clock.now())  # a crashed call
    with pytest.raises(BudgetExceeded):
        ledger.admit(session_id=sid, model="m", amount=D("0.2"), now=w.clock.now())
    w.clock.advance(seconds=61)
    ledger.admit(session_id=sid, model="m", amount=D("0.2"), now=w.clock.now())
    ledger.close()
    assert _reserved(w) == []


def test_without_a_blocking_rule_nothing_is_reserved() -> None:
    w = make_world()
    sid = w.start()(name="t", cwd=REPO).session.id
    SetBudget(w.uow, w.clock)(scope="session", limit=D("0.01"), session_id=sid, action="warn")
    hold = _ledger(w).admit(session_id=sid, model="m", amount=D(5), now=w.clock.now())
    assert (hold.lease, _reserved(w)) == (None, [])


def test_the_guard_counts_the_previous_response_and_learns_from_settled_calls() -> None:
    """The issue's overshoot: a Responses call continuing `resp_1` is billed resp_1's whole context;
    its small body used to be the estimate."""
    w = make_world()
    sid = _session_with_budget(w, "10")
    guard = _guard(w)
    prior = w.log()(call=UsageInput(provider="anthropic", model="claude-sonnet-4", request_id="resp_1",
                                    tokens=TokenCounts(input=20_000, output=500), origin=Origin.PROXY),
                    cwd=REPO, session_id=sid)
    shape = RequestShape(text_bytes=400, previous_response_id="resp_1", max_output_tokens=1_000)
    est = guard.estimate(provider="anthropic", model="claude-sonnet-4", shape=shape, client="cli")
    assert (est.input_tokens, est.output_tokens, est.amount) == (20_600, 1_000, D("0.0768"))  # 20,600 x $3 + $15k
    for _ in range(3):
        ticket = guard.reserve(session_id=sid, provider="anthropic", model="claude-sonnet-4", shape=shape,
                               client="cli")
        guard.settle(ticket, prior.record)  # billed like resp_1: $0.0675, 500 out
    learned = guard.estimate(provider="anthropic", model="claude-sonnet-4", shape=shape, client="cli")
    assert (learned.output_tokens, learned.amount) == (500, D("0.0675"))  # ratio 60,000/61,800 of full input
    other = guard.estimate(provider="anthropic", model="claude-sonnet-4", shape=shape, client="other-tool")
    assert other.amount == D("0.0675")  # a client never seen falls back to the model's recent calls


def test_a_metered_call_holds_what_it_cost_until_stored_and_teaches_the_next_estimate_once() -> None:
    """The proxy knows a call's usage before its record is stored: an agent whose next turn comes
    first must meet that cost in the ledger, not the first-call estimate (Claude Code, $1 budget)."""
    w = make_world()
    sid = _session_with_budget(w, "1")
    guard = _guard(w)
    shape = RequestShape(text_bytes=40_000, max_output_tokens=64_000)
    reserve = lambda: guard.reserve(session_id=sid, provider="anthropic", model="claude-sonnet-4",  # noqa: E731
                                    shape=shape, client="claude-cli")
    first = reserve()
    assert first.hold.amount == D("0.09144")  # 10,000 in x $3 + 4,096 default out x $15 (per 1M)
    bill = TokenCounts(input=10, cache_read=9_990, output=400)  # $0.00003 + $0.002997 + $0.006
    tickets = [first, reserve(), reserve()]
    for t in tickets:
        guard.metered(t, bill, at=w.clock.now(), complete=True)  # none of them is stored yet
    assert [t.hold.amount for t in tickets] == [D("0.009027")] * 3
    assert first.hold.lease is not None and first.hold.lease.in_flight(w.clock.now()) == D("0.027081")
    est = guard.estimate(provider="anthropic", model="claude-sonnet-4", shape=shape, client="claude-cli")
    assert (est.output_tokens, est.amount) == (400, D("0.009027"))  # learned from three metered calls
    admitted = [reserve() for _ in range(int((D(1) - 3 * D("0.009027")) / D("0.009027")))]
    assert len(admitted) == 107  # 110 x $0.009027 = $0.99297; with unmetered holds 10 calls would fill $1
    with pytest.raises(BudgetExceeded):
        reserve()
    stored = w.log()(call=UsageInput(provider="anthropic", model="claude-sonnet-4", origin=Origin.PROXY,
                                     tokens=bill), cwd=REPO, session_id=sid)
    guard.settle(tickets[0], stored.record)  # released at the stored cost; not learned a second time
    assert len(guard.ledger.samples("claude-sonnet-4", "claude-cli")) == 3


def test_a_refusal_is_audited_and_an_unpriced_model_has_no_estimate() -> None:
    w = make_world()
    sid = _session_with_budget(w, "0.001")
    guard = _guard(w)
    shape = RequestShape(text_bytes=40_000, max_output_tokens=100)
    with pytest.raises(BudgetExceeded):
        guard.reserve(session_id=sid, provider="anthropic", model="claude-sonnet-4", shape=shape, client="c")
    with w.uow() as uow:
        block = uow.audit.last(1)[0]
    assert (block.event, block.payload["expected"], block.payload["scope"]) == (
        "firewall.block", "0.0315000000", "session")  # 10,000 x $3/M + 100 x $15/M
    assert guard.estimate(provider="acme", model="mystery", shape=shape, client="c") is None


def test_the_proxy_reads_the_estimate_and_the_same_fingerprint_from_one_parse() -> None:
    from costhq.adapters.proxy.calls import request_facts
    from costhq.adapters.proxy.estimate import client_of, request_estimate

    body = b'{"model": "gpt-4o", "max_completion_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}'
    est = request_estimate(body, b"OpenAI/Python 2.3.0")
    assert (est.model, est.shape.max_output_tokens, est.client) == ("gpt-4o", 50, "openai")
    assert est.fingerprint == request_facts(body)[2]
    assert (client_of(b"claude-cli/2.0.14 (external, cli)"), client_of(None), client_of(b"  ")) == (
        "claude-cli", "", "")
    assert request_estimate(b"not json").shape == RequestShape()


def test_a_stream_body_is_parsed_once_for_the_usage_injection_and_the_estimate() -> None:
    """Issue 15: the proxy parses an OpenAI chat stream's body once; the injected body, its estimate
    and the writer's fingerprint are what parsing the injected body again would give."""
    from costhq.adapters.proxy.calls import inject_include_usage, request_doc, request_facts
    from costhq.adapters.proxy.estimate import request_estimate

    body = b'{"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    doc = request_doc(body)
    injected, drop = inject_include_usage(body, doc)
    assert (drop, injected) == (True, b'{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}],'
                                      b'"stream_options":{"include_usage":true}}')
    assert inject_include_usage(body) == (injected, True)  # the same without a parsed doc
    shared, again = request_estimate(injected, None, doc), request_estimate(injected)
    assert (shared.model, shared.shape, shared.fingerprint) == (again.model, again.shape, again.fingerprint)
    assert shared.fingerprint == request_facts(injected)[2]
    assert inject_include_usage(b"[1]") == (b"[1]", False) and inject_include_usage(b"{") == (b"{", False)


class _GatedUow:
    """The World's unit of work, whose entry waits while `gate` is closed: a renewal stuck behind
    another process's write lock (the proxy's recorder committing a batch)."""

    def __init__(self, w: World) -> None:
        self.w, self.gate, self.waiting = w, threading.Event(), threading.Event()
        self.gate.set()

    def __call__(self) -> Any:
        self.waiting.set()
        assert self.gate.wait(10), "the gate was never opened"
        return self.w.uow()


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def test_calls_are_admitted_on_the_old_grant_while_a_renewal_waits_for_the_write_lock() -> None:
    w = make_world()
    sid = _session_with_budget(w, "10")
    uow = _GatedUow(w)
    ledger = ReservationLedger(uow, InMemoryFirewallProbe(w.store), FirewallPolicy(tz=UTC), ahead=4)
    now = w.clock.now()
    ledger.admit(session_id=sid, model="m", amount=D("0.1"), now=now)  # grant 0.1 + 4 ahead = 0.5
    assert [ledger.try_admit(session_id=sid, model="m", amount=D("0.1"), now=now) is not None
            for _ in range(3)] == [True, True, True]
    uow.gate.clear()
    uow.waiting.clear()
    renewal = threading.Thread(target=ledger.admit, kwargs={"session_id": sid, "model": "m", "amount": D("0.2"),
                                                             "now": now})
    renewal.start()
    assert uow.waiting.wait(10)
    # 0.5 granted, 0.4 held: a call of 0.1 still fits the old grant, which storage still counts.
    # (Before, a renewal froze its lease from the start: every admission waited for the write lock.)
    assert ledger.try_admit(session_id=sid, model="m", amount=D("0.1"), now=now) is not None
    assert ledger.try_admit(session_id=sid, model="m", amount=D("0.1"), now=now) is None  # the old grant is full
    uow.gate.set()
    renewal.join(10)
    # The new grant covers all five calls held when the renewal read them (0.5), the renewing call
    # (0.2) and as many calls like it as fit in half the headroom left: int((10 - 0.7) / 0.4) = 23.
    assert _reserved(w) == [D("0.7") + 23 * D("0.2")]


def _renewing_ahead(limit: str) -> tuple[World, int, ReservationLedger, Callable[[], None]]:
    """A session with a `limit` budget, a ledger renewing ahead, and a wait for its background renewals."""
    w = make_world()
    sid = _session_with_budget(w, limit)
    ledger = ReservationLedger(w.uow, InMemoryFirewallProbe(w.store), FirewallPolicy(tz=UTC), ahead=4,
                               renew_ahead=True)

    def settled() -> None:
        _until(lambda: not any(lease.refreshing for lease in ledger._leases.values()), "the background renewal")

    return w, sid, ledger, settled


def test_a_running_low_lease_is_renewed_in_the_background_so_admissions_never_stop() -> None:
    w, sid, ledger, settled = _renewing_ahead("100")
    now = w.clock.now()
    ledger.admit(session_id=sid, model="m", amount=D("0.1"), now=now)  # grant 0.5; renewed ahead below 0.2 left
    assert [ledger.try_admit(session_id=sid, model="m", amount=D("0.1"), now=now) is not None
            for _ in range(3)] == [True] * 3  # the 3rd left 0.1: a background renewal started
    settled()
    # Four held (0.4) + one more like the last (0.1) + calls ahead at its pace (the fake clock stands
    # still: RAMP_MAX x 4 = 128), well inside half the headroom: 0.5 + 12.8.
    assert _reserved(w) == [D("13.3")]
    assert all(ledger.try_admit(session_id=sid, model="m", amount=D("0.1"), now=now) is not None
               for _ in range(60))
    settled()
    ledger.close()
    assert _reserved(w) == []


def test_a_background_renewal_that_would_be_refused_leaves_the_refusal_to_the_next_call_in_line() -> None:
    w, sid, ledger, settled = _renewing_ahead("1")
    now = w.clock.now()
    ledger.admit(session_id=sid, model="m", amount=D("0.3"), now=now)  # 0.3 + one ahead (half of 0.7 left)
    assert ledger.try_admit(session_id=sid, model="m", amount=D("0.3"), now=now) is not None  # none left: renew
    settled()
    assert _reserved(w) == [D("0.9")]  # 0.6 held + one more call: exactly what fits under 1
    assert ledger.try_admit(session_id=sid, model="m", amount=D("0.3"), now=now) is not None
    settled()  # 0.9 held + 0.3 > 1: refused in the background, nothing raised, the lease keeps what is held
    assert _reserved(w) == [D("0.9")]
    assert ledger.try_admit(session_id=sid, model="m", amount=D("0.3"), now=now) is None
    with pytest.raises(BudgetExceeded):
        ledger.admit(session_id=sid, model="m", amount=D("0.3"), now=now)
    assert ledger.admit(session_id=sid, model="m", amount=D("0.1"), now=now) is not None  # exactly the limit
    settled()
    assert _reserved(w) == [D(1)]
