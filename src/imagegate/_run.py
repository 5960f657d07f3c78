"""One request, run to its end against the router's `Engine`.

A request's life, and the module that owns each part of it::

    RequestRun(engine, request)
      plan             the ladder of options, ranked                 _plan, _ranking
      execute          the hedged race, until an image or nothing    _race
        next start     retry, next rung or deferred retry; why not   _cursor
          why not      route rejected, size's time used up, guards   _deadline, guards
        hedge          when a slow attempt gets one, and where       _hedging
        one attempt    slot, gate, wait, call, record, settle        _attempt, _call
          the gate     every guard's booking in one round trip       guards
          its time     min(attempt timeout, what is left)            _deadline
      answer           ImageResult, or AllRoutesFailed               _answer

The `Engine` is what a run needs from its router: providers, policies and shared state,
its ranking of options (`_ranking`) and the guards every attempt passes (`guards`).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from imagegate._answer import build_failure, build_result
from imagegate._attempt import AttemptRunner
from imagegate._cursor import OptionCursor
from imagegate._deadline import TimeBudget
from imagegate._hedging import Hedging
from imagegate._plan import build_plan
from imagegate._presets import OptionOrder
from imagegate._provider import Capabilities, Provider
from imagegate._race import HedgedRace
from imagegate._ranking import Ranking, Strategy
from imagegate._request import ImageRequest
from imagegate._result import Attempt, ImageResult
from imagegate._route import Route
from imagegate.guards import BUILTIN_GUARDS, Guard, GuardPipeline
from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.breaker import BreakerRegistry
from imagegate.resilience.budget import RetryBudget
from imagegate.resilience.clock import Clock
from imagegate.resilience.dispatcher import Dispatcher
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.ledger import CostLedger
from imagegate.resilience.load import LoadBudget
from imagegate.resilience.ratelimit import RateLimiter
from imagegate.resilience.retry import RetryPolicy
from imagegate.resilience.stats import OutcomeWindow
from imagegate.resilience.timeouts import AttemptTimeoutPolicy

__all__ = ["Engine", "RequestRun", "Strategy"]


@dataclass(slots=True)
class Engine(Ranking):
    """Everything a run needs from its router: providers, policies and shared state.

    ``guards`` are asked after the built-in ones (`imagegate.guards.BUILTIN_GUARDS`), so
    a new per-attempt policy is a new `Guard`, not an edit of the run.
    """

    routes: tuple[Route, ...]
    providers: list[Provider]
    capabilities: list[Capabilities]
    clock: Clock
    retry: RetryPolicy
    budget: RetryBudget
    breakers: BreakerRegistry
    dispatcher: Dispatcher
    limiters: list[RateLimiter | None]
    ledger: CostLedger
    hedge: HedgePolicy | None
    timeouts: AttemptTimeoutPolicy | None
    admission: AdmissionPolicy | None
    order: OptionOrder
    strategy: Strategy
    attempt_timeout_s: float | None
    failover_on_blocked: bool
    log: Any
    rng: random.Random
    load: LoadBudget | None = None
    guards: tuple[Guard, ...] = ()
    windows: dict[tuple[str, str], OutcomeWindow] = field(default_factory=dict)
    in_flight: Counter[tuple[str, str]] = field(default_factory=Counter)
    abandoned: set[asyncio.Task[Any]] = field(default_factory=set)
    _pipeline: tuple[tuple[Guard, ...], GuardPipeline] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def pipeline(self) -> GuardPipeline:
        """The guards every attempt passes: the built-in ones, then ``guards`` (built
        again only when ``guards`` is replaced)."""
        cached = self._pipeline
        if cached is None or cached[0] is not self.guards:
            cached = self._pipeline = (self.guards, GuardPipeline((*BUILTIN_GUARDS, *self.guards)))
        return cached[1]

    def abandon(self, task: asyncio.Task[Any]) -> None:
        """Hold a cancelled adapter call until it ends by itself (``abandoned`` then holds
        only the calls that ignored their cancellation)."""
        self.abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self.abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as lost


class RequestRun:
    """Runs one validated request against an `Engine` (its life: the module docstring).

    Args:
        engine: The router's engine.
        request: The validated request.
        request_id: The id its log events and result carry.
    """

    __slots__ = (
        "attempts",
        "cursor",
        "engine",
        "guards",
        "hedging",
        "log",
        "request",
        "request_id",
        "runner",
        "time",
    )

    def __init__(self, engine: Engine, request: ImageRequest, request_id: str) -> None:
        self.engine = engine
        self.request = request
        self.request_id = request_id
        self.log = engine.log.bind(request_id=request_id)
        self.time = TimeBudget(engine, request)
        plan = build_plan(request, engine.routes, engine.capabilities, engine.route_order(request))
        self.cursor = OptionCursor(self, engine.reorder(plan.options), plan.skipped)
        self.guards = engine.pipeline()
        self.hedging = Hedging(self)
        self.runner = AttemptRunner(self)
        self.attempts: list[Attempt] = []
        self.guards.open(self)

    async def execute(self) -> ImageResult:
        """Run the request; the result, or `AllRoutesFailed` / `BudgetExceeded`."""
        end = await HedgedRace(self).run()
        if end is None:
            raise build_failure(self)
        if end.stop is not None:
            raise end.stop
        return build_result(self, end)

    def __repr__(self) -> str:
        return (
            f"RequestRun(request_id={self.request_id!r}, attempts={len(self.attempts)}, "
            f"skipped={len(self.cursor.skipped)}, {self.time!r})"
        )
