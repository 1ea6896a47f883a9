"""The tamper-evident audit chain: canonical bytes, chained hashes, verification (pure).

Rules:
- An entry's canonical bytes are `json.dumps(sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)` over exactly CANONICAL_FIELDS, UTF-8 encoded. Never route this through
  an adapter converter: a converter change would break every existing chain.
- `hash = SHA-256(prev_hash || canonical)` (alg `sha256`), or HMAC-SHA-256 with a secret key
  (alg `hmac-sha256`), hex encoded; the first entry's prev_hash is GENESIS; seq runs 1, 2, 3...
- `at` never goes backwards: an entry's `at` is the later of its event time and its
  predecessor's `at` (the adapter seals inside the append's transaction, after the last entry).
- Segments: a chain may start unkeyed and turn keyed (`COSTHQ_AUDIT_KEY` set later). The first
  HMAC entry opens the keyed segment; after it, an unkeyed entry is `forged` unless it is a
  `migration` (written by the schema ladder, which has no key). Entries before it stay valid as
  SHA-256 (as strong as they ever were). Keyed entries cannot be checked without the key
  (`key_required`).
- Verification reports the FIRST problem with its kind (module `verify`, see VerifyResult):
  `deleted` (entries missing, whether the rest was renumbered to hide the gap or not),
  `renumbered` (seqs changed, nothing missing), `reordered` (an entry links to a later one),
  `edited` (content or a hash rewritten; for money rows: a stored row no longer matches the
  digest its entry holds), `truncated` (an anchor names a head the chain does not reach),
  `forged`, `key_required`, `unaudited` (a money row no entry covers).
- Coverage of money (`audit_coverage.py` in this package): every usage record, budget rule and price
  override carries its digest or fields in an entry; verification replays the chain and
  compares with what is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs

GENESIS = "0" * 64
SHA256 = "sha256"
HMAC_SHA256 = "hmac-sha256"
CANONICAL_FIELDS = ("seq", "at", "actor", "event", "payload", "alg", "prev_hash")
UNKEYED_EVENTS = frozenset({"migration"})
_MAX_RENUMBER_SEARCH = 100_000  # original seqs tried when a stored seq no longer hashes


def json_value(value: Any) -> Any:
    """Payload values as canonical JSON types: Decimal and datetimes as strings, enums by value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if hasattr(value, "value") and hasattr(value, "name"):  # an enum member
        return value.value
    return value


