"""The tamper-evident audit chain: canonical bytes, chained hashes, verification (pure).

Rules:
- An entry's canonical bytes are `json.dumps(sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)` over exactly CANONICAL_FIELDS, UTF-8 encoded. Never route this through
  an adapter converter: a converter change would break every existing chain.
- `hash = SHA-256(prev_hash || canonical)` (alg `sha256`), or HMAC-SHA-256 with a secret key
  (alg `hmac-sha256`), hex encoded; the first entry's prev_hash is GENESIS; seq runs 1, 2, 3...
- Verification walks entries in seq order and reports the first bad seq: `deleted` (a seq
  gap: the missing seq), `reordered` (the entry links to a later entry), `edited` (its hash does
  not recompute, or its successor links to a different hash), `truncated` (an expected head is
  not in the chain: the first missing seq), `forged` (an unkeyed entry where a key is required).
- With a key, unkeyed entries are accepted only for `migration` events (written by the schema
  ladder, which has no key); anyone without the key cannot forge any other entry.
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

    def canonical(self) -> bytes:
        """The exact bytes the hash covers (CANONICAL_FIELDS)."""
        return canonical_bytes({f: getattr(self, f) for f in CANONICAL_FIELDS})


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    """Canonical JSON of `fields` (see module rules)."""
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(prev_hash: str, canonical: bytes, key: bytes | None) -> str:
    """SHA-256(prev_hash || canonical), or HMAC-SHA-256 under `key`."""
    data = prev_hash.encode("ascii") + canonical
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def seal(event: AuditEvent, *, seq: int, prev_hash: str, key: bytes | None) -> AuditEntry:
    """The entry following `prev_hash` at `seq`."""
    fields = {"seq": seq, "at": json_value(event.at), "actor": event.actor, "event": event.event,
              "payload": json_value(event.payload), "alg": HMAC_SHA256 if key else SHA256, "prev_hash": prev_hash}
    return AuditEntry(**fields, hash=chain_hash(prev_hash, canonical_bytes(fields), key))


@attrs.frozen(kw_only=True)
class VerifyResult:
    """Outcome of `verify`.

    Attributes:
        ok: the chain verifies.
        count: entries read.
        head_seq / head_hash: the last entry (0 / GENESIS when empty).
        bad_seq: first bad seq when not ok.
        reason: deleted | reordered | edited | truncated | forged.
    """

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    reason: str | None = None


def _entry_hash_ok(e: AuditEntry, key: bytes | None) -> bool:
    if e.alg == HMAC_SHA256:
        return key is not None and hmac.compare_digest(chain_hash(e.prev_hash, e.canonical(), key), e.hash)
    return e.alg == SHA256 and hmac.compare_digest(chain_hash(e.prev_hash, e.canonical(), None), e.hash)


def parse_head(text: str) -> tuple[int | None, str]:
    """`HASH` or `SEQ:HASH` (as printed by `cs audit head`)."""
    seq, sep, digest = text.strip().rpartition(":")
    if sep and seq.isdigit():
        return int(seq), digest.lower()
    return None, text.strip().lower()


def verify(entries: Iterable[AuditEntry], *, key: bytes | None = None, expect_head: str | None = None) -> VerifyResult:
    """Recompute the chain over `entries` (seq order) and name the first bad seq."""
    chain = list(entries)
    later = {e.hash: e.seq for e in chain}
    prev_hash, expected = GENESIS, 1

    def bad(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(ok=False, count=len(chain), head_seq=chain[-1].seq if chain else 0,
                            head_hash=chain[-1].hash if chain else GENESIS, bad_seq=seq, reason=reason)

    for i, e in enumerate(chain):
        if e.seq != expected:
            return bad(expected, "deleted")
        if e.prev_hash != prev_hash:
            if later.get(e.prev_hash, 0) > e.seq:
                return bad(e.seq, "reordered")
            # The predecessor's stored hash is not what this entry chained to: it was rewritten.
            return bad(chain[i - 1].seq if i else e.seq, "edited")
        if not _entry_hash_ok(e, key):
            return bad(e.seq, "edited")
        if key and e.alg != HMAC_SHA256 and e.event not in UNKEYED_EVENTS:
            return bad(e.seq, "forged")
        prev_hash, expected = e.hash, expected + 1
    if expect_head is not None:
        head_seq, head_hash = parse_head(expect_head)
        found = later.get(head_hash)
        if head_seq is not None and head_seq < expected and found != head_seq:
            return bad(head_seq, "edited")  # the chain reaches that seq, but with other history
        if found is None or (head_seq is not None and found != head_seq):
            return bad(expected, "truncated")
    return VerifyResult(ok=True, count=len(chain), head_seq=expected - 1, head_hash=prev_hash)
