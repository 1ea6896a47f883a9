"""`costhq.agents`: the programmatic API for agent frameworks (spec "Programmatic API").

    with AgentSession("Refactor auth", budget=5, directory="./src", git=True) as s:
        s.log_ai("anthropic", "claude-opus-4-6", 15000, prompt_tokens=10000, completion_tokens=5000)
        if not s.can_afford(2): ...

Rules:
- The same use cases as `cs` (StartSession, LogUsage with origin `library`, EndSession...),
  on the same database (`$COSTHQ_HOME` or `~/.costhq`).
- Budget: `log_ai` stores the record first, then raises `BudgetExceededError` when the
  session's spend is past the budget (money is never dropped). `can_afford(x)` is the pre-flight.
- `end()` is idempotent and stops the watchers; as a context manager an exception is
  recorded as a note before the session ends (the exception still propagates).
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from costhq.application.usage import UsageInput
from costhq.domain.errors import BudgetExceeded, InvalidArgument
from costhq.domain.money import ZERO, parse_usd
from costhq.domain.sessions import Session
from costhq.domain.usage import Origin, TokenCounts

T = TypeVar("T")


class BudgetExceededError(BudgetExceeded):
    """The session's budget was crossed (after `log_ai` stored the call) or would be (pre-flight).

    Attributes: spent, budget, attempted (USD, Decimal).
    """

    def __init__(self, spent: Decimal, budget: Decimal, attempted: Decimal) -> None:
        super().__init__(f"Budget exceeded: spent ${spent} of ${budget} (attempted ${attempted})",
                         spent=str(spent), budget=str(budget), attempted=str(attempted))
        self.spent, self.budget, self.attempted = spent, budget, attempted


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


def _usd(value: float | int | str | Decimal | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_usd(str(value))
    except ValueError as exc:
        raise InvalidArgument(f"{name}: {exc}") from exc


def _build_container() -> Any:
    from costhq.bootstrap.main import build_container

    return build_container()


class AgentSession:
    """One tracked agent run. Not thread-safe for concurrent `log_ai` on one object."""

    def __init__(self, name: str, *, budget: float | int | str | Decimal | None = None,
                 directory: str | os.PathLike[str] | None = None, git: bool = False,
                 watch_files: bool | None = None, close_stale: bool = False, container: Any = None) -> None:
        self.name = name
        self.budget = _usd(budget, "budget")
        self.directory = os.path.abspath(os.fspath(directory)) if directory is not None else None
        self.git = git
        self.watch_files = (directory is not None) if watch_files is None else watch_files
        self._close_stale = close_stale
        self._c = container or _build_container()
        self._session: Session | None = None
        self._spent = ZERO
        self._tracker: Any = None
        self._summary: AgentSessionSummary | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def id(self) -> int:
        if self._session is None:
            raise InvalidArgument("AgentSession.start() has not been called")
        return self._session.id

    @property
    def cwd(self) -> str:
        return self.directory or os.getcwd()

    def start(self) -> AgentSession:
        if self._session is not None:
            return self
        result = self._c.start_session()(name=self.name, cwd=self.cwd, close_stale=self._close_stale)
        self._session, self._spent = result.session, result.session.ai_cost
        if self.budget is not None and "set_budget" in self._c.providers:
            # The firewall (another feature) also enforces it for the proxy and `cs log-ai`.
            try:
                self._c.set_budget()(scope="session", limit=self.budget, session_id=self._session.id, actor="library")
            except TypeError as exc:  # the firewall's signature moved on: the local budget still holds
                sys.stderr.write(f"warning: could not register the session budget rule: {exc}\n")
        if self.watch_files or self.git:
            self._tracker = self._c.live_tracking().tracker(
                self._session.id, directory=self.directory, files=self.watch_files, commits=self.git).start()
        return self

    def end(self, notes: str | None = None) -> AgentSessionSummary:
        if self._summary is not None:
            return self._summary
        sid = self.id
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            tracker.stop()
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
               cache_write_tokens: int | None = None, agent: str | None = None,
               duration: float | None = None) -> Any:
        """Record one AI call (cost computed from prices when omitted); raises BudgetExceededError
        after storing it when the budget is now crossed."""
        call = UsageInput(
            provider=provider, model=model, cost=_usd(cost, "cost"), total_tokens=tokens,
            tokens=TokenCounts(input=prompt_tokens or 0, output=completion_tokens or 0,
                               cache_read=cache_read_tokens or 0, cache_write_5m=cache_write_tokens or 0),
            origin=Origin.LIBRARY, agent=agent, duration_ms=None if duration is None else int(duration * 1000))
        before = self._spent
        refusal = None
        try:
            logged = self._log(call)
        except BudgetExceeded as exc:  # the firewall's own rule: the call is stored, then refused
            logged, refusal = None, exc
        if self.budget is not None:
            self.check_budget(self._spent - before, after=True)
        if refusal is not None:
            raise refusal
        return logged

    def record(self, call: UsageInput) -> Any:
        """Store a call on this session without raising for budgets (the tracked SDK clients use it;
        their budget check is the pre-flight before the next request)."""
        try:
            return self._log(call)
        except BudgetExceeded:
            return None  # stored; `spent` is already up to date

    def _log(self, call: UsageInput) -> Any:
        try:
            logged = self._c.log_usage()(call=call, cwd=self.cwd, session_id=self.id, allow_unpriced=True)
        except BudgetExceeded:
            self._spent = self._c.get_session()(cwd=self.cwd, session_id=self.id).session.ai_cost
            raise
        self._spent = logged.session.ai_cost
        return logged

    def check_budget(self, attempted: Decimal = ZERO, *, after: bool = False) -> None:
        """Raise BudgetExceededError when spending `attempted` more is not affordable
        (`after=True`: it was already spent and counted)."""
        if self.budget is None:
            return
        over = self._spent > self.budget if after else self._spent + attempted > self.budget
        if over or (not after and self._spent >= self.budget):
            raise BudgetExceededError(self._spent, self.budget, attempted)

    def can_afford(self, amount: float | int | str | Decimal) -> bool:
        value = _usd(amount, "amount") or ZERO
        return self.budget is None or self._spent + value <= self.budget

    @property
    def spent(self) -> Decimal:
        return self._spent

    @property
    def remaining(self) -> Decimal | None:
        return None if self.budget is None else max(ZERO, self.budget - self._spent)

    def status(self) -> AgentSessionSummary:
        detail = self._c.get_session()(cwd=self.cwd, session_id=self.id)
        return self._summarise(detail.session)

    def note(self, message: str) -> None:
        self._c.add_note()(message=message, cwd=self.cwd, session_id=self.id)

    def _summarise(self, s: Session) -> AgentSessionSummary:
        return AgentSessionSummary(
            id=s.id, name=s.name, status=s.status.value, duration=s.duration(self._c.clock().now()),
            files_changed=s.files_changed, commits=s.commits, ai_cost=s.ai_cost, ai_tokens=s.ai_tokens,
            ai_calls=s.ai_calls, unpriced_calls=s.unpriced_calls, notes=s.notes, budget=self.budget,
            working_directory=s.working_directory)


def run_agent_session(name: str, options: dict[str, Any] | None,
                      fn: Callable[[AgentSession], T | Awaitable[T]]) -> Any:
    """Start a session, run `fn(session)`, end it (also on error, which is re-raised), return the summary.

    A coroutine function gives an awaitable of the summary; a plain function the summary itself.
    """
    session = AgentSession(name, **(options or {}))
    if inspect.iscoroutinefunction(fn):
        async def _run() -> AgentSessionSummary:
            with session.start():
                await fn(session)  # type: ignore[misc]
            return session.end()
        return _run()
    with session.start():
        fn(session)
    return session.end()