@attrs.frozen(kw_only=True)
class AuditEvent:
    """A state change to append (the chain fields are added by `seal`).

    Attributes:
        event: dotted type, e.g. `session.start`, `usage.logged`, `budget.set`, `firewall.block`.
        actor: origin of the change (`cli`, `proxy`, `http`, `library`, `mcp`, `system`).
        payload: JSON-able facts (ids, amounts as strings).
        at: aware UTC time.
    """

    event: str
    actor: str
    payload: Mapping[str, Any]
    at: datetime


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One sealed entry of the chain."""

    seq: int
    at: str
    actor: str
    event: str
    payload: Mapping[str, Any]
    alg: str
    prev_hash: str
    hash: str

    def canonical(self, seq: int | None = None) -> bytes:
        """The exact bytes the hash covers (CANONICAL_FIELDS); `seq` replaces the stored one."""
        fields = {f: getattr(self, f) for f in CANONICAL_FIELDS}
        if seq is not None:
            fields["seq"] = seq
        return canonical_bytes(fields)


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    """Canonical JSON of `fields` (see module rules)."""
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(prev_hash: str, canonical: bytes, key: bytes | None) -> str:
    """SHA-256(prev_hash || canonical), or HMAC-SHA-256 under `key`."""
    data = prev_hash.encode("ascii") + canonical
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def seal(event: AuditEvent, *, seq: int, prev_hash: str, key: bytes | None, prev_at: str = "") -> AuditEntry:
    """The entry following `prev_hash` (whose `at` was `prev_at`) at `seq`; `at` never goes backwards."""
    fields = {"seq": seq, "at": max(json_value(event.at), prev_at), "actor": event.actor, "event": event.event,
              "payload": json_value(event.payload), "alg": HMAC_SHA256 if key else SHA256, "prev_hash": prev_hash}
    return AuditEntry(**fields, hash=chain_hash(prev_hash, canonical_bytes(fields), key))


def anchor_tag(head: str, key: bytes) -> str:
    """HMAC of a `SEQ:HASH` head under the audit key: a head file nobody without the key can forge."""
    return hmac.new(key, b"anchor:" + head.encode("ascii"), hashlib.sha256).hexdigest()


@attrs.frozen(kw_only=True)
class VerifyResult:
    """Outcome of `verify`.

    Attributes:
        ok: the chain verifies.
        count: entries read.
        head_seq / head_hash: the last entry (0 / GENESIS when empty).
        bad_seq: first bad seq when not ok (None for a row no entry covers).
        reason: the kind (see the module rules).
        table / row_id: the stored row that does not match (money coverage), when one does not.
        detail: one human sentence about the problem.
        keyed_from: seq of the first HMAC entry (the keyed segment), None when unkeyed.
    """

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    reason: str | None = None
    table: str | None = None
    row_id: int | str | None = None
    detail: str | None = None
    keyed_from: int | None = None


@attrs.frozen
class Problem:
    """One finding: the first bad seq, its kind, and the stored row when it is a money row."""

    seq: int | None
    reason: str
    detail: str
    table: str | None = None
    row_id: int | str | None = None


def parse_head(text: str) -> tuple[int | None, str]:
    """`HASH` or `SEQ:HASH` (as printed by `cs audit head`)."""
    seq, sep, digest = text.strip().rpartition(":")
    if sep and seq.isdigit():
        return int(seq), digest.lower()
    return None, text.strip().lower()


def _hash_ok(e: AuditEntry, key: bytes | None, seq: int | None = None) -> bool:
    k = key if e.alg == HMAC_SHA256 else None
    return hmac.compare_digest(chain_hash(e.prev_hash, e.canonical(seq), k), e.hash)


def _original_seq(e: AuditEntry, key: bytes | None) -> int | None:
    """The seq `e` was sealed with, when only its stored seq was changed (None: content changed).
    Tried on the first bad entry only. `seq` is the last key of the canonical JSON, so every
    candidate shares one hashed prefix."""
    base = e.canonical(0)
    head = base[: base.rindex(b'"seq":0}') + len(b'"seq":')]
    k = key if e.alg == HMAC_SHA256 else None
    start = hmac.new(k, digestmod=hashlib.sha256) if k else hashlib.sha256()
    start.update(e.prev_hash.encode("ascii") + head)
    for s in range(1, _MAX_RENUMBER_SEARCH + 1):
        h = start.copy()
        h.update(b"%d}" % s)
        if s != e.seq and hmac.compare_digest(h.hexdigest(), e.hash):
            return s
    return None


def _broken_link(chain: list[AuditEntry], i: int, key: bytes | None, later: Mapping[str, int]) -> Problem:
    """Entry `i` does not link to entry `i - 1` (or to GENESIS): say what was done."""
    e, expected = chain[i], (chain[i - 1].seq + 1 if i else 1)
    if later.get(e.prev_hash, 0) > e.seq:
        return Problem(e.seq, "reordered", f"seq {e.seq} links to the later entry seq {later[e.prev_hash]}")
    if not _hash_ok(e, key):
        original = _original_seq(e, key)
        if original is not None and original > expected:
            gone = original - expected
            return Problem(expected, "deleted", f"{gone} entr{'y' if gone == 1 else 'ies'} from seq {expected} "
                           "deleted; later entries were renumbered to hide the gap")
    if e.seq != expected:
        return Problem(expected, "deleted", f"seq {expected}..{e.seq - 1} missing")
    # The predecessor's stored hash is not what this entry chained to: it was rewritten.
    prev = chain[i - 1].seq if i else e.seq
    return Problem(prev, "edited", f"seq {prev} was rewritten (its successor chained to another hash)")


def _entry_problem(chain: list[AuditEntry], i: int, key: bytes | None, keyed_from: int | None,
                   later: Mapping[str, int]) -> Problem | None:
    e, prev_hash = chain[i], chain[i - 1].hash if i else GENESIS
    expected = chain[i - 1].seq + 1 if i else 1
    if e.prev_hash != prev_hash:
        return _broken_link(chain, i, key, later)
    if e.alg == HMAC_SHA256 and key is None:
        return Problem(e.seq, "key_required", f"seq {e.seq} onward is HMAC-keyed: set COSTHQ_AUDIT_KEY to verify")
    if not _hash_ok(e, key):
        if _original_seq(e, key) is None:
            return Problem(e.seq, "edited", f"seq {e.seq} does not hash to its stored hash")
        return Problem(expected, "renumbered", f"seq {expected} was renumbered (stored as {e.seq})")
    if e.seq != expected:
        return Problem(expected, "renumbered", f"seq {expected} was renumbered (stored as {e.seq})")
    if e.alg not in (SHA256, HMAC_SHA256):
        return Problem(e.seq, "forged", f"seq {e.seq} has an unknown algorithm {e.alg!r}")
    if keyed_from is not None and e.seq > keyed_from and e.alg != HMAC_SHA256 and e.event not in UNKEYED_EVENTS:
        return Problem(e.seq, "forged", f"seq {e.seq} is unkeyed inside the keyed segment (from seq {keyed_from})")
    return None


def chain_problem(chain: list[AuditEntry], key: bytes | None) -> tuple[Problem | None, int | None]:
    """The first problem of the chain itself (links, hashes, seqs, keys) and the keyed segment's start."""
    later = {e.hash: e.seq for e in chain}
    keyed_from = next((e.seq for e in chain if e.alg == HMAC_SHA256), None)
    for i in range(len(chain)):
        found = _entry_problem(chain, i, key, keyed_from, later)
        if found is not None:
            return found, keyed_from
    return None, keyed_from


