"""`GuardPipeline`: the guards of one request, each hook run on all of them in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from imagegate._plan import Option
from imagegate._result import Attempt
from imagegate.guards._booking import Booked, Booking, GateRefusal, book
from imagegate.guards._guard import Check, Guard
from imagegate.resilience.budget import ExtraKind

if TYPE_CHECKING:
    from imagegate._flight import Flight
    from imagegate._run import RequestRun

__all__ = ["GuardPipeline"]


class GuardPipeline:
    """Runs each `Guard` hook on every guard, in order (`release` in reverse).

    Args:
        guards: The guards, in the order they are asked.
    """

    __slots__ = ("guards",)

    def __init__(self, guards: Sequence[Guard]) -> None:
        self.guards = tuple(guards)

    def open(self, run: RequestRun) -> None:
        """A request starts."""
        for guard in self.guards:
            guard.open(run)

    def peek(self, option: Option, run: RequestRun) -> str | None:
        """The first guard's reason not to try ``option`` now, or None."""
        check = Check(option, run)
        for guard in self.guards:
            reason = guard.peek(check)
            if reason is not None:
                return reason
        return None

    def spend(self, kind: ExtraKind, run: RequestRun) -> str | None:
        """Pay for a retry or a hedge; the first guard's refusal, or None."""
        for guard in self.guards:
            reason = guard.spend(kind, run)
            if reason is not None:
                return reason
        return None

    def launch(self, flight: Flight, hedging: Flight | None) -> None:
        """``flight`` is launched (``hedging``: the slow attempt it hedges)."""
        for guard in self.guards:
            guard.launch(flight, hedging)

    async def book(self, flight: Flight) -> Booked | GateRefusal:
        """Every guard's booking for ``flight`` in one round trip; what was booked (a
        result per guard, None for a guard that books nothing), or the refusal."""
        bookings = [guard.book(flight) for guard in self.guards]
        given: list[Booking[Any]] = [b for b in bookings if b is not None]
        booked = await book(given, clock=flight.run.engine.clock)
        if isinstance(booked, GateRefusal):
            return booked
        results = iter(booked.results)
        return Booked([None if b is None else next(results) for b in bookings], booked.wait_s)

    def passed(self, flight: Flight) -> None:
        """``flight`` is through the gate and its wait."""
        for guard in self.guards:
            guard.passed(flight)

    async def settle(self, flight: Flight, attempt: Attempt) -> None:
        """``flight``'s call ended as ``attempt`` records."""
        assert flight.taken is not None
        for guard, taken in zip(self.guards, flight.taken, strict=True):
            await guard.settle(flight, taken, attempt)

    async def release(self, flight: Flight, attempt: Attempt | None, *, cancelled: bool) -> None:
        """``flight`` ended without a settled call: hand back what it booked."""
        assert flight.taken is not None
        for guard, taken in reversed(tuple(zip(self.guards, flight.taken, strict=True))):
            await guard.release(flight, taken, attempt, cancelled=cancelled)

    def land(self, flight: Flight) -> None:
        """``flight`` landed."""
        for guard in self.guards:
            guard.land(flight)

    def __repr__(self) -> str:
        return f"GuardPipeline({', '.join(map(repr, self.guards))})"
