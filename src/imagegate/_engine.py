"""`Engine`: what a request's run needs from its router — providers, policies and shared
state, its ranking of options (`imagegate._ranking`) and the guards every attempt passes
(`imagegate.guards`). One engine serves every request of a router."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from imagegate._expiry import Deadlines
from imagegate._plan import Option, Plan, build_plan
from imagegate._presets import OptionOrder
from imagegate._provider import Capabilities, Provider
from imagegate._ranking import Ranking, Strategy
from imagegate._request import ImageRequest
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
from imagegate.state import MemoryState, StateBackend

__all__ = ["Engine"]

_MAX_PLANS = 256  # request shapes whose plan `Engine.plan` keeps


@dataclass(slots=True)
class Engine(Ranking):
    """Everything a run needs from its router: providers, policies and shared state.

    ``guards`` are asked after the built-in ones (`imagegate.guards.BUILTIN_GUARDS`), so
    a new per-attempt policy is a new `Guard`, not an edit of the run. ``state`` is where
    the breakers, rate limits and ledger keep their records (None: not known here).
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
    state: StateBackend | None = None
    windows: dict[tuple[str, str], OutcomeWindow] = field(default_factory=dict)
    in_flight: Counter[tuple[str, str]] = field(default_factory=Counter)
    abandoned: set[asyncio.Task[Any]] = field(default_factory=set)
    kept_bookings: dict[int, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # the built-in guards' gate bookings around kept steps (`guards._booking.kept_booking`)
    _pipeline: tuple[tuple[Guard, ...], GuardPipeline] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _plans: dict[tuple[object, ...], Plan] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _deadlines: Deadlines | None = field(default=None, init=False, repr=False, compare=False)
    _splits: dict[int, tuple[tuple[Option, ...], tuple[Option, ...], int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def plan(self, request: ImageRequest) -> Plan:
        """The ladder of ``request`` (`imagegate._plan.build_plan`), in the routing
        strategy's order. A plan depends only on the request's shape, the order and the
        capabilities, so one without input images is built once per shape and kept
        until `forget_plans` (the router calls it when its providers change)."""
        order = self.route_order(request)
        if request.images or request.mask is not None:
            return build_plan(request, self.routes, self.capabilities, order)
        key = (
            *order,
            request.sizes_allowed,
            request.aspect_ratio,
            request.n,
            request.allow_backup,
        )
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:  # ratios are free-form: keep it bounded
                self.forget_plans()
            plan = self._plans[key] = build_plan(request, self.routes, self.capabilities, order)
            self.keep_split(plan.options)
        return plan

    def forget_plans(self) -> None:
        """Drop the plans kept by `plan` (the routes' capabilities changed), and their
        splits."""
        self._plans.clear()
        self.forget_splits()

    def pipeline(self) -> GuardPipeline:
        """The guards every attempt passes: the built-in ones, then ``guards`` (built
        again only when ``guards`` is replaced); `GuardPipeline.local` when they are
        only the built-in ones on a plain `MemoryState`."""
        cached = self._pipeline
        if cached is None or cached[0] is not self.guards:
            # Only the built-in guards on a plain MemoryState: no hook ever waits.
            local = not self.guards and type(self.state) is MemoryState
            pipeline = GuardPipeline((*BUILTIN_GUARDS, *self.guards), local=local)
            cached = self._pipeline = (self.guards, pipeline)
        return cached[1]

    def deadlines(self, loop: asyncio.AbstractEventLoop) -> Deadlines:
        """The attempt deadlines of this router's requests on ``loop`` (one loop timer for
        all of them). A router used on another loop starts a new set there; the one it
        used last is held, with its loop, until then."""
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = Deadlines(loop)
        return deadlines

    def abandon(self, task: asyncio.Task[Any]) -> None:
        """Hold a cancelled adapter call until it ends by itself (``abandoned`` then holds
        only the calls that ignored their cancellation)."""
        self.abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self.abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as lost
