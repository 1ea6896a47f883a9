"""Property (issue 17): whatever paths see a set of calls, in whatever order, with replays and repeated
ids, the stored records are exactly the distinct calls.

Calls of five kinds, each seen by some of the paths that could really see it:
- `claude`: Anthropic, unique upstream ids; the proxy, a tracked client (behind the proxy it takes
  the proxy's key, else its own) and the Claude Code importer (request id + response id).
- `codex`: OpenAI; the proxy, a tracked client and the Codex importer, whose rollouts carry no ids
  (fingerprint rule). Twins share token classes (the same prompt twice) and, so that the calls
  can be told apart at all, the same set of paths.
- `gateway`: one path only (the proxy or a tracked client) in front of a server that repeats its
  ids (`req_same`, `chatcmpl-123`): one such server behind the proxy, another called directly by
  the tracked client. (Two calls of two different paths carrying the same ids cannot be told
  from one call seen twice: docs/identity.md, "Limits".)
- `cli`: `cs log-ai`, no key, no ids.
Replays: a proxy observation is replayed as a spool recovery, an import as a re-import. Events run
through the real use cases (RecordProxyUsage, RecordUsage, ImportUsage, LogUsage) in a random order;
consecutive library or import events form one batch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costhq.adapters._shared.clock import FixedClock
from costhq.adapters.persistence.memory.prices import InMemoryCatalog, InMemoryCustomPriceStore
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from costhq.adapters.persistence.price_book import CatalogPriceBook
from costhq.adapters.persistence.sqlite.uow import ApswUnitOfWork
from costhq.adapters.watchers.fake_git import FakeGitMetadata
from costhq.application.imports import ImportUsage
from costhq.application.proxy import RecordProxyUsage
from costhq.application.sessions import StartSession
from costhq.application.usage import LogUsage, QueuedUsage, RecordUsage, UsageInput
from costhq.domain.imports import ImportedCall, ScanStats
from costhq.domain.pricing import ModelPrice, Rate
from costhq.domain.usage import Origin, TokenCounts

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
REPO = "/work/repo"
PRICE = ModelPrice(input=Rate(Decimal(3)), output=Rate(Decimal(15)), cache_read=Rate(Decimal("0.3")))


@attrs.frozen
class Call:
    n: int
    kind: str
    paths: frozenset[str]  # proxy, tracked, import, cli
    tokens: TokenCounts
    rid: str | None
    resp: str | None

    @property
    def provider(self) -> str:
        return "anthropic" if self.kind == "claude" else "openai"


@attrs.frozen
class Event:
    path: str  # proxy | library | import | cli
    call: UsageInput | ImportedCall


def _paths(*names: str) -> st.SearchStrategy[frozenset[str]]:
    return st.sets(st.sampled_from(names), min_size=1).map(frozenset)


@st.composite
def _calls(draw: st.DrawFn) -> list[Call]:
    calls: list[Call] = []
    for _ in range(draw(st.integers(1, 7))):
        n, kind = len(calls), draw(st.sampled_from(["claude", "codex", "gateway", "cli"]))
        unique = TokenCounts(input=1000 + n, cache_read=100, output=50 + n)
        if kind == "claude":
            calls.append(Call(n, kind, draw(_paths("proxy", "tracked", "import")), unique, f"req_{n}", f"msg_{n}"))
        elif kind == "codex":
            paths, twins = draw(_paths("proxy", "tracked", "import")), draw(st.integers(1, 3))
            shared = TokenCounts(input=600 + n, cache_read=400, output=500, reasoning=100)
            for _twin in range(twins):
                m = len(calls)
                calls.append(Call(m, kind, paths, shared, f"req_{m}", f"resp_{m}"))
        elif kind == "gateway":  # one such server behind the proxy, another the tracked client calls directly
            path = draw(st.sampled_from(["proxy", "tracked"]))
            calls.append(Call(n, kind, frozenset({path}), unique, draw(st.sampled_from([f"req_same_{path}", None])),
                              draw(st.sampled_from([f"chatcmpl-123-{path}", None]))))
        else:
            calls.append(Call(n, kind, frozenset({"cli"}), unique, None, None))
    return calls


def _events(call: Call, replay: bool) -> list[Event]:
    at = T0 + timedelta(seconds=call.n)
    def seen(origin: Origin, key: str | None) -> UsageInput:
        return UsageInput(provider=call.provider, model="m", tokens=call.tokens, origin=origin, call_key=key,
                          upstream_request_id=call.rid, response_id=call.resp, timestamp=at)
    out: list[Event] = []
    if "proxy" in call.paths:
        out += [Event("proxy", seen(Origin.PROXY, f"proxy:{call.n}"))] * (2 if replay else 1)
    if "tracked" in call.paths:
        out.append(Event("library", seen(Origin.LIBRARY, f"proxy:{call.n}" if "proxy" in call.paths
                                          else f"lib:{call.n}")))
    if "import" in call.paths:
        codex = call.kind == "codex"
        line = ImportedCall(source="codex" if codex else "claude-code", provider=call.provider, model="m",
                            tokens=call.tokens, timestamp=at, cwd=REPO,
                            call_key=f"import:codex:rollout:{call.n}" if codex else f"import:claude-code:{call.rid}",
                            upstream_request_id=None if codex else call.rid, response_id=None if codex else call.resp)
        out += [Event("import", line)] * (2 if replay else 1)
    if "cli" in call.paths:
        out.append(Event("cli", UsageInput(provider="openai", model="m", tokens=call.tokens, origin=Origin.CLI)))
    return out


@attrs.define
class _Lines:
    """UsageLogSource over given calls (one import run)."""

    calls: list[ImportedCall]
    name: str = "given"
    stats: ScanStats = attrs.Factory(ScanStats)
    end_offset: int = 0

    def scan(self, *, paths: list[str] | None = None, since: datetime | None = None) -> _Lines:
        return self

    def scan_file(self, path: str, *, offset: int = 0) -> _Lines:
        return self

    def __iter__(self) -> Iterator[ImportedCall]:
        return iter(self.calls)


def _replay_all(uow: Callable[[], Any], events: list[Event]) -> None:
    clock, git = FixedClock(T0 + timedelta(minutes=1)), FakeGitMetadata()
    git.add_repo(REPO, branch="main")
    prices = CatalogPriceBook(InMemoryCatalog({("anthropic", "m"): PRICE, ("openai", "m"): PRICE}),
                              InMemoryCustomPriceStore(), now=clock.now)
    sid = StartSession(uow, clock, git)(name="s", cwd=REPO).session.id
    record = RecordUsage(uow, clock, git, prices)
    proxy, log = RecordProxyUsage(record), LogUsage(uow, clock, git, prices)
    i = 0
    while i < len(events):
        j = i + 1
        while events[i].path in ("library", "import") and j < len(events) and events[j].path == events[i].path:
            j += 1
        batch, path = [e.call for e in events[i:j]], events[i].path
        if path == "proxy":
            assert proxy(call=batch[0], session_id=sid) is not None  # type: ignore[arg-type]
        elif path == "library":
            outcomes = record(items=[QueuedUsage(call=c, session_id=sid) for c in batch])  # type: ignore[arg-type]
            assert [o.error for o in outcomes] == [None] * len(batch)
        elif path == "import":
            ImportUsage(uow, clock, git, prices, {"given": _Lines(batch)})(  # type: ignore[arg-type]
                source="given", session_id=sid)
        else:
            log(call=batch[0], cwd=REPO, session_id=sid)  # type: ignore[arg-type]
        i = j


def _stored(uow: Callable[[], Any]) -> list[int]:
    with uow() as u:
        return sorted(r.total_tokens for r in u.usage.for_session(1))


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[list[Call], list[Event]]:
    calls = draw(_calls())
    events = [e for c in calls for e in _events(c, draw(st.booleans()))]
    return calls, draw(st.permutations(events))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario())
def test_records_are_the_distinct_calls_on_the_in_memory_fake(scenario: tuple[list[Call], list[Event]]) -> None:
    calls, events = scenario
    store = InMemoryStore()
    uow = lambda: InMemoryUnitOfWork(store)  # noqa: E731
    _replay_all(uow, events)
    assert _stored(uow) == sorted(c.tokens.total for c in calls)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario())
def test_records_are_the_distinct_calls_on_a_real_sqlite_file(scenario: tuple[list[Call], list[Event]]) -> None:
    calls, events = scenario
    with tempfile.TemporaryDirectory() as tmp:
        uow = lambda: ApswUnitOfWork(f"{tmp}/sessions.db")  # noqa: E731
        _replay_all(uow, events)
        assert _stored(uow) == sorted(c.tokens.total for c in calls)
