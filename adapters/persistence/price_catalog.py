"""Built-in prices: a compact index of every genai-prices model (all providers), cached on disk.

Built once per genai-prices version (importing its ~400 ms data module) and cached as JSON lines:
a header (providers, match clauses), then one line of models per provider, decoded only when a
lookup reaches it, so `cs log-ai` pays ~1 ms, not ~10 ms. Matching reproduces genai-prices:
lower-cased refs, a provider's first matching model, one step of provider fallback (Azure serves
OpenAI models), a retry with `-20251211` read as `-2025-12-11`, providers named by id or match.

Kept: token prices (input, output, cache read, cache write 5m / 1h, cliff tiers), each with its
start date, so a call is priced as of its own time; time-of-day prices (DeepSeek) are resolved at
that time too, as genai-prices does (its unconstrained DeepSeek price is the *off-peak* one).
Dropped: per-request, search, audio and page prices, and request-context variants (service tiers:
the standard price applies). A model priced only in dropped units is kept as unpriced (never $0).
Amended at quote time by the reviewed price corrections (`price_corrections.py`), never in the cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from costhq.adapters.persistence.custom_prices import write_atomically
from costhq.adapters.persistence.price_corrections import Correction, load_corrections
from costhq.domain.pricing import CorrectionState, ModelPrice, PriceCorrection, PriceQuote, PriceSource, Rate

FORMAT = 1
# genai-prices price key -> domain ModelPrice field. genai-prices' input_tokens include cache
# tokens, but it prices leaves (input minus the priced cache classes): our disjoint classes.
_SLOTS = {f"{slot}_mtok": slot for slot in ("input", "output", "cache_read", "cache_write", "cache_write_1h")}
_COMPACT_DATE = re.compile(r"(-)(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")
_CLAUSES = {"equals": "eq", "starts_with": "sw", "ends_with": "ew", "contains": "in", "regex": "re"}
_Op = Callable[[str, str], bool]
_OPS: dict[str, _Op] = {"eq": str.__eq__, "sw": str.startswith, "ew": str.endswith, "in": str.__contains__}

# An index model is [id, name, clause, prices]; prices is None (unpriced) or a list of
# [constraint, {price_key: rate}], constraint None | "YYYY-MM-DD" | [start_s, end_s] (UTC seconds).
Entry = list[Any]


def genai_prices_version() -> str:
    """The installed genai-prices version, from its dist-info folder name (importlib.metadata
    costs ~40 ms to import, so it is only the fallback for unusual layouts)."""
    spec = importlib.util.find_spec("genai_prices")
    site = Path(spec.origin).parent.parent if spec and spec.origin else None
    for name in os.listdir(site) if site else ():
        if name.startswith("genai_prices-") and name.endswith(".dist-info"):
            return name[len("genai_prices-") : -len(".dist-info")]
    from importlib.metadata import version

    return version("genai-prices")


def build_index() -> dict[str, Any]:
    """Serialise genai-prices' bundled data into the compact index (slow: imports the data)."""
    from genai_prices.data import providers

    return {
        "format": FORMAT,
        "genaiPrices": genai_prices_version(),
        "providers": [
            {
                "id": p.id,
                "providerMatch": _clause(p.provider_match),
                "modelMatch": _clause(p.model_match),
                "fallback": list(p.fallback_model_providers or ()),
                "models": [_model(m) for m in p.models],
            }
            for p in providers
        ],
    }


def _model(m: Any) -> Entry:
    conditional = (
        m.prices if isinstance(m.prices, list) else [SimpleNamespace(constraint=None, prices=m.prices)]
    )
    prices, token_priced, free = [], False, True
    for cp in conditional:
        values = {k: v for k, v in vars(cp.prices).items() if v is not None and not k.startswith("_")}
        rates = {k: _rate(values[k]) for k in _SLOTS if k in values}
        free, token_priced = free and not values, token_priced or bool(rates)
        prices.append([_constraint(cp.constraint), rates])
    return [m.id, m.name or m.id, _clause(m.match), prices if token_priced or free else None]


def _rate(value: Any) -> str | list[Any]:
    if hasattr(value, "tiers"):
        return [str(value.base), [[t.start, str(t.price)] for t in value.tiers]]
    return str(value)


def _constraint(c: Any) -> str | list[int] | None:
    if c is None:
        return None
    if hasattr(c, "start_date"):
        return str(c.start_date.isoformat())
    day = date(1970, 1, 1)
    utc = [datetime.combine(day, t, t.tzinfo or UTC).astimezone(UTC) for t in (c.start_time, c.end_time)]
    return [u.hour * 3600 + u.minute * 60 + u.second for u in utc]