def anchor_problem(chain: list[AuditEntry], anchor: str, *, source: str) -> Problem | None:
    """An anchor (`SEQ:HASH` or `HASH`) kept outside the database against an intact chain."""
    head_seq, head_hash = parse_head(anchor)
    by_seq = {e.seq: e.hash for e in chain}
    last = chain[-1].seq if chain else 0
    if head_seq is None:
        if head_hash in by_seq.values():
            return None
        return Problem(last + 1, "truncated", f"the {source} head {head_hash[:12]} is not in the chain")
    if head_seq > last:
        return Problem(last + 1, "truncated", f"the {source} names seq {head_seq}; the chain ends at seq {last}")
    if by_seq.get(head_seq) != head_hash:
        return Problem(head_seq, "edited", f"seq {head_seq} differs from the {source} head: history was rewritten")
    return None


def verify(entries: Iterable[AuditEntry], *, key: bytes | None = None, anchors: Mapping[str, str] | None = None,
           coverage: Any = None) -> VerifyResult:
    """Verify the chain, then each anchor (`{source: head}`), then `coverage(chain) -> Problem | None`
    (the money rows, see audit_coverage.py); the first problem found is the result."""
    chain = list(entries)
    head_seq, head_hash = (chain[-1].seq, chain[-1].hash) if chain else (0, GENESIS)
    found, keyed_from = chain_problem(chain, key)
    for source, anchor in (anchors or {}).items():
        found = found or anchor_problem(chain, anchor, source=source)
    if found is None and coverage is not None:
        found = coverage(chain)
    if found is None:
        return VerifyResult(ok=True, count=len(chain), head_seq=head_seq, head_hash=head_hash, keyed_from=keyed_from)
    return VerifyResult(ok=False, count=len(chain), head_seq=head_seq, head_hash=head_hash, bad_seq=found.seq,
                        reason=found.reason, table=found.table, row_id=found.row_id, detail=found.detail,
                        keyed_from=keyed_from)
