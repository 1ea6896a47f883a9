"""Importing agent usage logs (`cs import`, `cs auto-log`).

Rules: idempotent by request id — a call already stored (by an earlier import, or captured
by the proxy under the same request id) is skipped; records carry origin `import`, are priced
at the call's own timestamp, and are kept unpriced rather than dropped when no price is known.
Attribution: `--session ID` puts everything there; `--attach` picks the session of the call's
scope whose time window holds it; every other call goes to its project's "Imported" session
(one per scope, created on demand and kept ended so it never becomes anyone's active session).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.git import GitMetadata
from costhq.application.ports.integrations import IntegrationsUnitOfWork, UsageLogSource
from costhq.application.ports.pricing import PriceBook
from costhq.application.usage import UsageInput, build_record, price_usage
from costhq.domain.errors import InvalidArgument, NoActiveSession, SessionNotFound
from costhq.domain.imports import IMPORTED_SESSION_NAME, ImportCursor, ImportedCall, ScanStats
from costhq.domain.money import ZERO
from costhq.domain.pricing import PriceCorrection, PriceQuote
from costhq.domain.sessions import NewSession, Session
from costhq.domain.usage import Origin, UsageRecord

# Calls per transaction: a batch holds the write lock ~0.1 s (bulk insert), and a crash loses at
# most one batch; fewer, larger batches also spare a commit and a WAL checkpoint per 500 calls.
_BATCH = 2000


@attrs.frozen(kw_only=True)
class ImportReport:
    """Outcome of an import.

    Attributes:
        source: `claude-code` or `codex`.
        imported: calls recorded (or that would be, with dry-run).
        skipped: calls already stored (same request id).
        cost: priced cost of the imported calls.
        tokens: tokens of the imported calls.
        unpriced: imported calls without a price.
        sessions: session id -> calls imported into it.
        stats: what the scan saw (files, lines, malformed, duplicates).
        dry_run: nothing was written.
    """

    source: str
    imported: int
    skipped: int
    cost: Decimal
    tokens: int
    unpriced: int
    sessions: dict[int, int]
    stats: ScanStats
    dry_run: bool = False


@attrs.define
class _Tally:
    imported: int = 0
    skipped: int = 0
    cost: Decimal = ZERO
    tokens: int = 0
    unpriced: int = 0
    sessions: dict[int, int] = attrs.Factory(dict)

    def report(self, source: str, stats: ScanStats, dry_run: bool) -> ImportReport:
        return ImportReport(source=source, imported=self.imported, skipped=self.skipped, cost=self.cost,
                            tokens=self.tokens, unpriced=self.unpriced, sessions=dict(self.sessions),
                            stats=stats, dry_run=dry_run)


@attrs.define
class _Pricer:
    """Prices calls at their timestamp; quotes are cached per model and UTC day (prices change
    at most daily in the catalogue), which keeps 100k-call imports fast."""

    prices: PriceBook
    cache: dict[tuple[str, str, str], PriceQuote | None] = attrs.Factory(dict)

    def quote(self, provider: str, model: str, at: datetime | None = None) -> PriceQuote | None:
        assert at is not None
        key = (provider, model, at.date().isoformat())
        if key not in self.cache:
            self.cache[key] = self.prices.quote(provider, model, at)
        return self.cache[key]

    def builtin(self, *, provider: str | None = None, search: str | None = None) -> Iterator[PriceQuote]:
        return self.prices.builtin(provider=provider, search=search)

    def corrections(self) -> list[PriceCorrection]:
        return self.prices.corrections()


def _as_input(call: ImportedCall) -> UsageInput:
    return UsageInput(provider=call.provider, model=call.model, tokens=call.tokens, origin=Origin.IMPORT,
                      agent=call.agent, request_id=call.request_id, timestamp=call.timestamp)


@attrs.frozen
class ImportUsage:
    """Import every new call of one agent's logs; see the module rules."""

    uow: Callable[[], IntegrationsUnitOfWork]
    clock: Clock
    git: GitMetadata
    prices: PriceBook
    sources: Mapping[str, UsageLogSource]

    def __call__(self, *, source: str, paths: list[str] | None = None, since: datetime | None = None,
                 session_id: int | None = None, attach: bool = False, dry_run: bool = False) -> ImportReport:
        if source not in self.sources:
            raise InvalidArgument(f"unknown import source {source!r} (use {', '.join(sorted(self.sources))})")
        if session_id is not None and attach:
            raise InvalidArgument("--session and --attach exclude each other")
        if session_id is not None:
            with self.uow() as uow:
                if uow.sessions.get(session_id) is None:
                    raise SessionNotFound(f"Session {session_id} not found", session_id=session_id)
        scan = self.sources[source].scan(paths=paths, since=since)
        tally, pricer, scopes = _Tally(), _Pricer(self.prices), _ScopeCache(self.git)
        batch: list[ImportedCall] = []
        for call in scan:
            batch.append(call)
            if len(batch) >= _BATCH:
                self._write(batch, tally, pricer, scopes, session_id, attach, dry_run)
                batch = []
        self._write(batch, tally, pricer, scopes, session_id, attach, dry_run)
        return tally.report(source, scan.stats, dry_run)

    def _write(self, calls: list[ImportedCall], tally: _Tally, pricer: _Pricer, scopes: _ScopeCache,
               session_id: int | None, attach: bool, dry_run: bool) -> None:
        if not calls:
            return
        try:
            with self.uow() as uow:
                imported = _ImportedSessions(uow)
                records = []
                for call in _new_calls(uow, calls, tally):
                    target = session_id if session_id is not None else _target(
                        uow, imported, scopes.scope(call.cwd), call, attach)
                    records.append(_priced(pricer, call, target, tally))
                uow.usage.add_many(records)
                imported.close()
                if dry_run:
                    raise _DryRun  # roll the batch back: a dry run computes exactly what a real run writes
        except _DryRun:
            pass


