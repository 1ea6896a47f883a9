"""Importing agent usage logs (`cs import`, `cs auto-log`).

Rules: calls go through the recording pipeline every path uses (application/usage.py, in bulk),
so the identity rule decides first (docs/identity.md): a stored key (an earlier import, a retried
hook) is a replay, and a call the proxy or the library already captured is reported as already
captured, never counted twice. Records carry origin `import`, are priced at the call's own
timestamp, and are kept unpriced rather than dropped when no price is known.
Attribution: `--session ID` puts everything there; `--attach` picks the session of the call's
scope whose time window holds it; every other call goes to its project's "Imported" session
(one per scope, created on demand and kept ended so it never becomes anyone's active session).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from costhq.application.audit import record_imported
from costhq.application.ports.clock import Clock
from costhq.application.ports.git import GitMetadata
from costhq.application.ports.integrations import IntegrationsUnitOfWork, UsageLogSource
from costhq.application.ports.pricing import PriceBook
from costhq.application.usage import BatchOutcome, QueuedUsage, UsageInput, price_or_error, record_within
from costhq.domain.errors import InvalidArgument, NoActiveSession, SessionNotFound
from costhq.domain.identity import Verdict
from costhq.domain.imports import IMPORTED_SESSION_NAME, ImportCursor, ImportedCall, ScanStats
from costhq.domain.money import ZERO
from costhq.domain.pricing import PriceCorrection, PriceQuote
from costhq.domain.sessions import NewSession, Session
from costhq.domain.usage import Origin

# Calls per transaction: a batch holds the write lock ~0.1 s (bulk insert), and a crash loses at
# most one batch; fewer, larger batches also spare a commit and a WAL checkpoint per 500 calls.
_BATCH = 2000


@attrs.frozen(kw_only=True)
class ImportReport:
    """Outcome of an import.

    Attributes:
        source: `claude-code` or `codex`.
        imported: calls recorded (or that would be, with dry-run).
        skipped: calls already recorded: replays of an earlier import plus `captured`.
        captured: calls the proxy or the library had already recorded (docs/identity.md).
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
    captured: int = 0


@attrs.define
class _Tally:
    imported: int = 0
    skipped: int = 0
    captured: int = 0
    cost: Decimal = ZERO
    tokens: int = 0
    unpriced: int = 0
    sessions: dict[int, int] = attrs.Factory(dict)

    def report(self, source: str, stats: ScanStats, dry_run: bool) -> ImportReport:
        return ImportReport(source=source, imported=self.imported, skipped=self.skipped, cost=self.cost,
                            tokens=self.tokens, unpriced=self.unpriced, sessions=dict(self.sessions),
                            stats=stats, dry_run=dry_run, captured=self.captured)

    def count(self, outcomes: list[BatchOutcome]) -> None:
        """Tally a batch's outcomes; a call that could not be recorded fails the batch (rolled back whole)."""
        for outcome in outcomes:
            if outcome.error is not None:
                raise outcome.error
            if outcome.duplicate:
                self.skipped += 1
                self.captured += outcome.identity is Verdict.SEEN
            elif outcome.record is not None:
                record = outcome.record
                self.imported += 1
                self.tokens += record.total_tokens
                self.cost += record.cost or ZERO
                self.unpriced += record.cost is None
                self.sessions[record.session_id] = self.sessions.get(record.session_id, 0) + 1


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


def _queued(call: ImportedCall) -> QueuedUsage:
    return QueuedUsage(call=UsageInput(
        provider=call.provider, model=call.model, tokens=call.tokens, origin=Origin.IMPORT, agent=call.agent,
        call_key=call.call_key, upstream_request_id=call.upstream_request_id, response_id=call.response_id,
        timestamp=call.timestamp), cwd=call.cwd or "")


