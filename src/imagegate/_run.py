"""One request, run to its end: the ladder, retries, the hedged race, every attempt recorded.

A run keeps at most two attempts in flight — the *main* one and, when the main one is
above the hedge size and slow, a *hedge* — and reacts to whichever lands first::

    loop:
        no main in flight?   promote the hedge, or start the next option
                             (a retry of the last one after its backoff, if the retry
                             policy and the retry budget allow, else the next rung)
        wait for a landing, or for the hedge timer of a slow main attempt
        timer fired          start the hedge on the option most likely to answer
        success              the winner (prefer="quality": a hedge win waits grace_s for
                             the main attempt); cancel the rest
        failure              main: decide retry or next rung; hedge: forget it

Each attempt passes, in order: a dispatcher slot (queueing counts against the deadline),
the gate (`_gate`: its (route, size) breaker permit, the route's rate limit — a wait that
would not fit in the deadline skips the option — and the budget reservation, in one round
trip to shared state), then the call under a timeout of ``min(attempt_timeout_s, what is
left of the deadline)``. Its outcome feeds the breaker, the outcome window, the quota and
the ledger. A cancelled attempt (a hedge loser, or the caller gave up) is recorded as
``cancelled`` and possibly billed.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from imagegate._gate import GatePass, GateRefusal, pass_gate
from imagegate._plan import Option, build_plan
from imagegate._presets import OptionOrder
from imagegate._provider import (
    MAX_REPORTED_COST_PER_IMAGE_USD,
    Capabilities,
    Provider,
    ProviderRequest,
    ProviderResponse,
    plausible_cost,
)
from imagegate._ranking import Ranking, Strategy
from imagegate._redact import render_traceback
from imagegate._request import ImageRequest, Size, size_rank
from imagegate._result import Attempt, GeneratedImage, ImageResult, Outcome
from imagegate._route import Route
from imagegate._sanitize import detach
from imagegate.errors import (
    AllRoutesFailed,
    Billing,
    ContentBlocked,
    DeadlineExceeded,
    ImageGateError,
    InvalidRequestError,
    NoImageReturned,
    ProviderError,
    QuotaExhausted,
    UpstreamError,
)
from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.breaker import BreakerPermit, BreakerRegistry, CircuitBreaker
from imagegate.resilience.budget import RetryBudget
from imagegate.resilience.clock import Clock, move_on_after
from imagegate.resilience.dispatcher import Dispatcher, DispatchTimeout
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.ledger import CostLedger, Reservation
from imagegate.resilience.load import LoadBudget
from imagegate.resilience.ratelimit import RateLimiter
from imagegate.resilience.retry import RetryPolicy
from imagegate.resilience.stats import OutcomeWindow
from imagegate.resilience.timeouts import AttemptTimeoutPolicy

__all__ = ["Engine", "RequestRun", "Strategy"]

# No attempt starts with less than this much of the deadline left: it could not finish.
_MIN_ATTEMPT_S = 0.001
# Hedges per slow attempt: a second one only when the first failed fast.
_MAX_HEDGES = 2
# Real seconds a cancelled attempt may spend recording itself (ledger, breaker).
_CLEANUP_BOUND_S = 5.0
# Clock seconds an adapter's call may take to end once cancelled; then it is abandoned.
_ABANDON_GRACE_S = 1.0
_BILLINGS: tuple[str, ...] = get_args(Billing)


@dataclass(slots=True)
class Engine(Ranking):
    """Everything a run needs from its router: providers, policies and shared state (its
    ranking of options: `Ranking`)."""

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
    windows: dict[tuple[str, str], OutcomeWindow] = field(default_factory=dict)
    in_flight: Counter[tuple[str, str]] = field(default_factory=Counter)
    abandoned: set[asyncio.Task[Any]] = field(default_factory=set)

    def abandon(self, task: asyncio.Task[Any]) -> None:
        """Hold a cancelled adapter call until it ends by itself (``abandoned`` then holds
        only the calls that ignored their cancellation)."""
        self.abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self.abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as lost


@dataclass(slots=True, eq=False)
class _Flight:
    option: Option
    number: int
    hedge: bool
    launched: float
    hedges: int = 0  # hedges started for this (main) attempt
    committed: float = 0.0  # expected extra attempts, held in the load budget
    abandoned: bool = False  # its call ignored cancellation and was left behind


@dataclass(frozen=True, slots=True)
class _Landing:
    flight: _Flight
    attempt: Attempt | None = None
    response: ProviderResponse | None = None
    skipped: str | None = None
    out_of_time: bool = False
    stop: BaseException | None = None


class RequestRun:
    """Runs one validated request against an `Engine`."""

    def __init__(self, engine: Engine, request: ImageRequest, request_id: str) -> None:
        self.engine = engine
        self.request = request
        self.request_id = request_id
        self.log = engine.log.bind(request_id=request_id)
        self.started = engine.clock.now()
        plan = build_plan(request, engine.routes, engine.capabilities, engine.route_order(request))
        self.options: Sequence[Option] = engine.reorder(plan.options)
        self.skipped: list[str] = list(plan.skipped)
        self.attempts: list[Attempt] = []
        self._pos = 0
        self._tries: Counter[tuple[int, Size]] = Counter()
        self._dead_routes: set[int] = set()
        self._retry: tuple[Option, int, ImageGateError] | None = None
        self._deferred: list[tuple[float, Option, int]] = []  # (due, option, number)
        self._stop: BaseException | None = None
        self._blocked = False
        self._size_ends: dict[Size, float | None] = {}
        self._launched = 0
        if engine.load is not None:
            engine.load.open_request()

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        if self.request.deadline_s is None:
            return None
        return self.request.deadline_s - (self.engine.clock.now() - self.started)

    def _expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining < _MIN_ATTEMPT_S

    async def execute(self) -> ImageResult:
        """Run the request; the result, or `AllRoutesFailed` / `BudgetExceeded`."""
        winner: _Landing | None = None
        send, receive = anyio.create_memory_object_stream[_Landing](max_buffer_size=4)
        async with send, receive, anyio.create_task_group() as tg:
            main: _Flight | None = None
            hedge: _Flight | None = None
            while True:
                if main is None:
                    main, hedge = hedge, None
                if main is None:
                    start = await self._next_start()
                    if start is None:
                        break
                    main = self._launch(tg, send, *start, hedge=False)
                landing: _Landing | None = None
                async with move_on_after(self.engine.clock, self._hedge_wait(main, hedge)):
                    landing = await receive.receive()
                if landing is None:
                    hedge = self._fire_hedge(tg, send, main)
                    continue
                if landing.stop is not None:
                    self._stop = landing.stop
                    break
                if landing.response is not None:
                    if landing.flight is hedge and main is not None:
                        landing = await self._grace(receive, landing, main)
                    winner = landing
                    break
                self._absorb(landing)
                if landing.flight is main:
                    main = None
                else:
                    hedge = None
            tg.cancel_scope.cancel()
        if self._stop is not None:
            raise self._stop
        if winner is None:
            raise self._failure()
        return self._result(winner)

    # -- choosing what to start ------------------------------------------------------

    async def _next_start(self) -> tuple[Option, int] | None:
        engine = self.engine
        retry, self._retry = self._retry, None
        if retry is not None and not self._blocked:
            option, number, error = retry
            wait = engine.retry.next_wait_s(number, error, remaining_s=self.remaining())
            failover_after = engine.retry.failover_after_s
            if (
                wait is not None
                and failover_after is not None
                and wait > failover_after
                and self._fallback_after(option)
            ):
                # Another option may answer before this one is even due again.
                self._deferred.append((engine.clock.now() + wait, option, number))
                self.log.info(
                    "retry.deferred",
                    route=option.route.name,
                    size=option.size,
                    wait_s=round(wait, 3),
                    error=type(error).__name__,
                )
            elif (
                wait is not None
                and self._unavailable(option) is None
                and engine.budget.try_withdraw("retry")
            ):
                return await self._retry_after(option, number, wait, error=type(error).__name__)
        while self._pos < len(self.options) and not self._blocked:
            if self._expired():
                return None
            option = self.options[self._pos]
            self._pos += 1
            reason = self._unavailable(option)
            if reason is not None:
                self.skipped.append(f"{option.route.name}@{option.size}: {reason}")
                self.log.debug(
                    "option.skipped", route=option.route.name, size=option.size, reason=reason
                )
                continue
            return option, self._tries[(option.index, option.size)] + 1
        return await self._deferred_retry()

    async def _deferred_retry(self) -> tuple[Option, int] | None:
        """The earliest retry put off for failover, once due (the ladder is used up)."""
        engine = self.engine
        self._deferred.sort(key=lambda item: item[0])
        while self._deferred and not self._blocked:
            due, option, number = self._deferred.pop(0)
            wait = max(0.0, due - engine.clock.now())
            remaining = self.remaining()
            if remaining is not None and wait + engine.retry.min_attempt_s > remaining:
                continue
            if self._unavailable(option) is not None or not engine.budget.try_withdraw("retry"):
                continue
            return await self._retry_after(option, number, wait, deferred=True)
        return None

    async def _retry_after(
        self, option: Option, number: int, wait: float, **why: object
    ) -> tuple[Option, int]:
        """Log the retry of attempt ``number`` at ``option``, wait, and hand it back."""
        self.log.info(
            "retry.scheduled",
            route=option.route.name,
            size=option.size,
            number=number + 1,
            wait_s=round(wait, 3),
            **why,
        )
        await self.engine.clock.sleep(wait)
        return option, number + 1

    def _unavailable(self, option: Option) -> str | None:
        engine = self.engine
        if option.index in self._dead_routes:
            return "route rejected the request"
        end = self._size_ends.get(option.size)
        if end is not None and end - engine.clock.now() < _MIN_ATTEMPT_S:
            return f"time for {option.size} used up (kept for smaller sizes)"
        if not engine.breakers.get(option.route.name, option.size).allow():
            return "breaker open"
        if engine.admission is not None:
            estimate, upper = engine.estimates(option.route.name, option.size)
            can_step_down = size_rank(option.size) > size_rank(self.request.sizes_allowed[-1])
            if not engine.admission.admits(upper, can_step_down=can_step_down):
                return f"estimated success {estimate:.0%} (at best {upper:.0%}) too low"
            if can_step_down and engine.load is not None and not engine.load.affords(1 - estimate):
                return "load budget spent: stepping down"
        limiter = engine.limiters[option.index]
        if limiter is not None:
            remaining = self.remaining()
            max_wait = (
                None if remaining is None else max(0.0, remaining - engine.retry.min_attempt_s)
            )
            if limiter.estimate_wait_s(self.request.n, max_wait_s=max_wait) is None:
                return "rate limit or quota leaves no room before the deadline"
        return None

    def _launch(
        self,
        tg: TaskGroup,
        send: MemoryObjectSendStream[_Landing],
        option: Option,
        number: int,
        *,
        hedge: bool,
    ) -> _Flight:
        engine = self.engine
        self._tries[(option.index, option.size)] += 1
        flight = _Flight(option, number, hedge, engine.clock.now())
        if engine.load is not None:
            if self._launched:
                engine.load.spend_extra()
            flight.committed = engine.load.commit(
                1 - engine.estimate(option.route.name, option.size)
            )
        self._launched += 1
        # Counted from launch, not from the call, so a burst sees its own attempts.
        engine.in_flight[(option.route.name, option.size)] += 1
        tg.start_soon(self._fly, flight, send)
        return flight

    async def _fly(self, flight: _Flight, send: MemoryObjectSendStream[_Landing]) -> None:
        try:
            landing = await self._attempt(flight)
        finally:
            self.engine.in_flight[(flight.option.route.name, flight.option.size)] -= 1
            if self.engine.load is not None:
                self.engine.load.release(flight.committed)
        await send.send(landing)

    # -- hedging -------------------------------------------------------------------------

    def _hedge_wait(self, main: _Flight, hedge: _Flight | None) -> float | None:
        policy = self.engine.hedge
        if (
            policy is None
            or hedge is not None
            or main.hedges >= _MAX_HEDGES
            or main.hedge
            or not policy.applies_to(main.option.size)
            or policy.size not in self.request.sizes_allowed
        ):
            return None
        now = self.engine.clock.now()
        window = self.engine.windows.get((main.option.route.name, main.option.size))
        delay = policy.delay_for(window, now)
        return max(0.0, main.launched + delay - now)

    def _fire_hedge(
        self, tg: TaskGroup, send: MemoryObjectSendStream[_Landing], main: _Flight
    ) -> _Flight | None:
        main.hedges += 1
        engine = self.engine
        target = self._hedge_target(main)
        # Not gated by the load budget: a hedge of a failing attempt is the fallback it
        # was expected to need (its commitment in the budget); what a hedge costs shows
        # in the balance and so in later admissions.
        if target is None or not engine.budget.try_withdraw("hedge"):
            reason = "no option can take it" if target is None else "retry budget"
            self.log.info(
                "hedge.skipped", route=main.option.route.name, size=main.option.size, reason=reason
            )
            return None
        self.log.info(
            "hedge.fired",
            route=main.option.route.name,
            size=main.option.size,
            hedge_route=target.route.name,
            hedge_size=target.size,
        )
        if engine.load is not None:
            engine.load.release(main.committed)
            main.committed = 0.0
        return self._launch(
            tg, send, target, self._tries[(target.index, target.size)] + 1, hedge=True
        )

    def _hedge_target(self, main: _Flight) -> Option | None:
        """``target="likely"``: the option at the hedge size most likely to answer;
        ``"fastest"``: the option at or below it expected to deliver soonest. A
        different model (a backup) only when no primary can take the hedge."""
        engine = self.engine
        policy = engine.hedge
        assert policy is not None
        key: Callable[[Option], tuple[bool, float]]
        if policy.target == "fastest":
            limit = size_rank(policy.size)
            candidates = [
                o for o in self.options if size_rank(o.size) <= limit and o is not main.option
            ]
            key = engine.fastest_key
        else:
            candidates = [o for o in self.options if o.size == policy.size]
            key = lambda o: (o.route.backup, -engine.estimate(o.route.name, o.size))  # noqa: E731
        available = [o for o in candidates if self._unavailable(o) is None]
        return min(available, key=key, default=None)  # the first of equals, as ranked

    async def _grace(
        self, receive: MemoryObjectReceiveStream[_Landing], hedge_win: _Landing, main: _Flight
    ) -> _Landing:
        """prefer="quality": give the larger main attempt ``grace_s`` to land too."""
        policy = self.engine.hedge
        if policy is None or policy.prefer != "quality" or policy.grace_s <= 0:
            return hedge_win
        late: _Landing | None = None
        async with move_on_after(self.engine.clock, policy.grace_s):
            late = await receive.receive()
        if late is not None and late.flight is main and late.response is not None:
            return late
        return hedge_win

    # -- one attempt ---------------------------------------------------------------------

    async def _attempt(self, flight: _Flight) -> _Landing:
        engine, request = self.engine, self.request
        option = flight.option
        route, size = option.route, option.size
        breaker = engine.breakers.get(route.name, size)
        limiter = engine.limiters[option.index]
        estimate = option.capabilities.estimate_cost_usd(size, request.n)
        permit: BreakerPermit | None = None
        reservation: Reservation | None = None
        called_at: float | None = None
        slot = None
        try:
            try:
                slot = await engine.dispatcher.acquire(route.name, timeout_s=self.remaining())
            except DispatchTimeout:
                return _Landing(flight, skipped="deadline reached while queued", out_of_time=True)
            gate: GatePass | GateRefusal | None = None
            # Shielded: a round trip cancelled half-way may have booked in shared state what
            # this request would never learn of, and so never hand back. Bounded like the
            # cleanup below; a pending cancellation lands at the next checkpoint, once what
            # was booked is held here for the handler to return.
            with anyio.CancelScope(shield=True) as booking:
                booking.deadline = anyio.current_time() + _CLEANUP_BOUND_S
                gate = await self._pass_gate(option, breaker, limiter, estimate)
            if gate is None:
                return _Landing(flight, skipped="shared state did not answer in time")
            if isinstance(gate, GateRefusal):
                if gate.error is not None:
                    return _Landing(flight, stop=gate.error)
                return _Landing(flight, skipped=gate.reason)
            permit, reservation = gate.permit, gate.reservation
            if gate.wait_s > 0:
                await engine.clock.sleep(gate.wait_s)
            if flight.number == 1 and not flight.hedge:
                engine.budget.deposit()
            remaining = self.remaining()
            if remaining is not None and remaining < _MIN_ATTEMPT_S:
                await engine.ledger.release(reservation)
                await breaker.release(permit)
                return _Landing(flight, skipped="deadline reached", out_of_time=True)
            timeout_s = self._timeout_for(option, remaining)
            called_at = engine.clock.now()
            response, error = await self._call(flight, timeout_s)
            ended = engine.clock.now()
            if response is not None:
                error = _check_response(response, request, route.name, size)
                if error is not None:
                    response = None
            attempt = _record(flight, called_at, ended, response, error, estimate, request.n)
            if attempt.cost_rejected:
                assert response is not None
                self.log.warning(
                    "attempt.cost_rejected",
                    route=route.name,
                    size=size,
                    reported_cost_usd=repr(response.cost_usd),
                    booked_usd=attempt.cost_usd,
                    max_per_image_usd=MAX_REPORTED_COST_PER_IMAGE_USD,
                )
            self.attempts.append(attempt)
            if response is not None:
                await breaker.record_success(permit, duration_s=attempt.duration_s)
            else:
                assert error is not None
                await breaker.record_failure(permit, error, duration_s=attempt.duration_s)
                if isinstance(error, QuotaExhausted):
                    # The quota is the route's (per model or account), not the size's.
                    for other in sorted(option.capabilities.sizes - {size}):
                        await engine.breakers.get(route.name, other).open_for_quota(error)
                    if limiter is not None:
                        await limiter.mark_exhausted(reset_at=error.reset_at)
            if _is_evidence(error):
                engine.window(route.name, size).record(
                    success=response is not None, latency_s=attempt.duration_s, now=ended
                )
            await engine.ledger.settle(reservation, attempt.cost_usd, attempt.billing)
            return _Landing(flight, attempt=attempt, response=response)
        except anyio.get_cancelled_exc_class():
            # Shielded so the bookkeeping survives the cancellation, but bounded: a shared
            # state backend that hangs must not keep a cancelled request alive.
            with anyio.CancelScope(shield=True) as cleanup:
                cleanup.deadline = anyio.current_time() + _CLEANUP_BOUND_S
                if called_at is not None and reservation is not None:
                    ended = engine.clock.now()
                    self.attempts.append(
                        Attempt(
                            route.name,
                            size,
                            called_at,
                            ended,
                            "cancelled",
                            None,
                            "possibly_billed",
                            estimate,
                            hedge=flight.hedge,
                            number=flight.number,
                            abandoned=flight.abandoned,
                        )
                    )
                    await engine.ledger.settle(reservation, estimate, "possibly_billed")
                    self.log.debug("attempt.cancelled", route=route.name, size=size)
                elif reservation is not None:
                    # Cancelled before the call (while waiting for the rate limit).
                    await engine.ledger.unreserve(reservation)
                if permit is not None:
                    await breaker.release(permit)
            raise
        finally:
            if slot is not None:
                slot.release()

    async def _pass_gate(
        self,
        option: Option,
        breaker: CircuitBreaker,
        limiter: RateLimiter | None,
        estimate: float,
    ) -> GatePass | GateRefusal:
        """Breaker permit, rate booking and budget reservation in one step (`_gate`)."""
        engine = self.engine
        remaining = self.remaining()
        return await pass_gate(
            breaker,
            limiter,
            engine.ledger,
            n=self.request.n,
            max_wait_s=None if remaining is None else remaining - engine.retry.min_attempt_s,
            estimate_usd=estimate,
            route=option.route.name,
            size=option.size,
            clock=engine.clock,
        )

    def _size_left(self, size: Size) -> float | None:
        """What is left of ``size``'s time budget, opening it on first use."""
        policy = self.engine.timeouts
        if policy is None:
            return None
        now = self.engine.clock.now()
        end = self._size_ends.get(size)
        if end is None and size not in self._size_ends:
            can_step_down = size_rank(size) > size_rank(self.request.sizes_allowed[-1])
            budget = policy.size_budget_s(self.remaining(), can_step_down=can_step_down)
            end = None if budget is None else now + budget
            self._size_ends[size] = end
        return None if end is None else end - now

    def _timeout_for(self, option: Option, remaining: float | None) -> float | None:
        engine = self.engine
        if engine.timeouts is None:
            return _min(engine.attempt_timeout_s, remaining)
        size_left = self._size_left(option.size)
        if size_left is None and remaining is not None and self._fallback_after(option):
            # The smallest size has no budget of its own, but another route may still
            # serve it: one hanging attempt must not take the whole deadline.
            size_left = remaining * engine.timeouts.fallback_share
        return engine.timeouts.timeout_s(
            window=engine.windows.get((option.route.name, option.size)),
            now=engine.clock.now(),
            remaining_s=remaining,
            size_left_s=size_left,
            cap_s=engine.attempt_timeout_s,
        )

    def _fallback_after(self, option: Option) -> bool:
        """Whether an option other than ``option`` is still left to try."""
        return any(
            o is not option and o.index not in self._dead_routes for o in self.options[self._pos :]
        )

    async def _call(
        self, flight: _Flight, timeout_s: float | None
    ) -> tuple[ProviderResponse | None, ImageGateError | None]:
        """The adapter's call under ``timeout_s``, in a task of its own: a call that ignores
        its cancellation is abandoned after `_ABANDON_GRACE_S` (`_stop_call`)."""
        engine, request = self.engine, self.request
        option = flight.option
        route, size = option.route, option.size
        call = ProviderRequest(
            prompt=request.prompt,
            model=route.model,
            size=size,
            aspect_ratio=request.aspect_ratio,
            n=request.n,
            seed=request.seed,
            timeout_s=timeout_s,
            request_id=self.request_id,
            options=route.options,
        )
        self.log.debug("attempt.start", route=route.name, size=size, timeout_s=timeout_s)
        task = asyncio.get_running_loop().create_task(self._invoke(option, call))
        try:
            async with move_on_after(engine.clock, timeout_s) as scope:
                await asyncio.wait((task,))
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                flight.abandoned = await self._stop_call(task, option)
            raise
        response: ProviderResponse | None = None
        error: ImageGateError | None = None
        if scope.cancelled_caught:
            flight.abandoned = await self._stop_call(task, option)
            error = DeadlineExceeded(
                f"attempt timed out after {timeout_s:g} s", route=route.name, size=size
            )
        elif task.cancelled():  # the adapter cancelled its own call
            error = UpstreamError(
                "adapter call was cancelled", route=route.name, size=size, retryable=False
            )
        else:
            response, error = task.result()
        self.log.debug(
            "attempt.end",
            route=route.name,
            size=size,
            ok=response is not None,
            error=type(error).__name__ if error else None,
            abandoned=flight.abandoned,
        )
        return response, error

    async def _invoke(
        self, option: Option, call: ProviderRequest
    ) -> tuple[ProviderResponse | None, ImageGateError | None]:
        """The adapter's answer, or what it raised or returned instead, as an error."""
        route, size = option.route, option.size
        try:
            answer: object = await self.engine.providers[option.index].generate(call)
        except ProviderError as exc:
            return None, detach(exc).bind(route=route.name, size=size)
        except ImageGateError as exc:
            return None, detach(exc)
        except Exception as exc:  # a buggy adapter must not take the request down
            # As text, never exc_info: renderers that show locals would reach the key.
            self.log.error(
                "attempt.adapter_bug", route=route.name, size=size,
                exception=render_traceback(exc),
            )  # fmt: skip
            return None, UpstreamError(
                f"adapter raised {type(exc).__name__}: {exc}",
                route=route.name,
                size=size,
                retryable=False,
            )
        error = _malformed(answer, route.name, size)
        if error is not None:
            self.log.error("attempt.adapter_bug", route=route.name, size=size, error=error.message)
            return None, error
        return answer, None  # type: ignore[return-value]  # checked by _malformed

    async def _stop_call(self, task: asyncio.Task[Any], option: Option) -> bool:
        """Cancel the adapter's call and give it `_ABANDON_GRACE_S` of clock time to end.
        True when it did not: the engine keeps the task (cancelled, never awaited) so the
        request can end at its deadline instead of when the adapter gives up."""
        if task.done():
            return False
        task.cancel()
        # Held from now on, however this wait ends: the loop keeps only weak references.
        self.engine.abandon(task)
        async with move_on_after(self.engine.clock, _ABANDON_GRACE_S):
            await asyncio.wait((task,))
        if task.done():
            return False
        self.log.warning(
            "attempt.abandoned",
            route=option.route.name,
            size=option.size,
            grace_s=_ABANDON_GRACE_S,
        )
        return True

    # -- after a failure -----------------------------------------------------------------

    def _absorb(self, landing: _Landing) -> None:
        flight = landing.flight
        option = flight.option
        where = f"{option.route.name}@{option.size}"
        if landing.attempt is None:
            self.skipped.append(f"{where}: {landing.skipped}")
            if landing.out_of_time:
                self._pos = len(self.options)
            return
        error = landing.attempt.error
        if isinstance(error, ContentBlocked) and error.stage == "prompt":
            if not self.engine.failover_on_blocked:
                self._blocked = True
            return
        if isinstance(error, InvalidRequestError):
            self._dead_routes.add(option.index)
            return
        if not flight.hedge and isinstance(error, ProviderError) and error.retryable:
            self._retry = (option, flight.number, error)

    # -- the answer ----------------------------------------------------------------------

    def _result(self, winner: _Landing) -> ImageResult:
        assert winner.response is not None
        option = winner.flight.option
        response = winner.response
        delivered = response.images[0].size
        downgraded = delivered is None or size_rank(delivered) < size_rank(self.request.size)
        if winner.flight.hedge:
            self.log.info("hedge.won", route=option.route.name, size=option.size)
        if downgraded:
            self.log.info(
                "downgrade",
                route=option.route.name,
                requested=self.request.size,
                delivered=delivered,
            )
        attempts = tuple(sorted(self.attempts, key=lambda a: a.started))
        return ImageResult(
            images=response.images,
            route=option.route.name,
            provider=option.route.provider,
            model=option.route.model,
            requested_size=self.request.size,
            size=delivered,
            downgraded=downgraded,
            attempts=attempts,
            cost_usd=sum(a.cost_usd for a in attempts),
            latency_s=self.engine.clock.now() - self.started,
            request_id=self.request_id,
            size_ignored=response.size_ignored or delivered != option.size,
            metadata=dict(response.metadata),
        )

    def _failure(self) -> AllRoutesFailed:
        attempts = sorted(self.attempts, key=lambda a: a.started)
        if self._blocked:
            reason = "the prompt was blocked"
        elif self._expired():
            reason = "deadline reached"
        elif attempts:
            reason = "every allowed option failed"
        else:
            reason = "no route could take the request"
        return AllRoutesFailed(
            f"{reason}: {len(attempts)} attempt(s)"
            + "".join(f"; {a.route}@{a.size}: {a.error or a.outcome}" for a in attempts)
            + "".join(f"; skipped {s}" for s in self.skipped),
            attempts=attempts,
            skipped=self.skipped,
        )