class _DryRun(Exception):
    pass


def _new_calls(uow: IntegrationsUnitOfWork, calls: list[ImportedCall], tally: _Tally) -> list[ImportedCall]:
    """Calls whose request id is neither stored nor repeated earlier in the batch (one look-up)."""
    seen = uow.usage.known_request_ids([c.request_id for c in calls])
    fresh = []
    for call in calls:
        if call.request_id in seen:
            tally.skipped += 1
            continue
        seen.add(call.request_id)
        fresh.append(call)
    return fresh


def _priced(pricer: _Pricer, call: ImportedCall, session_id: int, tally: _Tally) -> UsageRecord:
    """The record to store for `call`, counted in `tally`."""
    usage = _as_input(call)
    cost, source, _quote, rates = price_usage(pricer, usage, allow_unpriced=True)
    record = build_record(usage, session_id, call.timestamp, (cost, source, rates))
    tally.imported += 1
    tally.tokens += record.total_tokens
    tally.cost += cost or ZERO
    tally.unpriced += cost is None
    tally.sessions[session_id] = tally.sessions.get(session_id, 0) + 1
    return record


@attrs.define
class _ScopeCache:
    git: GitMetadata
    seen: dict[str | None, str] = attrs.Factory(dict)

    def scope(self, cwd: str | None) -> str:
        if cwd not in self.seen:
            self.seen[cwd] = self.git.scope(cwd).path if cwd else "(unknown project)"
        return self.seen[cwd]


def _target(uow: IntegrationsUnitOfWork, imported: _ImportedSessions, scope: str, call: ImportedCall,
            attach: bool) -> int:
    if attach:
        covering = uow.imports.covering_session(scope, call.timestamp)
        if covering is not None:
            return covering.id
    return imported.for_scope(scope, call.timestamp)


class _ImportedSessions:
    """Each scope's "Imported" session within one batch: created ended on demand; its end is
    moved forward once per batch (`close`) to cover the latest call, not once per call."""

    def __init__(self, uow: IntegrationsUnitOfWork) -> None:
        self._uow = uow
        self._found: dict[str, Session] = {}
        self._latest: dict[str, datetime] = {}

    def for_scope(self, scope: str, at: datetime) -> int:
        session = self._found.get(scope)
        if session is None:
            session = self._uow.imports.named_session(IMPORTED_SESSION_NAME, scope)
            if session is None:
                new = self._uow.sessions.add(
                    NewSession(name=IMPORTED_SESSION_NAME, start_time=at, working_directory=scope))
                session = self._uow.sessions.end(new.id, end_time=at, notes="Usage imported from agent logs")
            self._found[scope] = session
        self._latest[scope] = max(self._latest.get(scope, at), at)
        return session.id

    def close(self) -> None:
        for scope, session in self._found.items():
            latest = self._latest[scope]
            if session.end_time is None or session.end_time < latest:
                self._uow.sessions.end(session.id, end_time=latest, notes=session.notes)


@attrs.frozen(kw_only=True)
class AutoLogResult:
    """Outcome of `cs auto-log`: calls imported into `session_id` from one transcript."""

    session_id: int
    imported: int
    skipped: int
    cost: Decimal
    offset: int


@attrs.frozen
class AutoLog:
    """Import a Claude Code transcript incrementally into the active session of `cwd`.

    Reads from the saved cursor; calls made before the session started are not its spend and
    are skipped. The cursor is saved in the same transaction as the records, so it only moves
    after a successful insert (a failed run re-reads the same lines next time).

    Raises:
        NoActiveSession: no active session in the scope of `cwd`.
    """

    uow: Callable[[], IntegrationsUnitOfWork]
    clock: Clock
    git: GitMetadata
    prices: PriceBook
    source: UsageLogSource
    file_state: Callable[[str], tuple[int, int, int]]  # path -> (size, inode, mtime_ns)

    def __call__(self, *, transcript: str, cwd: str) -> AutoLogResult:
        scope = self.git.scope(cwd)
        size, inode, mtime_ns = self.file_state(transcript)
        with self.uow() as uow:
            active = uow.sessions.active_in_scope(scope.path)
            saved = uow.imports.cursor(transcript)
        if not active:
            raise NoActiveSession(f"No active session in {scope.path}")
        session = active[0]
        start = saved.start_for(size=size, inode=inode) if saved else 0
        scan = self.source.scan_file(transcript, offset=start)
        tally, pricer = _Tally(), _Pricer(self.prices)
        with self.uow() as uow:
            fresh = _new_calls(uow, list(_in_window(scan, session.start_time)), tally)
            uow.usage.add_many([_priced(pricer, call, session.id, tally) for call in fresh])
            uow.imports.save_cursor(ImportCursor(path=transcript, offset=scan.end_offset, size=size,
                                                 inode=inode, mtime_ns=mtime_ns))
        return AutoLogResult(session_id=session.id, imported=tally.imported, skipped=tally.skipped,
                             cost=tally.cost, offset=scan.end_offset)


def _in_window(calls: Iterable[ImportedCall], start: datetime) -> Iterable[ImportedCall]:
    return (c for c in calls if c.timestamp >= start)
