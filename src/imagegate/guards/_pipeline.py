"""`GuardPipeline`: the guards of an engine, each hook run on all of them in order.

A guard is asked only for the hooks it overrides (the pipeline sorts them out once), so
a no-op hook costs a request nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from imagegate._plan import Option
from imagegate._result import Attempt
from imagegate.guards._booking import Booked, Booking, GateRefusal, book, book_now
from imagegate.guards._guard import Check, Guard
from imagegate.guards._views import FlightView, RunView
from imagegate.resilience.budget import ExtraKind

__all__ = ["GuardPipeline"]

_Settle = Callable[[FlightView, Any, Attempt], Awaitable[None] | None]
"""A guard's settlement: done at once (None), or what is left of it to await."""


def _overriding(guards: tuple[Guard, ...], hook: str) -> tuple[tuple[int, Guard], ...]:
    """``(position, guard)`` of the guards whose class overrides ``hook``."""
    default = getattr(Guard, hook)
    return tuple((i, g) for i, g in enumerate(guards) if getattr(type(g), hook) is not default)


def _settler(guard: Guard) -> _Settle:
    """``guard``'s `_settle_now` (a built-in guard's settlement without a coroutine when
    nothing waits), unless its class overrides `Guard.settle` below the class that
    defines it: then its own `settle`."""
    settle_now: _Settle | None = getattr(guard, "_settle_now", None)
    if settle_now is None:
        return guard.settle
    owner = next(c for c in type(guard).__mro__ if "_settle_now" in vars(c))
    return settle_now if type(guard).settle is getattr(owner, "settle", None) else guard.settle


class GuardPipeline:
    """Runs each `Guard` hook on every guard, in order (`release` in reverse).

    Args:
        guards: The guards, in the order they are asked.
        local: Whether no hook ever waits: every guard keeps its state in this process
            (the built-in guards on a `MemoryState`), so the gate and the settlement
            need no shield from cancellation, having no point where one could land.
    """

    __slots__ = (
        "_book",
        "_land",
        "_launch",
        "_open",
        "_passed",
        "_peek",
        "_release",
        "_settle",
        "_settle_now",
        "_spend",
        "guards",
        "local",
    )

    def __init__(self, guards: Sequence[Guard], *, local: bool = False) -> None:
        self.guards = tuple(guards)
        self.local = local
        hooks = {
            hook: _overriding(self.guards, hook)
            for hook in ("open", "peek", "spend", "launch", "book", "passed", "settle", "land")
        }
        self._open = [g.open for _, g in hooks["open"]]
        self._peek = [g.peek for _, g in hooks["peek"]]
        self._spend = [g.spend for _, g in hooks["spend"]]
        self._launch = [g.launch for _, g in hooks["launch"]]
        self._book = hooks["book"]
        self._passed = [g.passed for _, g in hooks["passed"]]
        self._settle = hooks["settle"]
        # A built-in guard settles at once what lives in this process (`settle_now`).
        self._settle_now: tuple[tuple[int, _Settle], ...] = tuple(
            (i, _settler(g)) for i, g in self._settle
        )
        self._release = tuple(reversed(_overriding(self.guards, "release")))
        self._land = [g.land for _, g in hooks["land"]]

    def open(self, run: RunView) -> None:
        """A request starts."""
        for hook in self._open:
            hook(run)

    def peek(self, option: Option, run: RunView) -> str | None:
        """The first guard's reason not to try ``option`` now, or None."""
        check = Check(option, run)
        for hook in self._peek:
            reason: str | None = hook(check)
            if reason is not None:
                return reason
        return None

    def spend(self, kind: ExtraKind, run: RunView) -> str | None:
        """Pay for a retry or a hedge; the first guard's refusal, or None."""
        for hook in self._spend:
            reason: str | None = hook(kind, run)
            if reason is not None:
                return reason
        return None

    def launch(self, flight: FlightView, hedging: FlightView | None) -> None:
        """``flight`` is launched (``hedging``: the slow attempt it hedges)."""
        for hook in self._launch:
            hook(flight, hedging)

    async def book(self, flight: FlightView) -> Booked | GateRefusal:
        """Every guard's booking for ``flight`` in one round trip; what was booked (a
        result per guard, None for a guard that books nothing), or the refusal."""
        positions, bookings = self._bookings(flight)
        return self._by_guard(positions, await book(bookings, clock=flight.run.engine.clock))

    def book_now(self, flight: FlightView) -> Booked | GateRefusal | None:
        """`book` at once, when every booking's state is in this process (as on a `local`
        pipeline); None, with nothing booked, when one is not."""
        positions, bookings = self._bookings(flight)
        booked = book_now(bookings, clock=flight.run.engine.clock)
        return None if booked is None else self._by_guard(positions, booked)

    def _bookings(self, flight: FlightView) -> tuple[list[int], list[Booking[Any]]]:
        """The guards' bookings for ``flight``, and each one's guard's position."""
        positions: list[int] = []
        bookings: list[Booking[Any]] = []
        for i, guard in self._book:
            booking = guard.book(flight)
            if booking is not None:
                positions.append(i)
                bookings.append(booking)
        return positions, bookings

    def _by_guard(self, positions: list[int], booked: Booked | GateRefusal) -> Booked | GateRefusal:
        """``booked`` with a result per guard (None for a guard that booked nothing)."""
        if isinstance(booked, GateRefusal):
            return booked
        taken: list[Any] = [None] * len(self.guards)
        for i, result in zip(positions, booked.results, strict=True):
            taken[i] = result
        booked.results = taken
        return booked

    def passed(self, flight: FlightView) -> None:
        """``flight`` is through the gate and its wait."""
        for hook in self._passed:
            hook(flight)

    async def settle(self, flight: FlightView, attempt: Attempt) -> None:
        """``flight``'s call ended as ``attempt`` records."""
        pending = self.settle_now(flight, attempt)
        if pending is not None:
            await pending

    def settle_now(self, flight: FlightView, attempt: Attempt) -> Awaitable[None] | None:
        """`settle`, as far as it goes without waiting: the built-in guards settle at once
        what lives in this process; from the first guard whose settlement waits (a shared
        state's round trip, or a guard of another kind), what is left to await, in order.
        None when everything is settled."""
        taken = flight.taken
        assert taken is not None
        for position, (i, settle) in enumerate(self._settle_now):
            pending = settle(flight, taken[i], attempt)
            if pending is not None:
                return self._settle_rest(pending, position + 1, flight, attempt)
        return None

    async def _settle_rest(
        self, pending: Awaitable[None], start: int, flight: FlightView, attempt: Attempt
    ) -> None:
        await pending
        taken = flight.taken
        assert taken is not None
        for i, guard in self._settle[start:]:
            await guard.settle(flight, taken[i], attempt)

    async def release(
        self, flight: FlightView, attempt: Attempt | None, *, cancelled: bool
    ) -> None:
        """``flight`` ended without a settled call: hand back what it booked."""
        taken = flight.taken
        assert taken is not None
        for i, guard in self._release:
            await guard.release(flight, taken[i], attempt, cancelled=cancelled)

    def land(self, flight: FlightView) -> None:
        """``flight`` landed."""
        for hook in self._land:
            hook(flight)

    def __repr__(self) -> str:
        return f"GuardPipeline({', '.join(map(repr, self.guards))})"
