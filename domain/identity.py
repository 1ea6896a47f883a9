"""Call identity: when two observations are the same AI call (issue 17; docs/identity.md has the table).

Rules:
- A record's own key is its `call_key`, minted by the path that saw the call (`proxy:<uuid>`,
  `lib:<uuid>`, `import:<tool>:<transcript key>`). An observation whose key is already stored (as a
  record's key or as the key of an observation a record absorbed) is a *replay*: spool recovery,
  a re-import, a retried hook. It is skipped.
- Observations from two *different* origins are the same call (*seen*: not stored again) when the
  providers are equal and:
  1. both know the upstream request id (`request-id` / `x-request-id` header): they are equal;
  2. otherwise both know the response id: they are equal;
  3. otherwise, one of them is an import that knows neither id (Codex rollouts carry none)
     and the other a capture (a proxied call or a tracked SDK call: proxy or library origin,
     with a key): the same non-empty token classes, within `FINGERPRINT_WINDOW` of each other.
- `cs log-ai`, MCP and `AgentSession.log_ai` calls carry no key and no ids: each is a distinct record.
- Observations from the *same* origin are distinct calls whatever their ids: a server that
  repeats ids (local servers, gateways: `chatcmpl-123`) never merges two calls.
- A record absorbs at most one observation per other origin, so ids repeated within one path
  never fold two calls of that path into one call of another. Among several candidates the
  oldest record is taken.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import attrs

from costhq.domain.usage import Origin, TokenCounts, UsageRecord

# Codex writes its token_count line as the response completes, the proxy stamps the call as it
# ends: seconds apart on one clock. Wide enough for a slow disk, narrow enough that two distinct
# calls with identical token classes practically never fall inside it.
FINGERPRINT_WINDOW = timedelta(minutes=5)
CAPTURES = frozenset({Origin.PROXY, Origin.LIBRARY})  # the paths that see calls as they happen


@attrs.frozen(kw_only=True)
class Sighting:
    """What identity knows of one observation of a call, stored or arriving.

    Attributes:
        origin: the path that saw it.
        provider: provider id (lower case).
        call_key: the observation's own key, if any.
        upstream_request_id: the upstream's request-id header, if known.
        response_id: the response body's id, if known.
        tokens: token classes (the fingerprint of id-less imports).
        timestamp: aware UTC time of the call.
    """

    origin: Origin
    provider: str
    call_key: str | None = None
    upstream_request_id: str | None = None
    response_id: str | None = None
    tokens: TokenCounts = attrs.field(factory=TokenCounts)
    timestamp: datetime | None = None

    @property
    def idless_import(self) -> bool:
        """An import that knows neither upstream id (matched by fingerprint)."""
        return self.origin is Origin.IMPORT and self.upstream_request_id is None and self.response_id is None

    @property
    def capture(self) -> bool:
        """A call the proxy or a tracked client saw as it happened (a report by hand has no key)."""
        return self.origin in CAPTURES and self.call_key is not None


def sighting_of(record: UsageRecord) -> Sighting:
    """The identity of a stored record."""
    return Sighting(origin=record.origin, provider=record.provider, call_key=record.call_key,
                    upstream_request_id=record.upstream_request_id, response_id=record.response_id,
                    tokens=record.tokens, timestamp=record.timestamp)


def same_call(a: Sighting, b: Sighting) -> bool:
    """True when two observations from different paths are one call (rules 1-3 of the module)."""
    if a.origin is b.origin or a.provider != b.provider:
        return False
    if a.upstream_request_id is not None and b.upstream_request_id is not None:
        return a.upstream_request_id == b.upstream_request_id
    if a.response_id is not None and b.response_id is not None:
        return a.response_id == b.response_id
    if not ((a.idless_import and b.capture) or (b.idless_import and a.capture)):
        return False
    if a.tokens.is_empty or a.tokens != b.tokens:
        return False
    return a.timestamp is not None and b.timestamp is not None and \
        abs(a.timestamp - b.timestamp) <= FINGERPRINT_WINDOW


class Verdict(enum.Enum):
    """What an arriving observation is."""

    NEW = "new"  # a call not stored yet: store it
    REPLAY = "replay"  # its key is stored: skip it
    SEEN = "seen"  # another path stored this call: skip it (importers report it as already captured)


@attrs.frozen
class Decision:
    """A verdict and, for a replay or a seen call, the stored record's id (None: stored earlier in
    the same batch and not yet given an id)."""

    verdict: Verdict
    usage_id: int | None = None


@attrs.frozen(kw_only=True)
class Known:
    """A stored record as identity sees it.

    Attributes:
        usage_id: its id (None: stored earlier in this batch, id not known yet).
        sighting: its identity.
        claimed: origins whose observation it has already absorbed.
    """

    usage_id: int | None
    sighting: Sighting
    claimed: frozenset[Origin] = frozenset()


@attrs.frozen
class StoredIdentities:
    """What storage holds for a batch of observations (one look-up per batch).

    Attributes:
        known: every stored record that could be one of the observations' calls (a superset:
            `same_call` decides), with the origins it has absorbed.
        keys: the observations' keys already stored (a record's own or an absorbed one's) -> record id.
    """

    known: list[Known] = attrs.Factory(list)
    keys: dict[str, int] = attrs.Factory(dict)


class Ledger:
    """Decides observations in order against what is stored and what was decided before them.

    Built from what storage holds for a batch's keys and ids (`known`, `keys`); `decide` then
    classifies each observation and remembers replays and absorptions, `stored` remembers a new
    record, so later observations of the same batch see both. Records are indexed by each id and
    by fingerprint, so a batch of n calls costs O(n), not O(n^2).
    """

    @classmethod
    def of(cls, stored: StoredIdentities) -> Ledger:
        """A ledger over what storage returned for a batch."""
        return cls(stored.known, stored.keys)

    def __init__(self, known: Iterable[Known] = (), keys: Mapping[str, int | None] | None = None) -> None:
        self._known: list[Known] = []
        self._index: dict[tuple[object, ...], list[int]] = {}
        self._keys: dict[str, int | None] = dict(keys or {})
        for k in sorted(known, key=lambda k: (k.usage_id is None, k.usage_id or 0)):
            self._add(k)

    def decide(self, s: Sighting) -> Decision:
        """Replay, seen (the record is marked as claimed by `s.origin`) or new; see the module rules."""
        if s.call_key is not None and s.call_key in self._keys:
            return Decision(Verdict.REPLAY, self._keys[s.call_key])
        for i in sorted({i for key in _index_keys(s, lookup=True) for i in self._index.get(key, ())}):
            known = self._known[i]
            if s.origin not in known.claimed and same_call(s, known.sighting):
                self._known[i] = attrs.evolve(known, claimed=known.claimed | {s.origin})
                if s.call_key is not None:
                    self._keys[s.call_key] = known.usage_id
                return Decision(Verdict.SEEN, known.usage_id)
        return Decision(Verdict.NEW)

    def stored(self, s: Sighting, usage_id: int | None) -> None:
        """`s` was decided NEW and is now stored as record `usage_id`."""
        if s.call_key is not None:
            self._keys[s.call_key] = usage_id
        self._add(Known(usage_id=usage_id, sighting=s))

    def _add(self, known: Known) -> None:
        for key in _index_keys(known.sighting, lookup=False):
            self._index.setdefault(key, []).append(len(self._known))
        self._known.append(known)


def _index_keys(s: Sighting, *, lookup: bool) -> list[tuple[object, ...]]:
    """Keys a record is filed under (`lookup=False`) or an arriving observation looks under: a
    superset of the matches, `same_call` decides. Fingerprints only pair an id-less import with a
    record of another origin, so only those two sides are filed and looked up by them."""
    keys: list[tuple[object, ...]] = []
    if s.upstream_request_id is not None:
        keys.append(("rid", s.provider, s.upstream_request_id))
    if s.response_id is not None:
        keys.append(("resp", s.provider, s.response_id))
    if not s.tokens.is_empty and (s.idless_import or s.capture):
        own, other = ("idless", "print") if s.idless_import else ("print", "idless")
        keys.append((other if lookup else own, s.provider, s.tokens))
    return keys


def legacy_identity(origin: Origin, request_id: str) -> tuple[str, str | None, str | None]:
    """(call key, upstream request id, response id) of a record or spool line written before keys
    existed, when only `request_id` was kept.

    Importers kept their transcript key (`claude-code:...`, `codex:...`) or Claude Code's
    `requestId`: the key becomes the one they mint now, so re-imports stay replays. The proxy kept
    the response id, else the request-id header, else `costhq-<uuid>`; the library the header.
    Request-id headers start with `req_` (Anthropic and OpenAI); other values are response ids.
    """
    if origin is Origin.IMPORT:
        if request_id.startswith(("claude-code:", "codex:")):
            tool, _, rest = request_id.partition(":")
            response = rest if tool == "claude-code" and ":" not in rest else None
            return f"import:{request_id}", None, response
        return f"import:claude-code:{request_id}", request_id, None
    key = f"legacy:{request_id}"
    if request_id.startswith("costhq-"):
        return key, None, None
    if request_id.startswith("req_") or origin is Origin.LIBRARY:
        return key, request_id, None
    return key, None, request_id
