"""Runaway-agent detection: a pure detector over a session's recent calls and file events.

Detectors (each with a rolling window ending at `now`):
- velocity: spend in the window divided by the window's minutes >= `velocity_usd_per_min`;
- identical: the latest request fingerprint (model + canonical body hash) sent >= `identical_k` times;
- loop: the last `2 * loop_repeats` fingerprints alternate A,B,A,B,... with A != B;
- churn: the latest modified file modified >= `churn_n` times.
The detectors read only `WindowFacts` (small aggregates storage answers by index). Counting the
newest key is enough: a count only grows when its key is observed, and the detectors run on every
event (a key that crossed its threshold while its detector had an open trip trips at its next call).
A trip's action is the config's (`warn` by default); a `block` trip refuses that session's
proxy requests until it is cleared or its window has passed (`until`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from costhq.domain.money import ZERO, quantize


class RunawayAction(enum.Enum):
    """What a trip does."""

    WARN = "warn"
    BLOCK = "block"


class Detector(enum.Enum):
    """Which detector tripped."""

    VELOCITY = "velocity"
    IDENTICAL = "identical"
    LOOP = "loop"
    CHURN = "churn"


def _positive(_i: object, a: attrs.Attribute[Any], v: Any) -> None:
    if not v > 0:
        raise ValueError(f"{a.name} must be positive")


@attrs.frozen(kw_only=True)
class RunawayConfig:
    """Thresholds (sensible defaults for an interactive coding agent).

    Attributes:
        action: warn (default) or block.
        velocity_usd_per_min: spend rate that trips, averaged over `velocity_window_s`.
        identical_k / identical_window_s: same fingerprint this many times in the window.
        loop_repeats / loop_window_s: A,B pairs repeated this many times in the window.
        churn_n / churn_window_s: same file modified this many times in the window.
    """

    action: RunawayAction = RunawayAction.WARN
    velocity_usd_per_min: Decimal = attrs.field(default=Decimal("1"), validator=_positive)
    velocity_window_s: int = attrs.field(default=300, validator=_positive)
    identical_k: int = attrs.field(default=5, validator=_positive)
    identical_window_s: int = attrs.field(default=600, validator=_positive)
    loop_repeats: int = attrs.field(default=3, validator=_positive)
    loop_window_s: int = attrs.field(default=600, validator=_positive)
    churn_n: int = attrs.field(default=20, validator=_positive)
    churn_window_s: int = attrs.field(default=600, validator=_positive)

    @property
    def horizon(self) -> timedelta:
        """How far back any detector looks (older events can be pruned)."""
        return timedelta(seconds=max(self.velocity_window_s, self.identical_window_s, self.loop_window_s,
                                     self.churn_window_s))

    def window_of(self, detector: Detector) -> timedelta:
        """The rolling window of one detector."""
        seconds = {Detector.VELOCITY: self.velocity_window_s, Detector.IDENTICAL: self.identical_window_s,
                   Detector.LOOP: self.loop_window_s, Detector.CHURN: self.churn_window_s}[detector]
        return timedelta(seconds=seconds)


class EventKind(enum.Enum):
    """What an observed event is."""

    CALL = "call"  # a request (key = fingerprint, may be empty when unknown)
    COST = "cost"  # recorded spend (key unused)
    FILE = "file"  # a file modification (key = path)


@attrs.frozen(kw_only=True)
class ActivityEvent:
    """One observation fed to the detector."""

    session_id: int
    kind: EventKind
    at: datetime
    key: str = ""
    cost: Decimal = ZERO


@attrs.frozen(kw_only=True)
class Trip:
    """A detector firing for a session.

    Attributes:
        detector: which one.
        action: warn or block (from the config at trip time).
        message: human explanation with the measured figure.
        at: when it tripped; until: when its window passes (block ends then at the latest).
    """

    session_id: int
    detector: Detector
    action: RunawayAction
    message: str
    at: datetime
    until: datetime
    cleared_at: datetime | None = None
    id: int | None = None

    def blocking(self, now: datetime) -> bool:
        """A block trip not cleared and whose window has not passed."""
        return self.action is RunawayAction.BLOCK and self.cleared_at is None and now < self.until


@attrs.frozen(kw_only=True)
class WindowFacts:
    """The few aggregates the detectors need at `now`, each over its own window `(now - span, now]`.

    Storage answers these with indexed queries, so a check costs the same at 10 or 10,000 events.

    Attributes:
        spent: total COST in the velocity window.
        repeated: the latest non-empty CALL fingerprint of the identical window and how often it occurs there.
        recent_calls: the last `2 * loop_repeats` CALL fingerprints of the loop window, oldest first.
        churned: the latest FILE path of the churn window and how often it occurs there.
    """

    spent: Decimal = ZERO
    repeated: tuple[str, int] | None = None
    recent_calls: tuple[str, ...] = ()
    churned: tuple[str, int] | None = None


def _within(events: Sequence[ActivityEvent], kind: EventKind, now: datetime, span: timedelta) -> list[ActivityEvent]:
    return [e for e in events if e.kind is kind and now - span < e.at <= now]


def _latest_count(keys: list[str]) -> tuple[str, int] | None:
    # The newest key's count: only the newest event can have pushed a count over its threshold.
    return (keys[-1], keys.count(keys[-1])) if keys else None


def window_facts(cfg: RunawayConfig, events: Sequence[ActivityEvent], now: datetime) -> WindowFacts:
    """The definition of `WindowFacts` on one session's chronological events (ties in insertion order)."""
    calls = _within(events, EventKind.CALL, now, cfg.window_of(Detector.IDENTICAL))
    loop = _within(events, EventKind.CALL, now, cfg.window_of(Detector.LOOP))
    files = _within(events, EventKind.FILE, now, cfg.window_of(Detector.CHURN))
    return WindowFacts(
        spent=sum((e.cost for e in _within(events, EventKind.COST, now, cfg.window_of(Detector.VELOCITY))), ZERO),
        repeated=_latest_count([e.key for e in calls if e.key]),
        recent_calls=tuple(e.key for e in loop[-2 * cfg.loop_repeats:]),
        churned=_latest_count([e.key for e in files]))


