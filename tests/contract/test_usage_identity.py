"""UsageRepository.identities / add_alias contract (issue 17): the in-memory fake and APSW agree.

`identities` may return a superset of the matching records (the domain rule decides), so these
tests compare what the rule decides over it, plus the exact keys found.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from costhq.application.errors import Conflict
from costhq.application.ports.storage import UnitOfWork
from costhq.domain.identity import FINGERPRINT_WINDOW, Ledger, Sighting, Verdict
from costhq.domain.pricing import PriceSource
from costhq.domain.sessions import NewSession
from costhq.domain.usage import Origin, TokenCounts, UsageRecord

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
MakeUow = Callable[[], UnitOfWork]
CODEX = TokenCounts(input=600, cache_read=400, output=500, reasoning=100)
SMALL = TokenCounts(input=10, output=2)


def _record(sid: int, origin: Origin, key: str | None, rid: str | None = None, resp: str | None = None, *,
            provider: str = "anthropic", tokens: TokenCounts = CODEX, at: datetime = T0) -> UsageRecord:
    return UsageRecord(session_id=sid, provider=provider, model="m", tokens=tokens, total_tokens=tokens.total,
                       cost=Decimal("0.01"), price_source=PriceSource.CUSTOM, timestamp=at, origin=origin,
                       call_key=key, upstream_request_id=rid, response_id=resp)


def _probe(origin: Origin, key: str | None, rid: str | None = None, resp: str | None = None, *,
           provider: str = "anthropic", tokens: TokenCounts = CODEX, at: datetime = T0) -> Sighting:
    return Sighting(origin=origin, provider=provider, call_key=key, upstream_request_id=rid, response_id=resp,
                    tokens=tokens, timestamp=at)


@pytest.fixture
def stored(make_uow: MakeUow) -> dict[str, int]:
    """A proxy call, a library call, two gateway calls with one response id, a Codex import, a CLI call."""
    with make_uow() as uow:
        sid = uow.sessions.add(NewSession(name="s", start_time=T0, working_directory="/r")).id
        ids = {name: uow.usage.add(rec).id for name, rec in {  # type: ignore[misc]
            "proxy": _record(sid, Origin.PROXY, "proxy:1", "req_1", "msg_1"),
            "library": _record(sid, Origin.LIBRARY, "lib:1", "req_2", "msg_2"),
            "gw1": _record(sid, Origin.PROXY, "proxy:g1", None, "chatcmpl-123", provider="openai", tokens=SMALL),
            "gw2": _record(sid, Origin.PROXY, "proxy:g2", None, "chatcmpl-123", provider="openai", tokens=SMALL),
            "codex": _record(sid, Origin.IMPORT, "import:codex:r:1", provider="openai", at=T0 + timedelta(seconds=3)),
            "cli": _record(sid, Origin.CLI, None, provider="openai"),
        }.items()}
        uow.usage.add_alias("import:claude-code:req_2", ids["library"], Origin.IMPORT)
    return ids


def _decide(make_uow: MakeUow, probes: list[Sighting]) -> list[tuple[Verdict, int | None]]:
    with make_uow() as uow:
        ledger = Ledger.of(uow.usage.identities(probes))
    return [(d.verdict, d.usage_id) for d in map(ledger.decide, probes)]


def test_keys_of_records_and_of_absorbed_observations_are_found(make_uow: MakeUow, stored: dict[str, int]) -> None:
    probes = [_probe(Origin.PROXY, "proxy:1"), _probe(Origin.IMPORT, "import:claude-code:req_2"),
              _probe(Origin.PROXY, "proxy:unknown")]
    with make_uow() as uow:
        found = uow.usage.identities(probes)
    assert found.keys == {"proxy:1": stored["proxy"], "import:claude-code:req_2": stored["library"]}
    assert _decide(make_uow, probes) == [(Verdict.REPLAY, stored["proxy"]), (Verdict.REPLAY, stored["library"]),
                                         (Verdict.NEW, None)]


def test_other_paths_meet_on_upstream_ids_and_the_claims_are_remembered(
        make_uow: MakeUow, stored: dict[str, int]) -> None:
    assert _decide(make_uow, [
        _probe(Origin.IMPORT, "import:a", "req_1", "msg_1"),  # Claude Code line of the proxy's call
        _probe(Origin.IMPORT, "import:b", "req_2", "msg_2"),  # the library's call already absorbed an import
        _probe(Origin.LIBRARY, "lib:x", None, "chatcmpl-123", provider="openai", tokens=SMALL),
        _probe(Origin.LIBRARY, "lib:y", None, "chatcmpl-123", provider="openai", tokens=SMALL),
        _probe(Origin.LIBRARY, "lib:z", None, "chatcmpl-123", provider="openai", tokens=SMALL),
        _probe(Origin.PROXY, "proxy:9", "req_1", "msg_1"),  # same path as the record: a distinct call
    ]) == [(Verdict.SEEN, stored["proxy"]), (Verdict.NEW, None), (Verdict.SEEN, stored["gw1"]),
           (Verdict.SEEN, stored["gw2"]), (Verdict.NEW, None), (Verdict.NEW, None)]


def test_codex_imports_meet_captures_by_token_classes_within_the_window(
        make_uow: MakeUow, stored: dict[str, int]) -> None:
    late = T0 + FINGERPRINT_WINDOW + timedelta(seconds=4)
    assert _decide(make_uow, [
        _probe(Origin.PROXY, "proxy:c", "req_c", "resp_c", provider="openai"),  # the call the rollout logged
        _probe(Origin.LIBRARY, "lib:c", "req_d", "resp_d", provider="openai", at=late),  # same usage, too late
        _probe(Origin.CLI, None, provider="openai"),  # `cs log-ai`: never matched
    ]) == [(Verdict.SEEN, stored["codex"]), (Verdict.NEW, None), (Verdict.NEW, None)]


def test_an_alias_is_unique_and_points_at_a_record(make_uow: MakeUow, stored: dict[str, int]) -> None:
    with pytest.raises(Conflict), make_uow() as uow:
        uow.usage.add_alias("import:claude-code:req_2", stored["proxy"], Origin.IMPORT)
    with pytest.raises(Conflict), make_uow() as uow:
        uow.usage.add_alias("import:new", 999, Origin.IMPORT)
    with make_uow() as uow:
        uow.usage.add_alias("import:new", stored["proxy"], Origin.IMPORT)
        found = uow.usage.identities([_probe(Origin.IMPORT, "import:new", "req_1", "msg_1")])
    assert found.keys == {"import:new": stored["proxy"]}
    assert [k.claimed for k in found.known if k.usage_id == stored["proxy"]] == [frozenset({Origin.IMPORT})]
