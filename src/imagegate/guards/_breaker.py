"""`BreakerGuard`: the (route, size) circuit breaker, as a guard.

An option whose breaker is open is skipped; an attempt takes a permit at the gate (a
half-open breaker hands out only its probes), reports its outcome after the call, and
frees the permit without evidence when it never made the call or was cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from imagegate._result import Attempt
from imagegate.guards._booking import Booking, GateRefusal, keep_booking, kept_booking
from imagegate.guards._guard import Check, Guard
from imagegate.guards._views import FlightView
from imagegate.resilience.breaker import BreakerPermit, CircuitBreaker
from imagegate.state import Step

__all__ = ["BreakerGuard", "permit_booking"]

_REASON = "breaker open"
_REFUSED = GateRefusal(_REASON)


def permit_booking(
    breaker: CircuitBreaker, kept: dict[int, Any] | None = None
) -> Booking[BreakerPermit | None]:
    """A permit of ``breaker``, as a booking at the gate (refused while it is open); the
    same booking every time while the breaker's step is, when ``kept`` keeps it
    (`kept_booking`)."""
    step = breaker.acquire_step()
    booking = None if kept is None else kept_booking(kept, step)
    if booking is not None:
        return booking

    def undo(permit: BreakerPermit | None) -> Step[None]:
        assert permit is not None
        return breaker.release_step(permit)

    booking = Booking(step, _refusal, undo)
    return booking if kept is None else keep_booking(kept, booking)


def _refusal(permit: BreakerPermit | None) -> GateRefusal | None:
    return _REFUSED if permit is None else None


class BreakerGuard(Guard):
    """Skips an option while its breaker is open; books a permit; reports the outcome."""

    __slots__ = ()

    def peek(self, check: Check) -> str | None:
        """``"breaker open"`` while the option's breaker lets nothing through."""
        option = check.option
        return (
            None if check.engine.breakers.get(option.route.name, option.size).allow() else _REASON
        )

    def book(self, flight: FlightView) -> Booking[Any]:
        """A permit of the option's breaker."""
        return permit_booking(_breaker(flight), flight.run.engine.kept_bookings)

    async def settle(self, flight: FlightView, taken: Any, attempt: Attempt) -> None:
        """Report the call's outcome and duration to the breaker."""
        pending = self._settle_now(flight, taken, attempt)
        if pending is not None:
            await pending

    def _settle_now(
        self, flight: FlightView, taken: Any, attempt: Attempt
    ) -> Awaitable[None] | None:
        """`settle`, done at once when the breaker lives in this process (None); else
        what is left to await (`GuardPipeline.settle_now`)."""
        error = None if attempt.outcome == "success" else attempt.error
        assert error is not None or attempt.outcome == "success"
        return _breaker(flight).record(taken, error, duration_s=attempt.duration_s)

    async def release(
        self, flight: FlightView, taken: Any, attempt: Attempt | None, *, cancelled: bool
    ) -> None:
        """Free the permit without evidence."""
        await _breaker(flight).release(taken)


def _breaker(flight: FlightView) -> CircuitBreaker:
    option = flight.option
    return flight.run.engine.breakers.get(option.route.name, option.size)
