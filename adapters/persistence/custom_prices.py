"""Custom prices: `JsonCustomPriceStore` implements the CustomPriceStore port over `pricing.json`.

The file format is the old tool's: `{"model" | "provider/model": {"input": USD per 1M,
"output": USD per 1M}}`, plus optional `"cacheRead"`, `"cacheWrite"` (5-minute) and
`"cacheWrite1h"` (issue 17). Unknown fields and entries written by other tools survive our
rewrites, numbers keep their exact decimal text.
"""

from __future__ import annotations

import json
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from costhq.domain.errors import InvalidPricing
from costhq.domain.money import parse_usd
from costhq.domain.numbers import MAX_PRICE_PER_1M
from costhq.domain.pricing import CustomPrice

_FIELDS = (
    ("input", "input"),
    ("output", "output"),
    ("cacheRead", "cache_read"),
    ("cacheWrite", "cache_write"),
    ("cacheWrite1h", "cache_write_1h"),
)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step (temp file in the same dir + fsync + os.replace),
    so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class JsonCustomPriceStore:
    """CustomPriceStore over a JSON file (the data dir's `pricing.json`).

    Reads lazily, on the first call that needs the overrides, and re-reads only when the file's
    (mtime, size, inode) changes. A missing file means no overrides; a malformed one raises
    InvalidPricing naming the file and the reason. Concurrent writers: last one wins.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._cached: list[CustomPrice] = []

    @property
    def path(self) -> Path:
        """The JSON file."""
        return self._path

    def all(self) -> list[CustomPrice]:
        """Every override, in file order."""
        try:
            st = self._path.stat()
        except FileNotFoundError:
            self._stamp, self._cached = None, []
            return []
        except OSError as exc:
            raise self._invalid(f"cannot read ({exc.strerror})") from exc
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._cached = [self._parse(key, raw) for key, raw in self._read().items()]
            self._stamp = stamp
        return list(self._cached)

    def put(self, price: CustomPrice) -> None:
        """Add or replace the override stored under `price.key`."""
        doc = self._read()
        existing = doc.get(price.key)
        entry = dict(existing) if isinstance(existing, dict) else {}
        for name, attr in _FIELDS:
            value = getattr(price, attr)
            if value is None:
                entry.pop(name, None)
            else:
                entry[name] = value
        doc[price.key] = entry
        self._write(doc)

    def remove(self, key: str) -> bool:
        """Remove one override; False when there was none under `key`."""
        doc = self._read()
        if key not in doc:
            return False
        del doc[key]
        self._write(doc)
        return True

    def clear(self) -> int:
        """Remove every override; returns how many there were."""
        doc = self._read()
        if doc:
            self._write({})
        return len(doc)

    def _read(self) -> dict[str, Any]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise self._invalid(f"cannot read ({exc})") from exc
        if not text.strip():
            return {}
        try:
            doc = json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            raise self._invalid(f"not valid JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise self._invalid("expected a JSON object mapping model names to prices")
        return doc

    def _parse(self, key: str, raw: Any) -> CustomPrice:
        if not isinstance(raw, dict):
            raise self._invalid(f'entry {key!r} must be an object like {{"input": 3, "output": 15}}')
        for name in ("input", "output"):
            if raw.get(name) is None:
                raise self._invalid(f"entry {key!r} lacks {name!r}")
        values = {
            attr: self._number(key, name, raw[name]) for name, attr in _FIELDS if raw.get(name) is not None
        }
        try:
            return CustomPrice(key=key, **values)
        except ValueError as exc:
            raise self._invalid(f"entry {key!r}: {exc}") from exc

    def _number(self, key: str, name: str, value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise self._invalid(f"entry {key!r}: {name!r} must be a number")
        try:
            return parse_usd(value, name=repr(name), maximum=MAX_PRICE_PER_1M)
        except ValueError as exc:
            raise self._invalid(f"entry {key!r}: {exc}") from exc

    def _write(self, doc: dict[str, Any]) -> None:
        write_atomically(self._path, _encode(doc) + "\n")
        self._stamp = None

    def _invalid(self, reason: str) -> InvalidPricing:
        return InvalidPricing(f"Invalid custom pricing file {self._path}: {reason}", path=str(self._path))


def _encode(value: Any, indent: str = "") -> str:
    """JSON with Decimals written as exact number text (json.dumps cannot)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict) and value:
        inner = indent + "  "
        items = (f"{inner}{json.dumps(str(k))}: {_encode(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value:
        return "[" + ", ".join(_encode(v, indent) for v in value) + "]"
    return json.dumps(value)