def _velocity(cfg: RunawayConfig, facts: WindowFacts) -> str | None:
    rate = quantize(facts.spent * 60 / Decimal(cfg.velocity_window_s))
    if rate >= cfg.velocity_usd_per_min:
        return f"spending ${rate.normalize()}/min over the last {cfg.velocity_window_s}s " \
               f"(threshold ${cfg.velocity_usd_per_min}/min)"
    return None


def _identical(cfg: RunawayConfig, facts: WindowFacts) -> str | None:
    if facts.repeated is not None and facts.repeated[1] >= cfg.identical_k:
        key, n = facts.repeated
        return f"the same request ({key[:12]}) was sent {n} times in {cfg.identical_window_s}s"
    return None


def _loop(cfg: RunawayConfig, facts: WindowFacts) -> str | None:
    n = 2 * cfg.loop_repeats
    tail = facts.recent_calls[-n:]
    if len(tail) < n or not all(tail):
        return None
    a, b = tail[0], tail[1]
    if a != b and all(k == (a if i % 2 == 0 else b) for i, k in enumerate(tail)):
        return f"requests alternate A,B {cfg.loop_repeats} times ({a[:8]},{b[:8]})"
    return None


def _churn(cfg: RunawayConfig, facts: WindowFacts) -> str | None:
    if facts.churned is not None and facts.churned[1] >= cfg.churn_n:
        path, n = facts.churned
        return f"{path} was modified {n} times in {cfg.churn_window_s}s"
    return None


_DETECTORS = ((Detector.VELOCITY, _velocity), (Detector.IDENTICAL, _identical), (Detector.LOOP, _loop),
              (Detector.CHURN, _churn))


def detect_facts(cfg: RunawayConfig, session_id: int, facts: WindowFacts, now: datetime) -> list[Trip]:
    """Every detector that fires at `now` on a session's `facts`."""
    trips = []
    for detector, check in _DETECTORS:
        message = check(cfg, facts)
        if message is not None:
            trips.append(Trip(session_id=session_id, detector=detector, action=cfg.action, message=message,
                              at=now, until=now + cfg.window_of(detector)))
    return trips


def detect(cfg: RunawayConfig, session_id: int, events: Sequence[ActivityEvent], now: datetime) -> list[Trip]:
    """Every detector that fires at `now` on `events` (chronological) of one session."""
    mine = [e for e in events if e.session_id == session_id]
    return detect_facts(cfg, session_id, window_facts(cfg, mine, now), now)
