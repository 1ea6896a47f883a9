"""The audit chain's coverage of money: usage records, budget rules, price overrides (pure).

Rules:
- Every usage record's digest is in the chain: `usage.logged` carries `digest` (one call),
  `usage.imported` carries `usage: [[id, digest], ...]` (a batch). The digest is SHA-256 of the
  canonical JSON of USAGE_DIGEST_FIELDS, so a stored cost, token count, model or time changed
  afterwards no longer matches.
- Rows stored before the chain covered them (databases older than schema step 9) are covered
  by the step's `migration` entry: `usage: {through, count, digest}`, the aggregate digest of
  every row with id <= through (SHA-256 of their digests in id order).
- Budget rules replay from `budget.set` / `budget.remove`; price overrides (`pricing.json`)
  from `pricing.set` / `pricing.reset` (key null: all). `data.reset` (Start Fresh) forgets the
  usage rows and the session rules before it.
- Compared with what is stored, each row is `edited` (differs from its entry), `deleted` (its
  entry has no row) or `unaudited` (a row no entry covers, seq None); the problem with the
  lowest seq is reported first, unaudited rows last.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from costhq.domain.audit import AuditEntry, Problem, canonical_bytes, json_value
from costhq.domain.budgets import BudgetRule
from costhq.domain.money import quantize
from costhq.domain.pricing import CustomPrice
from costhq.domain.usage import UsageRecord

USAGE_DIGEST_FIELDS = ("id", "session_id", "provider", "model", "served_model", "input", "cache_read",
                       "cache_write_5m", "cache_write_1h", "output", "reasoning", "cost", "price_source",
                       "timestamp")
IMPORT_CHUNK = 500  # usage digests per `usage.imported` entry
_RULE_FIELDS = ("scope", "limit", "action", "model", "session_id", "project")
_PRICE_FIELDS = ("input", "output", "cache_read", "cache_write")


def usage_digest(rec: UsageRecord) -> str:
    """SHA-256 of the record's money-bearing fields (USAGE_DIGEST_FIELDS), as canonical JSON."""
    t = rec.tokens
    fields = {"id": rec.id, "session_id": rec.session_id, "provider": rec.provider, "model": rec.model,
              "served_model": rec.served_model, "input": t.input, "cache_read": t.cache_read,
              "cache_write_5m": t.cache_write_5m, "cache_write_1h": t.cache_write_1h, "output": t.output,
              "reasoning": t.reasoning, "cost": None if rec.cost is None else str(quantize(rec.cost)),
              "price_source": rec.price_source.value, "timestamp": json_value(rec.timestamp)}
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


def aggregate_digest(digests: Iterable[str]) -> str:
    """SHA-256 over the digests of many rows, in id order (the pre-chain baseline)."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode("ascii"))
    return h.hexdigest()


def _number(value: Any) -> str | None:
    return None if value is None else str(Decimal(str(value)).normalize())


def rule_fields(rule: BudgetRule | Mapping[str, Any]) -> dict[str, Any]:
    """A rule's audited fields, comparable between a stored rule and a `budget.set` payload."""
    raw = {f: json_value(getattr(rule, f)) for f in _RULE_FIELDS} if isinstance(rule, BudgetRule) \
        else {f: rule.get(f) for f in _RULE_FIELDS}
    return {**raw, "limit": _number(raw["limit"])}


def price_fields(price: CustomPrice | Mapping[str, Any]) -> dict[str, Any]:
    """An override's audited rates, comparable between `pricing.json` and a `pricing.set` payload."""
    get = (lambda f: getattr(price, f)) if isinstance(price, CustomPrice) else price.get
    return {f: _number(get(f)) for f in _PRICE_FIELDS}


@attrs.frozen(kw_only=True)
class StoredMoney:
    """What is stored now: usage digests by id, rules by id, overrides by key."""

    usage: Mapping[int, str]
    rules: Mapping[int, BudgetRule]
    prices: Mapping[str, CustomPrice]


