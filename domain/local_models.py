"""Local and self-hosted models: hardware presets, registered models and time-based cost.

A local model (Ollama, vLLM, llama.cpp...) has no per-token price: a call costs the compute time
it took times the hourly rate of the hardware it ran on. Rates are exact Decimals; durations are
whole milliseconds (the same unit as every usage record's `duration_ms`).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import attrs

from costhq.domain.errors import BaseUrlNotAllowed, InvalidArgument
from costhq.domain.money import quantize
from costhq.domain.numbers import parse_decimal

RUNTIMES = ("ollama", "vllm", "llama.cpp", "other")
#: Where each runtime listens by default; `other` has no default (give --base-url).
DEFAULT_BASE_URLS = {
    "ollama": "http://127.0.0.1:11434",
    "vllm": "http://127.0.0.1:8000",
    "llama.cpp": "http://127.0.0.1:8080",
}
MS_PER_HOUR = Decimal(3_600_000)
# Names are one URL path segment (the proxy routes `/local/<name>/...`), so no `/` and no `%`.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
_MAX_RATE = Decimal(10_000)  # USD/hour: more is a typo (an 8x H100 node rents for ~$25/h)
_MAX_SECONDS = Decimal(7 * 24 * 3600)


def check_name(kind: str, name: str) -> str:
    """A preset or model name: 1-128 of letters, digits and `. _ : @ + -`, starting alphanumeric.

    Raises:
        InvalidArgument: anything else (spaces, `/`, empty).
    """
    cleaned = name.strip()
    if not _NAME.match(cleaned):
        raise InvalidArgument(
            f"{kind} name {name!r} is not allowed: use letters, digits and . _ : @ + - (no spaces or /)")
    return cleaned


def parse_rate(text: str | int | Decimal) -> Decimal:
    """A USD-per-hour rate: finite, 0 <= rate <= 10,000.

    Raises:
        InvalidArgument: negative, not a number, or absurdly large.
    """
    try:
        value = Decimal(str(text).strip().lstrip("$"))
    except (InvalidOperation, ValueError):
        raise InvalidArgument(f"USD per hour must be a number (got {text!r})") from None
    if not value.is_finite() or value < 0:
        raise InvalidArgument(f"USD per hour must be a finite number >= 0 (got {text!r})")
    if value > _MAX_RATE:
        raise InvalidArgument(f"USD per hour must be at most {_MAX_RATE} (got {text!r})")
    return quantize(value)


def seconds_to_ms(seconds: str | float | int | Decimal) -> int:
    """Seconds (as typed, or measured) -> whole milliseconds, rounded half-even.

    Raises:
        InvalidArgument: negative, not finite, not a number, or longer than a week.
    """
    try:  # issue 17: ASCII decimal only (`٣` is not 3), 0 .. one week
        value = parse_decimal(seconds, name="duration (seconds)", maximum=_MAX_SECONDS)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    return int((value * 1000).to_integral_value(rounding=ROUND_HALF_EVEN))


def compute_cost(duration_ms: int, usd_per_hour: Decimal) -> Decimal:
    """Cost of `duration_ms` of compute: seconds x hourly rate / 3600, at storage precision (1e-10)."""
    if duration_ms < 0:
        raise ValueError("duration must not be negative")
    return quantize(Decimal(duration_ms) * usd_per_hour / MS_PER_HOUR)


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback IP (127.0.0.0/8, ::1)."""
    import ipaddress  # lazily: `cs log-ai` imports this module on every run

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, allow_remote: bool) -> str:
    """An http(s) origin (plus an optional path prefix) that the proxy may forward to.

    Loopback hosts are always allowed; any other host only when the user named it on purpose
    (`allow_remote`). Credentials, queries and fragments are refused: they would be stored.

    Raises:
        InvalidArgument: malformed URL (code `invalid_argument`).
        BaseUrlNotAllowed: a non-loopback host without `allow_remote`.
    """
    from urllib.parse import urlsplit  # lazily, like ipaddress

    raw = url.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise InvalidArgument(f"--base-url is not a valid URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"--base-url must be an http(s) URL with a host (got {url!r})")
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument("--base-url must not contain credentials (they would be stored)")
    if parts.query or parts.fragment or "%" in parts.path or "\\" in parts.path or ".." in parts.path:
        raise InvalidArgument(f"--base-url must be a plain origin and path (got {url!r})")
    if not allow_remote and not is_loopback_host(parts.hostname):
        raise BaseUrlNotAllowed(
            f"{parts.hostname} is not a loopback address: pass --allow-remote to name this host on purpose",
            host=parts.hostname)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{'' if port is None else f':{port}'}{parts.path.rstrip('/')}"


def _rate(_inst: object, _attr: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not value.is_finite() or value < 0:
        raise ValueError("usd_per_hour must be a finite number >= 0")


@attrs.frozen(kw_only=True)
class HardwarePreset:
    """An hourly cost for compute on one kind of hardware.

    Attributes:
        name: identifier (`local-rtx-4090`), one URL-safe word.
        usd_per_hour: exact USD per hour of compute (>= 0).
        source: where the figure comes from (built-ins cite theirs; user presets say `user`).
        description: human label.
        builtin: shipped with CostHQ (False once the user sets it).
    """

    name: str
    usd_per_hour: Decimal = attrs.field(validator=_rate)
    source: str
    description: str = ""
    builtin: bool = False


@attrs.frozen(kw_only=True)
class LocalModel:
    """A model served on the user's own (or rented) hardware.

    Attributes:
        name: the model name calls are logged with (`-m llama3`), also the proxy route `/local/<name>/`.
        runtime: ollama | vllm | llama.cpp | other.
        hardware: name of the HardwarePreset its compute time is billed at.
        base_url: where the proxy forwards `/local/<name>/...` (None: not proxied).
        api_equivalent: a cloud model (`openai/gpt-4o-mini`) whose token price is shown for comparison.
        added_at: aware UTC time of registration.
    """

    name: str
    runtime: str = attrs.field(validator=attrs.validators.in_(RUNTIMES))
    hardware: str
    added_at: datetime
    base_url: str | None = None
    api_equivalent: str | None = None


@attrs.frozen(kw_only=True)
class LocalCompute:
    """The time-based side of one recorded local call, fixed at record time.

    Attributes:
        model: the LocalModel name.
        hardware: the preset name.
        usd_per_hour: the rate used.
        duration_ms: compute time billed.
        cost: duration x rate (the call's cost; its API cost is $0).
        api_equivalent_model: the comparison cloud model, if any.
        api_equivalent_cost: the call's tokens at that model's price (None when not priced).
        usage_id: the owning usage record once stored.
    """

    model: str
    hardware: str
    usd_per_hour: Decimal
    duration_ms: int
    cost: Decimal
    api_equivalent_model: str | None = None
    api_equivalent_cost: Decimal | None = None
    usage_id: int | None = None

    @classmethod
    def of(cls, model: LocalModel, preset: HardwarePreset, duration_ms: int) -> LocalCompute:
        """Price `duration_ms` of `model` on `preset`."""
        return cls(model=model.name, hardware=preset.name, usd_per_hour=preset.usd_per_hour,
                   duration_ms=duration_ms, cost=compute_cost(duration_ms, preset.usd_per_hour),
                   api_equivalent_model=model.api_equivalent)


@attrs.frozen(kw_only=True)
class ComputeGroup:
    """Compute totals of one hardware tier or one local model.

    Attributes:
        key: preset name or model name.
        calls: local calls.
        duration_ms: compute time.
        cost: time-based cost.
        api_equivalent_cost: sum over calls that had an API-equivalent price.
        total_tokens: tokens of those calls.
    """

    key: str
    calls: int
    duration_ms: int
    cost: Decimal
    api_equivalent_cost: Decimal
    total_tokens: int

    @property
    def hours(self) -> Decimal:
        """Compute hours, exact to the millisecond."""
        return Decimal(self.duration_ms) / MS_PER_HOUR


@attrs.frozen(kw_only=True)
class ComputeSummary:
    """Local compute per hardware tier and per model (both most expensive first), with totals."""

    by_hardware: list[ComputeGroup]
    by_model: list[ComputeGroup]

    @property
    def calls(self) -> int:
        return sum(g.calls for g in self.by_hardware)

    @property
    def duration_ms(self) -> int:
        return sum(g.duration_ms for g in self.by_hardware)

    @property
    def cost(self) -> Decimal:
        return quantize(sum((g.cost for g in self.by_hardware), Decimal(0)))

    @property
    def api_equivalent_cost(self) -> Decimal:
        return quantize(sum((g.api_equivalent_cost for g in self.by_hardware), Decimal(0)))


def _preset(name: str, rate: str, description: str, source: str) -> HardwarePreset:
    return HardwarePreset(name=name, usd_per_hour=Decimal(rate), description=description, source=source,
                          builtin=True)


#: Shipped presets, each with the source of its figure. Power-cost presets assume $0.17/kWh
#: (about the 2025 US average residential electricity price); set your own with `cs hardware set`.
BUILTIN_PRESETS: tuple[HardwarePreset, ...] = (
    _preset("local-rtx-4090", "0.102", "Local RTX 4090 (power cost)",
            "0.6 kW under load (RTX 4090 450 W total graphics power per NVIDIA's spec + ~150 W host) "
            "x $0.17/kWh"),
    _preset("apple-silicon-cpu", "0.0153", "Apple Silicon CPU, M-series (power cost)",
            "0.09 kW sustained package + system draw of an M-series Max under load x $0.17/kWh"),
    _preset("runpod-a100", "1.19", "Cloud A100 80GB PCIe (RunPod)",
            "RunPod A100 PCIe 80GB community/spot rate, deploybase.ai RunPod GPU pricing guide, March 2026"),
    _preset("runpod-h100", "2.69", "Cloud H100 80GB SXM (RunPod)",
            "RunPod Secure Cloud H100 SXM rate, spheron.network 'RunPod H100 pricing 2026', May 2026"),
    _preset("vast-a100", "1.17", "Cloud A100 80GB (Vast.ai)",
            "Vast.ai on-demand A100 80GB ~$1.166-1.205/h, usagepricing.com Vast.ai blueprint, June 2026"),
    _preset("vast-h100", "2.525", "Cloud H100 NVL (Vast.ai)",
            "Vast.ai on-demand H100 NVL $2.525/h per GPU, usagepricing.com Vast.ai blueprint, June 2026"),
)
