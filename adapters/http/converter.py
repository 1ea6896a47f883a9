"""The HTTP converter: JSON bodies and query strings -> typed inputs (extra keys refused, STYLE §2.6)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import attrs
import cattrs
from cattrs.preconf.json import make_converter as _json_converter

from costhq.domain.errors import InvalidArgument


@attrs.frozen(kw_only=True)
class PriceBody:
    """PUT /api/v1/pricing."""

    model: str
    inputPer1M: Decimal
    outputPer1M: Decimal
    provider: str | None = None
    cacheReadPer1M: Decimal | None = None
    cacheWritePer1M: Decimal | None = None


@attrs.frozen(kw_only=True)
class AlertBody:
    """POST /api/v1/alerts: `scope` daily|total|session|weekly|monthly|project, `limit` USD."""

    scope: str
    limit: Decimal
    action: str = "warn"
    model: str | None = None
    sessionId: int | None = None
    project: str | None = None


@attrs.frozen(kw_only=True)
class ResetBody:
    """POST /api/v1/reset: must be {"confirm": "RESET"}."""

    confirm: str


@attrs.frozen(kw_only=True)
class SessionsParams:
    """GET /api/v1/sessions query string."""

    search: str | None = None
    status: str | None = None
    sort: str = "startTime"
    order: str = "desc"
    page: int = 1
    perPage: int = 25
    token: str | None = None
    tz: str | None = None


@attrs.frozen(kw_only=True)
class TeamParams:
    """GET /api/v1/team query string (issue 16): filters, and a window of local dates [since, until]."""

    user: str | None = None
    machine: str | None = None
    project: str | None = None
    since: str | None = None
    until: str | None = None
    token: str | None = None
    tz: str | None = None


def _decimal(value: object, _t: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidArgument(f"not a number: {value!r}")
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidArgument(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise InvalidArgument(f"not a finite number: {value!r}")
    return d


def _int(value: object, _t: type) -> int:
    if isinstance(value, bool):
        raise InvalidArgument("not an integer")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int):
        return value
    raise InvalidArgument(f"not an integer: {value!r}")


def make_converter() -> cattrs.Converter:
    """forbid_extra_keys, Decimal from JSON numbers or strings, strict integers."""
    conv = _json_converter(forbid_extra_keys=True)
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_structure_hook(int, _int)
    return conv
