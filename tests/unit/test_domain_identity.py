"""The identity rule on plain values (domain/identity.py; the table in docs/identity.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from costhq.domain.identity import (
    FINGERPRINT_WINDOW,
    Decision,
    Known,
    Ledger,
    Sighting,
    Verdict,
    legacy_identity,
    same_call,
)
from costhq.domain.usage import Origin, TokenCounts

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TOKENS = TokenCounts(input=600, cache_read=400, output=500, reasoning=100)
P, L, IMP, C = Origin.PROXY, Origin.LIBRARY, Origin.IMPORT, Origin.CLI


def see(origin: Origin, rid: str | None = None, resp: str | None = None, *, key: str | None = None,
        provider: str = "openai", tokens: TokenCounts = TOKENS, at: datetime = T0) -> Sighting:
    return Sighting(origin=origin, provider=provider, call_key=key, upstream_request_id=rid, response_id=resp,
                    tokens=tokens, timestamp=at)


@pytest.mark.parametrize(("a", "b", "same"), [
    (see(P, "req_1", "msg_1"), see(IMP, "req_1", "msg_1"), True),  # Claude Code: both ids
    (see(P, "req_1", "msg_1"), see(IMP, "req_1", None), True),  # the request id alone
    (see(P, None, "msg_1"), see(IMP, "req_1", "msg_1"), True),  # the response id when one lacks the request id
    (see(P, "req_1", "chatcmpl-123"), see(L, "req_2", "chatcmpl-123"), False),  # request ids differ: two calls
    (see(P, "req_1", "msg_1"), see(P, "req_1", "msg_1"), False),  # same path: never merged (repeating servers)
    (see(L, "req_1"), see(L, "req_1"), False),
    (see(P, "req_1", provider="anthropic"), see(IMP, "req_1"), False),  # providers differ
    (see(P, "req_1", "resp_1", key="proxy:1"), see(IMP), True),  # Codex: no ids, same token classes, same moment
    (see(L, "req_1", "resp_1", key="lib:1"), see(IMP, at=T0 + FINGERPRINT_WINDOW), True),
    (see(P, "req_1", key="proxy:1"), see(IMP, at=T0 - FINGERPRINT_WINDOW - timedelta(seconds=1)), False),
    (see(P, key="proxy:1"), see(IMP, tokens=TokenCounts(input=601, cache_read=400, output=500)), False),
    (see(C), see(IMP), False),  # `cs log-ai` is never matched
    (see(L), see(IMP), False),  # nor `AgentSession.log_ai` (a report by hand: no key)
    (see(P, tokens=TokenCounts()), see(IMP, tokens=TokenCounts()), False),  # nothing to fingerprint
    (see(P), see(L), False),  # no ids on either side and neither an import
])
def test_same_call_follows_the_rule_table_both_ways(a: Sighting, b: Sighting, same: bool) -> None:
    assert (same_call(a, b), same_call(b, a)) == (same, same)


def test_a_stored_key_is_a_replay_and_an_absorbed_key_too() -> None:
    ledger = Ledger([Known(usage_id=7, sighting=see(P, "req_1", key="proxy:a"))], {"proxy:a": 7})
    assert ledger.decide(see(P, "req_9", key="proxy:a")) == Decision(Verdict.REPLAY, 7)
    assert ledger.decide(see(IMP, "req_1", key="import:claude-code:req_1")) == Decision(Verdict.SEEN, 7)
    assert ledger.decide(see(IMP, "req_1", key="import:claude-code:req_1")) == Decision(Verdict.REPLAY, 7)


def test_a_record_absorbs_one_observation_per_other_path() -> None:
    """Two proxy calls answered with the same ids (a gateway) and two transcript lines of them: two records."""
    ledger = Ledger([Known(usage_id=1, sighting=see(P, "req_s", "msg_s", key="proxy:1")),
                     Known(usage_id=2, sighting=see(P, "req_s", "msg_s", key="proxy:2"))])
    first, second = see(IMP, "req_s", "msg_s", key="import:x:1"), see(IMP, "req_s", "msg_s", key="import:x:2")
    assert [ledger.decide(first), ledger.decide(second)] == [Decision(Verdict.SEEN, 1), Decision(Verdict.SEEN, 2)]
    assert ledger.decide(see(IMP, "req_s", "msg_s", key="import:x:3")) == Decision(Verdict.NEW)


def test_a_batch_sees_its_own_earlier_records() -> None:
    ledger = Ledger()
    proxy = see(P, "req_1", "msg_1", key="proxy:1")
    assert ledger.decide(proxy) == Decision(Verdict.NEW)
    ledger.stored(proxy, None)  # bulk: no id yet
    assert ledger.decide(see(P, "req_1", "msg_1", key="proxy:1")) == Decision(Verdict.REPLAY, None)
    assert ledger.decide(see(P, "req_1", "msg_1", key="proxy:2")) == Decision(Verdict.NEW)
    assert ledger.decide(see(IMP, "req_1", key="import:a")) == Decision(Verdict.SEEN, None)


def test_calls_without_key_or_ids_are_always_new() -> None:
    ledger = Ledger()
    for _ in range(3):
        call = see(C)
        assert ledger.decide(call) == Decision(Verdict.NEW)
        ledger.stored(call, 1)


@pytest.mark.parametrize(("origin", "request_id", "expected"), [
    (IMP, "req_A", ("import:claude-code:req_A", "req_A", None)),
    (IMP, "claude-code:msg_A", ("import:claude-code:msg_A", None, "msg_A")),
    (IMP, "claude-code:/p/s.jsonl:u-1", ("import:claude-code:/p/s.jsonl:u-1", None, None)),
    (IMP, "codex:rollout-x:100:40:30:10", ("import:codex:rollout-x:100:40:30:10", None, None)),
    (P, "msg_01", ("legacy:msg_01", None, "msg_01")),
    (P, "chatcmpl-9", ("legacy:chatcmpl-9", None, "chatcmpl-9")),
    (P, "req_011", ("legacy:req_011", "req_011", None)),
    (P, "costhq-4f2a", ("legacy:costhq-4f2a", None, None)),
    (L, "req_x", ("legacy:req_x", "req_x", None)),
])
def test_legacy_request_ids_become_the_keys_and_ids_the_paths_mint_now(
        origin: Origin, request_id: str, expected: tuple[str, str | None, str | None]) -> None:
    assert legacy_identity(origin, request_id) == expected