def _record(uow: IntegrationsUnitOfWork, pricer: _Pricer, calls: list[ImportedCall],
            session_of: Callable[[QueuedUsage], Session]) -> list[BatchOutcome]:
    """Record `calls` through the pipeline, in bulk, each at its own timestamp and price."""
    if not calls:
        return []
    items = [_queued(call) for call in calls]
    apis = [price_or_error(pricer, item.call, allow_unpriced=True) for item in items]
    # `now` only stamps calls without a time of their own, and every logged call has one.
    return record_within(uow, items, apis, session_of=session_of, now=calls[0].timestamp, allow_unpriced=True,
                         bulk=True)


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
                fixed = uow.sessions.get(session_id) if session_id is not None else None

                def session_of(item: QueuedUsage) -> Session:
                    assert item.call.timestamp is not None
                    return fixed or _target(uow, imported, scopes.scope(item.cwd), item.call.timestamp, attach)

                since = uow.audit.usage_mark()
                tally.count(_record(uow, pricer, calls, session_of))
                record_imported(uow, since=since, actor="import", at=self.clock.now())  # issue 14: digests
                imported.close()
                if dry_run:
                    raise _DryRun  # roll the batch back: a dry run computes exactly what a real run writes
        except _DryRun:
            pass


class _DryRun(Exception):
    pass


@attrs.define
class _ScopeCache:
    git: GitMetadata
    seen: dict[str | None, str] = attrs.Factory(dict)

    def scope(self, cwd: str | None) -> str:
        if cwd not in self.seen:
            self.seen[cwd] = self.git.scope(cwd).path if cwd else "(unknown project)"
        return self.seen[cwd]


def _target(uow: IntegrationsUnitOfWork, imported: _ImportedSessions, scope: str, at: datetime,
            attach: bool) -> Session:
    if attach:
        covering = uow.imports.covering_session(scope, at)
        if covering is not None:
            return covering
    return imported.for_scope(scope, at)


class _ImportedSessions:
    """Each scope's "Imported" session within one batch: created ended on demand; its end is
    moved forward once per batch (`close`) to cover the latest call, not once per call."""

    def __init__(self, uow: IntegrationsUnitOfWork) -> None:
        self._uow = uow
        self._found: dict[str, Session] = {}
        self._latest: dict[str, datetime] = {}

    def for_scope(self, scope: str, at: datetime) -> Session:
        session = self._found.get(scope)
        if session is None:
            session = self._uow.imports.named_session(IMPORTED_SESSION_NAME, scope)
            if session is None:
                new = self._uow.sessions.add(
                    NewSession(name=IMPORTED_SESSION_NAME, start_time=at, working_directory=scope))
                session = self._uow.sessions.end(new.id, end_time=at, notes="Usage imported from agent logs")
            self._found[scope] = session
        self._latest[scope] = max(self._latest.get(scope, at), at)
        return session

    def close(self) -> None:
        for scope, session in self._found.items():
            latest = self._latest[scope]
            if session.end_time is None or session.end_time < latest:
                self._uow.sessions.end(session.id, end_time=latest, notes=session.notes)


@attrs.frozen(kw_only=True)
class AutoLogResult:
    """Outcome of `cs auto-log`: calls imported into `session_id` from one transcript (`skipped`:
    already recorded, `captured` of them by the proxy or the library)."""

    session_id: int
    imported: int
    skipped: int
    cost: Decimal
    offset: int
    captured: int = 0


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
        calls = list(_in_window(scan, session.start_time))
        with self.uow() as uow:
            since = uow.audit.usage_mark()
            tally.count(_record(uow, pricer, calls, lambda _item: session))
            record_imported(uow, since=since, actor="import", at=self.clock.now())  # issue 14: digests
            uow.imports.save_cursor(ImportCursor(path=transcript, offset=scan.end_offset, size=size,
                                                 inode=inode, mtime_ns=mtime_ns))
        return AutoLogResult(session_id=session.id, imported=tally.imported, skipped=tally.skipped,
                             cost=tally.cost, offset=scan.end_offset, captured=tally.captured)


def _in_window(calls: Iterable[ImportedCall], start: datetime) -> Iterable[ImportedCall]:
    return (c for c in calls if c.timestamp >= start)
