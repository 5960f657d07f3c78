"""`Dispatcher`: a global ``max_in_flight`` limit plus per-route concurrency limits.

Every attempt holds one slot while it runs::

    async with dispatcher.slot(route, timeout_s=remaining_s):
        ...  # the attempt

Fairness. Waiters are served in arrival order, with one exception that prevents
head-of-line blocking: a waiter whose *route* is full is passed over (keeping its place)
while a later waiter for another route can run on a free global slot. So:

- within a route, slots go strictly first come, first served;
- across routes, the earliest waiter that *can* run gets the next free slot;
- nobody starves: a passed-over waiter is first in line the moment its route frees a
  slot, and it only waits behind earlier arrivals.

A grant is booked at the moment a slot frees (not when the waiting task wakes up), so a
new arrival never jumps ahead of an eligible waiter, and a waiter cancelled after its
grant hands the slot straight back.

Queueing time counts against the request's deadline: pass what is left of it as
``timeout_s``; when it runs out first, `DispatchTimeout` is raised and nothing is held.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from types import MappingProxyType

from imagegate.resilience.clock import Clock, LoopClock, move_on_after

__all__ = [
    "DispatchTimeout",
    "Dispatcher",
    "DispatcherStatistics",
    "RouteSlotStatistics",
    "Slot",
]


class DispatchTimeout(TimeoutError):
    """No slot became free within ``timeout_s``; nothing is held.

    Attributes:
        route: The route the slot was wanted for.
        waited_s: How long the caller queued (clock seconds).
    """

    def __init__(self, route: str, waited_s: float) -> None:
        self.route = route
        self.waited_s = waited_s
        super().__init__(f"no dispatch slot for {route} within {waited_s:g} s")


@dataclass(frozen=True, slots=True)
class RouteSlotStatistics:
    """One route's share of the dispatcher.

    Attributes:
        limit: Its concurrency limit, or None (only the global limit applies).
        in_flight: Slots it holds.
        waiting: Its callers queued.
    """

    limit: int | None
    in_flight: int
    waiting: int


@dataclass(frozen=True, slots=True)
class DispatcherStatistics:
    """A snapshot of a `Dispatcher`.

    Attributes:
        max_in_flight: The global limit.
        in_flight: Slots held, all routes together.
        waiting: Callers queued, all routes together.
        granted_total: Slots handed out since creation.
        timed_out_total: Callers whose ``timeout_s`` ran out while queued.
        routes: Per route (every route that has a limit or was ever used).
    """

    max_in_flight: int
    in_flight: int
    waiting: int
    granted_total: int
    timed_out_total: int
    routes: Mapping[str, RouteSlotStatistics]


class Slot:
    """A held dispatcher slot. `release` it exactly once (extra calls are no-ops).

    Attributes:
        route: The route it was granted for.
        acquired_at: Clock time of the grant.
    """

    __slots__ = ("_dispatcher", "_released", "acquired_at", "route")

    def __init__(self, dispatcher: Dispatcher, route: str, acquired_at: float) -> None:
        self._dispatcher = dispatcher
        self._released = False
        self.route = route
        self.acquired_at = acquired_at

    @property
    def released(self) -> bool:
        """Whether the slot was given back."""
        return self._released

    def release(self) -> None:
        """Give the slot back (idempotent) and hand it to the next eligible waiter."""
        if not self._released:
            self._released = True
            self._dispatcher._release(self.route)

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"Slot({self.route!r}, {state}, acquired_at={self.acquired_at!r})"


class _Waiter:
    __slots__ = ("future", "granted", "route")

    def __init__(self, route: str, future: asyncio.Future[None]) -> None:
        self.route = route
        self.future = future
        self.granted = False


class Dispatcher:
    """Bounds concurrent attempts globally and per route, first come, first served.

    Args:
        max_in_flight: Most attempts in flight across all routes.
        route_limits: Most attempts in flight per route name; routes not listed are only
            bounded by ``max_in_flight``.
        clock: Where time comes from (timeouts and ``acquired_at``).

    Raises:
        ValueError: for a limit below 1.
    """

    __slots__ = (
        "_clock",
        "_granted_total",
        "_in_flight",
        "_limits",
        "_max",
        "_route_in_flight",
        "_timed_out_total",
        "_waiters",
    )

    def __init__(
        self,
        *,
        max_in_flight: int = 16,
        route_limits: Mapping[str, int] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight!r}")
        limits = dict(route_limits or {})
        for route, limit in limits.items():
            if limit < 1:
                raise ValueError(f"route limit for {route!r} must be at least 1, got {limit!r}")
        self._max = max_in_flight
        self._limits = limits
        self._clock: Clock = clock or LoopClock()
        self._in_flight = 0
        self._route_in_flight: dict[str, int] = {}
        self._waiters: deque[_Waiter] = deque()
        self._granted_total = 0
        self._timed_out_total = 0

    @asynccontextmanager
    async def slot(self, route: str, *, timeout_s: float | None = None) -> AsyncIterator[Slot]:
        """Hold a slot for ``route`` for the body of an ``async with``.

        Args:
            route: The route name the attempt goes to.
            timeout_s: The longest to queue (what is left of the deadline); None waits
                as long as it takes.

        Raises:
            DispatchTimeout: ``timeout_s`` ran out before a slot was free.
        """
        held = await self.acquire(route, timeout_s=timeout_s)
        try:
            yield held
        finally:
            held.release()

    def acquire_now(self, route: str) -> Slot | None:
        """A slot for ``route`` if one is free right now (the caller must `Slot.release`
        it), else None, with nothing queued: `acquire` without a coroutine when nothing
        would wait."""
        if self._free_for(route):
            # By the invariant below, no queued waiter is eligible, so taking it is fair.
            self._book(route)
            return Slot(self, route, self._clock.now())
        return None

    async def acquire(self, route: str, *, timeout_s: float | None = None) -> Slot:
        """Wait for a slot for ``route``; the caller must `Slot.release` it.

        Cancellation-safe: cancelled while queued, the caller leaves the queue; cancelled
        after the grant but before waking, the slot is handed back.

        Args:
            route: The route name the attempt goes to.
            timeout_s: The longest to queue; ``<= 0`` means "only if free right now".

        Raises:
            DispatchTimeout: ``timeout_s`` ran out before a slot was free.
        """
        slot = self.acquire_now(route)
        if slot is not None:
            return slot
        started = self._clock.now()
        if timeout_s is not None and timeout_s <= 0:
            self._timed_out_total += 1
            raise DispatchTimeout(route, 0.0)
        waiter = _Waiter(route, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with move_on_after(self._clock, timeout_s):
                await waiter.future
        except BaseException:
            self._abandon(waiter)
            raise
        if not waiter.granted:  # the timeout won
            self._abandon(waiter)
            self._timed_out_total += 1
            raise DispatchTimeout(route, self._clock.now() - started)
        return Slot(self, route, self._clock.now())

    # Invariant: after every public call returns, no queued waiter could be granted
    # (either the global limit is reached or its route is full).

    def _free_for(self, route: str) -> bool:
        if self._in_flight >= self._max:
            return False
        limit = self._limits.get(route)
        return limit is None or self._route_in_flight.get(route, 0) < limit

    def _book(self, route: str) -> None:
        self._in_flight += 1
        self._route_in_flight[route] = self._route_in_flight.get(route, 0) + 1
        self._granted_total += 1

    def _release(self, route: str) -> None:
        self._in_flight -= 1
        self._route_in_flight[route] -= 1
        self._wake()

    def _wake(self) -> None:
        """Grant free slots to queued waiters in arrival order, passing over full routes."""
        if not self._waiters or self._in_flight >= self._max:
            return
        keep: deque[_Waiter] = deque()
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.future.done():  # cancelled, already leaving
                continue
            if self._in_flight < self._max and self._free_for(waiter.route):
                self._book(waiter.route)
                waiter.granted = True
                waiter.future.set_result(None)
            else:
                keep.append(waiter)
        self._waiters = keep

    def _abandon(self, waiter: _Waiter) -> None:
        """Undo a wait that ends without a slot being handed to the caller."""
        if waiter.granted:
            waiter.granted = False
            self._release(waiter.route)
            return
        with suppress(ValueError):  # already taken off the queue by `_wake`
            self._waiters.remove(waiter)

    def statistics(self) -> DispatcherStatistics:
        """Slots held and callers queued, globally and per route."""
        waiting: dict[str, int] = {}
        for waiter in self._waiters:
            waiting[waiter.route] = waiting.get(waiter.route, 0) + 1
        names = sorted(set(self._limits) | set(self._route_in_flight) | set(waiting))
        routes = {
            name: RouteSlotStatistics(
                limit=self._limits.get(name),
                in_flight=self._route_in_flight.get(name, 0),
                waiting=waiting.get(name, 0),
            )
            for name in names
        }
        return DispatcherStatistics(
            max_in_flight=self._max,
            in_flight=self._in_flight,
            waiting=len(self._waiters),
            granted_total=self._granted_total,
            timed_out_total=self._timed_out_total,
            routes=MappingProxyType(routes),
        )

    def __repr__(self) -> str:
        return (
            f"Dispatcher(in_flight={self._in_flight}/{self._max}, "
            f"waiting={len(self._waiters)}, route_limits={self._limits!r})"
        )
