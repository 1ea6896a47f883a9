"""`costhq.agents`: the programmatic API for agent frameworks (spec "Programmatic API").

    with AgentSession("Refactor auth", budget=5, directory="./src", git=True) as s:
        s.log_ai("anthropic", "claude-opus-4-6", 15000, prompt_tokens=10000, completion_tokens=5000)
        if not s.can_afford(2): ...

Rules:
- The same use cases as `cs` (StartSession, LogUsage with origin `library`, EndSession...),
  on the same database (`$COSTHQ_HOME` or `~/.costhq`).
- Budget: `log_ai` stores the record first, then raises `BudgetExceededError` when the
  session's spend is past the budget (money is never dropped). `can_afford(x)` is the pre-flight.
- Tracked SDK clients bound to a session call `record()`: the call is priced on the caller's
  thread (so `spent` and the pre-flight see it at once) and stored by the background writer
  (`library_writer`, one transaction per batch of calls), keeping the per-call overhead far
  below a SQLite transaction.
- `end()` is idempotent and stops the watchers; as a context manager an exception is
  recorded as a note before the session ends (the exception still propagates).
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from costhq.adapters.library.budget import BudgetExceededError, RefusalMemo
from costhq.adapters.library.writer import WRITER, flush
from costhq.application.usage import BatchOutcome, QueuedUsage, UsageInput, price_usage
from costhq.domain.errors import BudgetExceeded, CostHQError, InvalidArgument
from costhq.domain.local_models import seconds_to_ms  # issue 8: `log_ai(duration=...)`
from costhq.domain.money import ZERO, parse_usd, quantize
from costhq.domain.numbers import MAX_CALL_COST_USD, MAX_USD, check_count
from costhq.domain.sessions import Session
from costhq.domain.usage import Origin, TokenCounts

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class AgentSessionSummary:
    """What `end()` returns (spec: duration, filesChanged, commits, aiCost, ...)."""

    id: int
    name: str
    status: str
    duration: int
    files_changed: int
    commits: int
    ai_cost: Decimal
    ai_tokens: int
    ai_calls: int
    unpriced_calls: int
    notes: str | None
    budget: Decimal | None
    working_directory: str


def _usd(value: float | int | str | Decimal | None, name: str, maximum: Decimal = MAX_USD) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_usd(value, name=name, maximum=maximum)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


def _counts(**given: int | None) -> dict[str, int]:
    """Token arguments: whole numbers 0..10^12 (None is 0); InvalidArgument otherwise."""
    try:
        return {name: 0 if v is None else check_count(v, name=name) for name, v in given.items()}
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


def _build_container() -> Any:
    from costhq.adapters.library.graph import default_graph

    return default_graph()


class AgentSession:
    """One tracked agent run. `log_ai` from one thread at a time; tracked clients may share it."""

    def __init__(self, name: str, *, budget: float | int | str | Decimal | None = None,
                 directory: str | os.PathLike[str] | None = None, git: bool = False,
                 watch_files: bool | None = None, close_stale: bool = False, container: Any = None) -> None:
        self.name = name
        self.budget = _usd(budget, "budget")
        self.directory = os.path.abspath(os.fspath(directory)) if directory is not None else None
        if self.directory is not None and not os.path.isdir(self.directory):
            raise InvalidArgument(f"directory {self.directory!r} does not exist")
        self.git = git
        self.watch_files = (directory is not None) if watch_files is None else watch_files
        self._close_stale = close_stale
        self._c = container or _build_container()
        self._session: Session | None = None
        # spent = what the database said after our last write + calls queued but not yet written
        self._confirmed = ZERO
        self._pending = ZERO
        self._money = threading.Lock()
        self._refusals = RefusalMemo()
        self._tracker: Any = None
        self._summary: AgentSessionSummary | None = None
        self.guards: set[Any] = set()  # firewall guards its tracked calls reserved with (issue 14)

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def id(self) -> int:
        """The session id (after `start()`)."""
        if self._session is None:
            raise InvalidArgument("AgentSession.start() has not been called")
        return self._session.id

    @property
    def cwd(self) -> str:
        return self.directory or os.getcwd()

    def start(self) -> AgentSession:
        """Start the session (idempotent) and its watchers (`directory` files, `git` commits)."""
        if self._session is not None:
            return self
        result = self._c.start_session()(name=self.name, cwd=self.cwd, close_stale=self._close_stale)
        self._session, self._confirmed = result.session, result.session.ai_cost
        # Built here, once: Singleton creation is not thread-safe (the writer uses them).
        self._c.log_usage()
        self._c.record_usage()
        if self.budget is not None:
            # The firewall also enforces it for the proxy and `cs log-ai` on this session.
            self._c.set_budget()(scope="session", limit=self.budget, session_id=self._session.id, actor="library")
        if self.watch_files or self.git:
            self._tracker = self._c.live_tracking().tracker(self._session.id, directory=self.directory,
                                                            files=self.watch_files, commits=self.git).start()
        return self

    def end(self, notes: str | None = None) -> AgentSessionSummary:
        """Stop the watchers, store queued calls, end the session; idempotent, returns the summary."""
        if self._summary is not None:
            return self._summary
        sid = self.id
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            tracker.stop()
        flush()
        for guard in self.guards:  # every call is stored: give the session's leases back
            guard.close(sid)
        ended = self._c.end_session()(cwd=self.cwd, session_id=sid, notes=notes)
        self._summary = self._summarise(ended)
        return self._summary

    def __enter__(self) -> AgentSession:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None and self._session is not None and self._summary is None:
            self.note(f"Error: {exc_type.__name__ if exc_type else 'Exception'}: {exc}")
        if self._session is not None:
            self.end()

    # --- usage and budget ------------------------------------------------------------------------
    def log_ai(self, provider: str, model: str, tokens: int | None = None,
               cost: float | int | str | Decimal | None = None, *, prompt_tokens: int | None = None,
               completion_tokens: int | None = None, cache_read_tokens: int | None = None,
               cache_write_tokens: int | None = None, cache_write_1h_tokens: int | None = None,
               agent: str | None = None, duration: float | str | Decimal | None = None) -> Any:
        """Record one AI call (cost from prices when omitted; prompt tokens are uncached input).

        `cache_write_tokens` are 5-minute cache writes, `cache_write_1h_tokens` 1-hour ones (each
        priced at its own rate). Token counts are whole numbers 0..10^12 and `cost` is 0..$1,000,000
        (`costhq.domain.numbers`); anything else raises InvalidArgument before anything is stored.
        The call is always stored; then BudgetExceededError is raised when the session's budget
        (or a blocking firewall rule) is now crossed. `duration` is the call's wall time in seconds:
        a registered local model (`cs local add`) is priced by it (compute time x hourly rate).
        """
        counts = _counts(tokens=tokens, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                         cache_read_tokens=cache_read_tokens, cache_write_tokens=cache_write_tokens,
                         cache_write_1h_tokens=cache_write_1h_tokens)
        call = UsageInput(
            provider=provider, model=model, cost=_usd(cost, "cost", MAX_CALL_COST_USD),
            total_tokens=None if tokens is None else counts["tokens"],
            tokens=TokenCounts(input=counts["prompt_tokens"], output=counts["completion_tokens"],
                               cache_read=counts["cache_read_tokens"], cache_write_5m=counts["cache_write_tokens"],
                               cache_write_1h=counts["cache_write_1h_tokens"]),
            origin=Origin.LIBRARY, agent=agent,
            duration_ms=None if duration is None else seconds_to_ms(duration))  # issue 8: exact, validated
        before = self.spent
        try:
            logged = self._store(call)
        except BudgetExceeded as refusal:  # a firewall rule: the call is stored, then refused
            if self.budget is not None and self.spent > self.budget:
                raise BudgetExceededError(self.spent, self.budget, self.spent - before) from None
            spent, limit = Decimal(refusal.details.get("spent", "0")), Decimal(refusal.details.get("limit", "0"))
            raise BudgetExceededError(spent, limit, self.spent - before, refusal.message,
                                      **{k: v for k, v in refusal.details.items() if k not in ("spent", "limit")}
                                      ) from None
        if self.budget is not None and self.spent > self.budget:
            raise BudgetExceededError(self.spent, self.budget, logged.record.cost or ZERO)
        return logged

    def _store(self, call: UsageInput) -> Any:
        try:
            logged = self._c.log_usage()(call=call, cwd=self.cwd, session_id=self.id, allow_unpriced=True)
        except BudgetExceeded:
            self._confirm(self._c.get_session()(cwd=self.cwd, session_id=self.id).session.ai_cost)
            raise
        self._confirm(logged.session.ai_cost)
        return logged

    def _confirm(self, total: Decimal) -> None:
        with self._money:
            self._confirmed = max(self._confirmed, total)  # spend only grows; writes may finish out of order

    def record(self, call: UsageInput, after: Callable[[BatchOutcome], None] | None = None) -> None:
        """Queue a tracked client's call on this session: priced now, stored by the background writer
        (then `after(outcome)` runs on the writer thread: the tracked client's reservation is released).

        Never raises for budgets: the tracked clients refuse in their pre-flight instead.
        """
        try:
            cost = price_usage(self._c.price_book(), call, allow_unpriced=True)[0] or ZERO
        except CostHQError:
            cost = ZERO  # the writer reports the problem when it stores the call
        cost = quantize(cost)
        with self._money:
            self._pending += cost

        def done(outcome: BatchOutcome) -> None:  # on the writer thread, after the batch's commit
            logged = outcome.logged  # None: an error (a replay or a call the proxy stored: the record holding it)
            with self._money:  # one step, so `spent` never counts the call twice or not at all
                self._pending -= cost
                if logged is not None and logged.session.id == self.id:  # a replay may hold it elsewhere
                    self._confirmed = max(self._confirmed, logged.session.ai_cost)
            if logged is not None and logged.verdict is not None and logged.verdict.refusal is not None:
                self._refusals.refusal = logged.verdict.refusal  # stored, then refused: the next pre-flight stops
            if after is not None:
                after(outcome)

        WRITER.submit(self._c.record_usage, QueuedUsage(call=call, cwd=self.cwd, session_id=self.id), done)

    def check_budget(self) -> None:
        """Pre-flight: raise BudgetExceededError when the budget is spent or a firewall rule refused."""
        spent = self.spent
        if self.budget is not None and spent >= self.budget:
            raise BudgetExceededError(spent, self.budget, ZERO,
                                      f"Budget spent: ${spent} of ${self.budget}; the request was not sent")
        self._refusals.check(self._c)

    def can_afford(self, amount: float | int | str | Decimal) -> bool:
        """True when spending `amount` more keeps the session within its budget (always without one)."""
        value = _usd(amount, "amount") or ZERO
        return self.budget is None or self.spent + value <= self.budget

    @property
    def spent(self) -> Decimal:
        """USD spent by this session (as of our last write, plus tracked calls not yet written)."""
        with self._money:
            return self._confirmed + self._pending

    @property
    def remaining(self) -> Decimal | None:
        """Budget left (never negative); None without a budget."""
        return None if self.budget is None else max(ZERO, self.budget - self.spent)

    def status(self) -> AgentSessionSummary:
        """Live totals from the database (queued tracked calls are stored first)."""
        flush()
        detail = self._c.get_session()(cwd=self.cwd, session_id=self.id)
        self._confirm(detail.session.ai_cost)
        return self._summarise(detail.session)

    def note(self, message: str) -> None:
        """Add a timestamped annotation to the session."""
        self._c.add_note()(message=message, cwd=self.cwd, session_id=self.id)

    def _summarise(self, s: Session) -> AgentSessionSummary:
        return AgentSessionSummary(
            id=s.id, name=s.name, status=s.status.value, duration=s.duration(self._c.clock().now()),
            files_changed=s.files_changed, commits=s.commits, ai_cost=s.ai_cost, ai_tokens=s.ai_tokens,
            ai_calls=s.ai_calls, unpriced_calls=s.unpriced_calls, notes=s.notes, budget=self.budget,
            working_directory=s.working_directory)


def run_agent_session(name: str, options: dict[str, Any] | None,
                      fn: Callable[[AgentSession], T | Awaitable[T]]) -> Any:
    """Start a session, run `fn(session)`, end it (also on error: noted, then re-raised); return the summary.

    With an async `fn` (or one returning an awaitable) it returns an awaitable of the summary,
    and an `async def fn` starts the session only when that awaitable is awaited.
    """
    session = AgentSession(name, **(options or {}))
    if inspect.iscoroutinefunction(fn):
        async def _deferred() -> AgentSessionSummary:
            with session.start():
                await fn(session)  # type: ignore[misc]
            return session.end()
        return _deferred()
    session.start()
    try:
        result = fn(session)
    except BaseException as exc:
        session.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if not inspect.isawaitable(result):
        return session.end()

    async def _awaiting() -> AgentSessionSummary:
        try:
            await result  # type: ignore[misc]
        except BaseException as exc:
            session.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return session.end()

    return _awaiting()