def _malformed(answer: object, route: str, size: Size) -> UpstreamError | None:
    """Why an adapter's answer is not a usable `ProviderResponse`, as the attempt's error
    (a plugin may hand back whatever its upstream sent); None when it is one. A cost that
    cannot be a price does not make the answer unusable: `_record` books the estimate."""
    problem: str | None = None
    if not isinstance(answer, ProviderResponse):
        problem = f"returned {type(answer).__name__}, not a ProviderResponse"
    elif not isinstance(answer.images, tuple | list) or not all(
        isinstance(image, GeneratedImage) for image in answer.images
    ):
        problem = "returned images that are not GeneratedImage objects"
    elif answer.billing not in _BILLINGS:
        problem = f"returned billing {_short(answer.billing)}"
    elif not isinstance(answer.metadata, Mapping):
        problem = f"returned metadata of type {type(answer.metadata).__name__}"
    if problem is None:
        return None
    # The call went through, so the provider may have charged for it.
    return UpstreamError(
        f"adapter {problem}", route=route, size=size, retryable=False, billing="possibly_billed"
    )


def _short(value: object) -> str:
    """``repr(value)`` cut to a length fit for a message (the value came from upstream)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_response(
    response: ProviderResponse, request: ImageRequest, route: str, size: Size
) -> ProviderError | None:
    """An empty answer, or an image too small for the request, is a (billed) failure."""
    if not response.images:
        return NoImageReturned("provider answered without an image", route=route, size=size)
    delivered = response.images[0].size
    floor = request.sizes_allowed[-1]
    if delivered is None or size_rank(delivered) < size_rank(floor):
        image = response.images[0]
        return NoImageReturned(
            f"delivered {image.width}x{image.height} ({delivered or 'below 1K'}), "
            f"smaller than the smallest acceptable tier {floor}",
            route=route,
            size=size,
            retryable=False,
        )
    return None


def _record(
    flight: _Flight,
    started: float,
    ended: float,
    response: ProviderResponse | None,
    error: ImageGateError | None,
    estimate: float,
    asked: int,
) -> Attempt:
    route, size = flight.option.route.name, flight.option.size
    if response is not None:
        cost, rejected = estimate, False
        if response.cost_usd is not None:
            # A provider's answer is a third party's word: a NaN, infinite or negative
            # cost would turn the budget cap off or block it for good.
            # Per image asked for: a body with a thousand images must not raise the ceiling.
            rejected = not plausible_cost(response.cost_usd, asked)
            cost = estimate if rejected else float(response.cost_usd)
        return Attempt(
            route, size, started, ended, "success", None, response.billing, cost,
            hedge=flight.hedge, delivered_size=response.images[0].size, number=flight.number,
            cost_rejected=rejected,
        )  # fmt: skip
    billing = error.billing if isinstance(error, ProviderError) else "not_billed"
    outcome: Outcome = (
        "timeout" if isinstance(error, DeadlineExceeded) and error.status is None else "error"
    )
    cost = estimate if billing != "not_billed" else 0.0
    return Attempt(
        route, size, started, ended, outcome, error, billing, cost,
        hedge=flight.hedge, number=flight.number, abandoned=flight.abandoned,
    )  # fmt: skip


def _is_evidence(error: ImageGateError | None) -> bool:
    """Whether an outcome says something about the option's health (a refusal does not)."""
    return not isinstance(error, ContentBlocked | InvalidRequestError)


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
