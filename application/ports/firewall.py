"""Ports: The spend firewall, runaway detection and the audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from costhq.application.ports.storage import UnitOfWork

if TYPE_CHECKING:
    from decimal import Decimal

    from costhq.domain.audit import AuditEntry, AuditEvent
    from costhq.domain.budgets import BudgetRule, NewBudgetRule, SpendFilter
    from costhq.domain.estimates import CostSample, RequestShape
    from costhq.domain.runaway import ActivityEvent, Detector, RunawayConfig, Trip, WindowFacts
    from costhq.domain.usage import TokenCounts, UsageRecord


class AuditLog(Protocol):
    """The append-only audit chain (a unit-of-work repository: appends join its transaction).

    `append` reads the last entry inside the (IMMEDIATE) transaction, so concurrent appends
    from many processes serialize and the chain never forks.
    """

    def append(self, event: AuditEvent) -> AuditEntry: ...
    def head(self) -> AuditEntry | None: ...
    def entries(self, *, after_seq: int = 0, limit: int | None = None) -> Iterator[AuditEntry]:
        """Entries in seq order."""
        ...
    def last(self, n: int) -> list[AuditEntry]:
        """The newest `n` entries, oldest first."""
        ...
    def usage_mark(self) -> int:
        """The highest usage record id stored (0 when none): ids above it are newer records."""
        ...
    def usage_after(self, after_id: int) -> Iterator[UsageRecord]:
        """Stored usage records with id > `after_id`, in id order (what the chain must cover)."""
        ...


class AuditAnchor(Protocol):
    """The chain's head kept outside the database (the data dir's head file)."""

    def read(self) -> tuple[str, str | None] | None:
        """(`SEQ:HASH`, HMAC tag or None), or None when no head was anchored yet."""
        ...


class BudgetRepository(Protocol):
    """Budget rules, recorded spend per rule filter, in-flight reservations, and what recent calls
    cost against their estimate (issue 14)."""

    def add(self, rule: NewBudgetRule, *, at: datetime) -> BudgetRule: ...
    def get(self, rule_id: int) -> BudgetRule | None: ...
    def all(self) -> list[BudgetRule]: ...
    def remove(self, rule_id: int) -> bool: ...
    def spent(self, where: SpendFilter) -> Decimal:
        """Recorded (priced) spend matching the filter; calendar bounds are on call time."""
        ...
    def reserved(self, where: SpendFilter, *, now: datetime) -> Decimal:
        """Unexpired reservations matching the filter (calendar bounds on reservation time)."""
        ...
    def standing(self, wheres: list[SpendFilter], *, now: datetime, with_reserved: bool = True,
                 exclude: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """(`spent`, `reserved`) of each filter, in one read (reserved 0 without `with_reserved`);
        reservation `exclude` (the caller's own lease) is left out of `reserved`."""
        ...
    def reserve(self, *, session_id: int | None, project: str | None, model: str, amount: Decimal,
                at: datetime, expires_at: datetime) -> int:
        """Store a reservation; returns its id."""
        ...
    def lease(self, reservation_id: int | None, *, session_id: int | None, project: str | None, model: str,
              amount: Decimal, at: datetime, expires_at: datetime) -> int:
        """Set reservation `reservation_id` (a process's lease) to `amount` and `expires_at`, or store a
        new one when it is None or gone (expired); returns its id."""
        ...
    def release(self, reservation_id: int) -> bool: ...
    def expire(self, now: datetime) -> int:
        """Drop reservations whose expiry has passed; returns how many."""
        ...
    def rules_version(self) -> int:
        """A number that changes whenever a rule is added, changed or removed."""
        ...
    def add_samples(self, samples: list[tuple[str, str, CostSample, datetime]]) -> None:
        """Store (model, client, sample, at) of recorded calls; only the newest SAMPLE_WINDOW of a
        model and client need be kept."""
        ...
    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]:
        """The newest `n` samples of `model` (and `client`, unless None), oldest first."""
        ...
    def response_tokens(self, response_id: str) -> int | None:
        """Input (every class) + output tokens of the recorded call whose response had this id."""
        ...


class FirewallProbe(Protocol):
    """Reads the request path makes without a transaction or the write lock (a persistent read
    connection, answered from memory until another connection commits)."""

    def rules_version(self) -> int:
        """BudgetRepository.rules_version, cheaply."""
        ...
    def blocking_rules(self) -> bool:
        """At least one `block` rule exists."""
        ...
    def runaway_blocking(self, now: datetime) -> bool:
        """Runaway blocking is configured, or a `block` trip is still open somewhere."""
        ...
    def samples(self, model: str, client: str | None, n: int) -> list[CostSample]: ...
    def response_tokens(self, response_id: str) -> int | None: ...


class RunawayRepository(Protocol):
    """Recent activity events, trips and the detector configuration."""

    def config(self) -> RunawayConfig: ...
    def save_config(self, config: RunawayConfig) -> None: ...
    def add_event(self, event: ActivityEvent) -> None: ...
    def events(self, session_id: int, *, since: datetime) -> list[ActivityEvent]:
        """Chronological events of a session after `since`."""
        ...
    def window_facts(self, session_id: int, config: RunawayConfig, *, now: datetime,
                     skip: frozenset[Detector] = frozenset()) -> WindowFacts:
        """What the detectors read at `now` (domain.runaway.window_facts on the session's events),
        from indexed aggregates: the cost must not grow with the window's event count. The fields
        of the detectors in `skip` (those with an open trip) are not computed and keep their
        WindowFacts defaults."""
        ...
    def prune(self, before: datetime) -> int: ...
    def add_trip(self, trip: Trip) -> Trip: ...
    def trips(self, *, session_id: int | None = None, open_at: datetime | None = None) -> list[Trip]:
        """Trips (of a session), newest first; `open_at` keeps those not cleared and not past `until`."""
        ...
    def clear(self, *, session_id: int | None, at: datetime) -> int:
        """Mark open trips (of a session, or all) cleared and forget their events; returns how many."""
        ...


class FirewallUnitOfWork(UnitOfWork, Protocol):
    """A UnitOfWork that also offers the firewall repositories."""

    budgets: BudgetRepository
    runaway: RunawayRepository


class RequestGuard(Protocol):
    """Spend-firewall hook the proxy calls around every forwarded request.

    `before` runs (in a worker thread) before anything reaches upstream; it may raise
    `BudgetExceeded` / `RunawayDetected` to refuse the call, else returns a token (e.g. a
    reservation) that `settle` receives with the call's stored record when the response ends
    (None when nothing was stored). `metered` gets the usage the proxy measured before the
    client sees the end (the record is stored later, off the request path). A token whose
    `observed` is False did not feed the runaway detector: the caller feeds it after the fact.
    `fingerprint` is sha256 of model + the canonical JSON body (identical-call detection);
    `client` names the calling tool (the User-Agent's product), whose recent calls the estimate
    learns from.
    """

    def before(
        self, *, session_id: int, provider: str, model: str, shape: RequestShape, fingerprint: str, client: str,
    ) -> object | None: ...
    def metered(self, token: object | None, tokens: TokenCounts, *, at: datetime, complete: bool) -> None: ...
    def settle(self, token: object | None, record: UsageRecord | None) -> None: ...