@attrs.define
class _Expected:
    usage: dict[int, tuple[int, str]] = attrs.Factory(dict)
    baseline: tuple[int, Mapping[str, Any]] | None = None
    rules: dict[int, tuple[int, dict[str, Any]]] = attrs.Factory(dict)
    prices: dict[str, tuple[int, dict[str, Any]]] = attrs.Factory(dict)

    def apply(self, e: AuditEntry) -> None:
        p = e.payload
        if e.event == "usage.logged" and "digest" in p:
            self.usage[int(p["usage_id"])] = (e.seq, str(p["digest"]))
        elif e.event == "usage.imported":
            self.usage.update({int(uid): (e.seq, str(d)) for uid, d in p.get("usage", [])})
        elif e.event == "migration" and isinstance(p.get("usage"), Mapping):
            self.baseline = (e.seq, p["usage"])
        elif e.event == "data.reset":
            self.usage.clear()
            self.baseline = None
            self.rules = {k: v for k, v in self.rules.items() if v[1]["session_id"] is None}
        elif e.event == "budget.set":
            self.rules[int(p["rule_id"])] = (e.seq, rule_fields(p))
        elif e.event == "budget.remove":
            self.rules.pop(int(p["rule_id"]), None)
        elif e.event == "pricing.set":
            self.prices[str(p["key"])] = (e.seq, price_fields(p))
        elif e.event == "pricing.reset":
            if p.get("key") is None:
                self.prices.clear()
            else:
                self.prices.pop(str(p["key"]), None)


def _usage_problems(exp: _Expected, stored: Mapping[int, str]) -> Iterable[Problem]:
    through = 0
    if exp.baseline is not None:
        seq, base = exp.baseline
        through = int(base.get("through", 0))
        old = [stored[i] for i in sorted(stored) if i <= through]
        if len(old) < int(base.get("count", 0)):
            yield Problem(seq, "deleted", f"{int(base['count']) - len(old)} usage row(s) with id <= {through} "
                                          "deleted (covered by the migration baseline)", "ai_usage")
        elif aggregate_digest(old) != base.get("digest"):
            yield Problem(seq, "edited", f"a usage row with id <= {through} was changed (migration baseline)",
                          "ai_usage")
    for uid, (seq, digest) in exp.usage.items():
        found = stored.get(uid)
        if found is None:
            yield Problem(seq, "deleted", f"usage row {uid} was deleted", "ai_usage", uid)
        elif found != digest:
            yield Problem(seq, "edited", f"usage row {uid} no longer matches its digest (cost, tokens or "
                                         "model changed)", "ai_usage", uid)
    for uid in sorted(stored):
        if uid > through and uid not in exp.usage:
            yield Problem(None, "unaudited", f"usage row {uid} is not in the audit chain", "ai_usage", uid)


def _keyed_problems(table: str, what: str, expected: Mapping[Any, tuple[int, dict[str, Any]]],
                    stored: Mapping[Any, dict[str, Any]]) -> Iterable[Problem]:
    for key, (seq, fields) in expected.items():
        found = stored.get(key)
        if found is None:
            yield Problem(seq, "deleted", f"{what} {key} was removed without an audit entry", table, key)
        elif found != fields:
            yield Problem(seq, "edited", f"{what} {key} differs from its audit entry", table, key)
    for key in stored:
        if key not in expected:
            yield Problem(None, "unaudited", f"{what} {key} is not in the audit chain", table, key)


def coverage_problem(chain: Iterable[AuditEntry], stored: StoredMoney) -> Problem | None:
    """The first money row that does not match the chain (see module rules), None when all match."""
    exp = _Expected()
    for e in chain:
        exp.apply(e)
    found = [*_usage_problems(exp, stored.usage),
             *_keyed_problems("budgets", "budget rule", exp.rules,
                              {k: rule_fields(r) for k, r in stored.rules.items()}),
             *_keyed_problems("pricing.json", "price override", exp.prices,
                              {k: price_fields(p) for k, p in stored.prices.items()})]
    return min(found, key=lambda p: (p.seq is None, p.seq or 0), default=None)


def usage_entries(records: Iterable[UsageRecord]) -> Iterable[list[list[Any]]]:
    """`usage.imported` payloads for a batch: [[id, digest], ...] in chunks of IMPORT_CHUNK."""
    chunk: list[list[Any]] = []
    for rec in records:
        chunk.append([rec.id, usage_digest(rec)])
        if len(chunk) == IMPORT_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