def _clause(c: Any) -> list[Any] | None:
    if c is None:
        return None
    (field, value), *_ = vars(c).items()  # every clause is a one-field dataclass
    if field in ("or_", "and_"):
        return [field[:-1], *(_clause(x) for x in value)]
    return [_CLAUSES[field], value if field == "regex" else value.lower()]


def matches(clause: list[Any], ref: str) -> bool:
    """Evaluate a serialised clause against a lower-cased ref (genai-prices semantics)."""
    op = clause[0]
    if op == "or":
        return any(matches(c, ref) for c in clause[1:])
    if op == "and":
        return all(matches(c, ref) for c in clause[1:])
    if op == "re":
        return re.search(clause[1], ref) is not None
    return _OPS[op](ref, clause[1])


def normalize_compact_date(ref: str) -> str:
    """`gpt-5.2-20251211` -> `gpt-5.2-2025-12-11` (only real calendar dates)."""

    def replace(m: re.Match[str]) -> str:
        try:
            return f"-{date(int(m[2]), int(m[3]), int(m[4])).isoformat()}"
        except ValueError:
            return m[0]

    return _COMPACT_DATE.sub(replace, ref)


def select_rates(prices: list[Any], at: datetime) -> dict[str, Any]:
    """The rates in force at `at`: the last entry whose constraint holds, else the first."""
    return dict(prices[_rates_index(prices, at)][1])


def _rates_index(prices: list[Any], at: datetime) -> int:
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    day, secs = at.date().isoformat(), at.hour * 3600 + at.minute * 60 + at.second + at.microsecond / 1e6
    for i in range(len(prices) - 1, -1, -1):
        constraint = prices[i][0]
        if constraint is None or (isinstance(constraint, str) and day >= constraint):
            return i
        if isinstance(constraint, list):
            start, end = constraint
            if (secs >= start or secs < end) if end < start else start <= secs < end:
                return i
    return 0


def model_price(rates: dict[str, Any]) -> ModelPrice:
    """Domain rates from index rates; a missing input/output price means genai-prices charges 0."""
    slots = {_SLOTS[k]: _to_rate(v) for k, v in rates.items() if k in _SLOTS}
    return ModelPrice(**{"input": Rate(Decimal(0)), "output": Rate(Decimal(0)), **slots})


def _to_rate(value: str | list[Any]) -> Rate:
    if isinstance(value, str):
        return Rate(Decimal(value))
    return Rate(Decimal(value[0]), tuple((int(s), Decimal(p)) for s, p in value[1]))


_Hit = tuple[dict[str, Any], Entry]


