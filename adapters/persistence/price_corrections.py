"""The price-correction overlay: small, reviewed fixes on top of genai-prices' bundled data.

The data is `price_corrections.json` beside this module. An entry amends one catalogue model
(every ref that resolves to it) by adding cliff tiers to the rates it was reviewed against:
- applied only while the built-in entry still has exactly those base rates and no tier of its
  own for the corrected classes (`CorrectionState.APPLIED`);
- once the built-in data has tiers there itself, the built-in data wins and `cs pricing list`
  warns that the correction can be retired (`IN_BUILT_IN`); if the base rates changed it is not
  applied and the warning asks for a review (`BASE_CHANGED`).
A malformed data file is a packaging bug: loading it raises (the tests load it).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from costhq.domain.pricing import CorrectionState, PriceCorrection

DATA = Path(__file__).with_name("price_corrections.json")
# genai-prices' token price keys, as the catalogue index stores them.
SLOTS = frozenset(f"{slot}_mtok" for slot in ("input", "output", "cache_read", "cache_write", "cache_write_1h"))


@attrs.frozen(kw_only=True)
class Correction:
    """One overlay entry (see price_corrections.json)."""

    id: str
    provider: str
    model: str
    summary: str
    source: str
    checked: date
    base: dict[str, str]
    tiers: dict[str, list[list[Any]]]

    def evaluate(self, rates: dict[str, Any]) -> tuple[CorrectionState, dict[str, Any]]:
        """The state against `rates` (index rates in force at some time) and the rates to price with."""
        if any(isinstance(rates.get(slot), list) for slot in self.tiers):  # tiered there already
            return CorrectionState.IN_BUILT_IN, rates
        if any(slot not in rates or Decimal(rates[slot]) != Decimal(self.base[slot]) for slot in self.tiers):
            return CorrectionState.BASE_CHANGED, rates
        return CorrectionState.APPLIED, {**rates, **{slot: [rates[slot], t] for slot, t in self.tiers.items()}}

    def report(self, state: CorrectionState) -> PriceCorrection:
        """The domain view of this entry in `state`."""
        return PriceCorrection(id=self.id, provider=self.provider, model=self.model, summary=self.summary,
                               source=self.source, checked=self.checked, state=state)


def load_corrections(path: Path = DATA) -> dict[tuple[str, str], Correction]:
    """The overlay keyed by (provider id, catalogue model id), validated.

    Raises:
        ValueError, KeyError, decimal.InvalidOperation: the file is not a valid overlay.
    """
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != 1:
        raise ValueError(f"{path}: unknown format {doc.get('format')!r}")
    out: dict[tuple[str, str], Correction] = {}
    for raw in doc["corrections"]:
        entry = _entry(raw)
        if (entry.provider, entry.model) in out:
            raise ValueError(f"{path}: two corrections of {entry.provider}/{entry.model}")
        out[entry.provider, entry.model] = entry
    return out


def _entry(raw: dict[str, Any]) -> Correction:
    entry = Correction(id=raw["id"], provider=raw["provider"], model=raw["model"], summary=raw["summary"],
                       source=raw["source"], checked=date.fromisoformat(raw["checked"]), base=raw["base"],
                       tiers=raw["tiers"])
    if "https://" not in entry.source or not entry.tiers or set(entry.tiers) - SLOTS or set(entry.base) != set(
            entry.tiers):
        raise ValueError(f"correction {entry.id}: needs a source URL and base rates for each tiered class")
    for slot, tiers in entry.tiers.items():
        starts = [int(start) for start, _ in tiers]
        if starts != sorted(set(starts)) or any(Decimal(price) < 0 for _, price in tiers):
            raise ValueError(f"correction {entry.id}: {slot} tiers must be ascending with prices >= 0")
        Decimal(entry.base[slot])  # a base rate must be a number (raises otherwise)
    return entry