class PriceCatalog:
    """The catalogue behind `CatalogPriceBook`. Needs a writable cache dir (else the index stays in
    memory); the file is replaced atomically, so racing `cs` processes at worst build it twice."""

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        *,
        build: Callable[[], dict[str, Any]] = build_index,
        corrections: Callable[[], dict[tuple[str, str], Correction]] = load_corrections,
    ) -> None:
        self._dir = Path(cache_dir)
        self._build = build
        self._load_corrections = corrections
        self._corrections: dict[tuple[str, str], Correction] | None = None
        self._providers: list[dict[str, Any]] | None = None
        self._memo: dict[tuple[str, str], Any] = {}
        self._quotes: dict[tuple[str, str, int], PriceQuote] = {}
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The cache file of the installed genai-prices version."""
        return self._dir / f"prices-{genai_prices_version()}.jsonl"

    def find(self, provider: str, model: str, at: datetime) -> PriceQuote | None:
        """The built-in price of `model` as served by `provider`, in force at `at`; None if unknown."""
        key = (provider.strip().lower(), model.strip().lower())
        if key not in self._memo:
            self._memo[key] = self._resolve(*key)
        hit = self._memo[key]
        return None if hit is None or hit[1][3] is None else self._quote(hit, at)

    def entries(
        self, at: datetime, *, provider: str | None = None, search: str | None = None
    ) -> Iterator[PriceQuote]:
        """Priced models (at `at`), optionally of one provider and/or containing `search`."""
        only = self._named(provider.strip().lower()) if provider else None
        if provider and only is None:
            return
        needle = (search or "").strip().lower()
        for p in [only] if only else self._index():
            for m in _models(p):
                if m[3] is not None and (needle in m[0].lower() or needle in m[1].lower()):
                    yield self._quote((p, m), at)

    def corrections(self, at: datetime) -> list[PriceCorrection]:
        """Every price correction and its state against the built-in rates in force at `at`."""
        out = []
        for (pid, model_id), fix in self._fixes().items():
            provider = next((p for p in self._index() if p["id"] == pid), None)
            model = next((m for m in _models(provider) if m[0] == model_id), None) if provider else None
            if model is None or model[3] is None:
                out.append(fix.report(CorrectionState.MODEL_MISSING))
            else:
                out.append(fix.report(fix.evaluate(select_rates(model[3], at))[0]))
        return out

    def _fixes(self) -> dict[tuple[str, str], Correction]:
        if self._corrections is None:
            self._corrections = self._load_corrections()
        return self._corrections

    def _quote(self, hit: _Hit, at: datetime) -> PriceQuote:
        # Memoised per rates entry in force: the proxy quotes every guarded request (issue 15).
        provider, model = hit
        key = (provider["id"], model[0], _rates_index(model[3], at))
        found = self._quotes.get(key)
        if found is None:
            found = self._quotes[key] = self._quote_rates(hit, dict(model[3][key[2]][1]))
        return found

    def _quote_rates(self, hit: _Hit, rates: dict[str, Any]) -> PriceQuote:
        provider, model = hit
        applied = None
        fix = self._fixes().get((provider["id"], model[0]))
        if fix is not None:
            state, rates = fix.evaluate(rates)
            applied = fix.id if state is CorrectionState.APPLIED else None
        return PriceQuote(source=PriceSource.BUILT_IN, key=model[0], price=model_price(rates),
                          provider=provider["id"], correction=applied)

    def load(self) -> None:
        """Read (or build) the index and the corrections now instead of at the first look-up."""
        self._index()
        self._fixes()

    def _index(self) -> list[dict[str, Any]]:
        if self._providers is None:
            with self._lock:
                if self._providers is None:
                    self._providers = self._load()["providers"]
        return self._providers

    def _load(self) -> dict[str, Any]:
        path = self.path
        try:
            doc = _parse(path.read_bytes())
            if doc is not None:
                return doc
        except (OSError, ValueError):
            pass  # missing or unreadable: rebuild below
        doc = self._build()
        try:
            write_atomically(path, _dump(doc))
        except OSError:
            pass  # read-only cache dir: the in-memory index still serves this process
        return doc

    def _named(self, pid: str) -> dict[str, Any] | None:
        if not pid:
            return None
        index = self._index()
        return next((p for p in index if p["id"] == pid), None) or next(
            (p for p in index if p["providerMatch"] and matches(p["providerMatch"], pid)), None
        )

    def _resolve(self, pid: str, ref: str) -> _Hit | None:
        head, slash, rest = ref.partition("/")
        refs = [ref, rest] if slash and rest else [ref]
        named = self._named(pid)
        for r in refs if named else ():
            if hit := self._in_provider(named, r, fallback=True):  # type: ignore[arg-type]
                return hit
        prefixed = self._named(head) if slash and rest else None
        if prefixed and (hit := self._in_provider(prefixed, rest, True)):
            return hit
        for r in refs:
            for p in self._index():
                if p["modelMatch"] and matches(p["modelMatch"], r) and (hit := self._in_provider(p, r, True)):
                    return hit
        for r in refs:  # last resort: any provider; a free (all-zero) listing never wins a blind scan
            for p in self._index():
                if (hit := self._in_provider(p, r, False)) and any(
                    rates for _, rates in hit[1][3] or [[0, 1]]
                ):
                    return hit
        return None

    def _in_provider(self, provider: dict[str, Any], ref: str, fallback: bool) -> _Hit | None:
        for r in dict.fromkeys((ref, normalize_compact_date(ref))):
            chain = [provider]
            if fallback:
                chain += [p for fid in provider["fallback"] for p in self._index() if p["id"] == fid]
            for p in chain:
                if m := next((m for m in _models(p) if matches(m[2], r)), None):
                    return p, m
        return None


def _dump(doc: dict[str, Any]) -> str:
    head = {**doc, "providers": [{k: v for k, v in p.items() if k != "models"} for p in doc["providers"]]}
    lines = [head] + [p["models"] for p in doc["providers"]]
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)


def _parse(data: bytes) -> dict[str, Any] | None:
    lines = data.split(b"\n")
    head: dict[str, Any] = json.loads(lines[0])
    providers = head.get("providers") or []
    if head.get("format") != FORMAT or len(lines) != len(providers) + 2 or lines[-1]:
        return None
    for provider, raw in zip(providers, lines[1:], strict=False):
        provider["raw"] = raw
    return head


def _models(provider: dict[str, Any]) -> list[Entry]:
    models: list[Entry] | None = provider.get("models")
    if models is None:  # decoded on first use: a lookup by a named provider reads only its line
        models = provider["models"] = json.loads(provider["raw"])
    return models
