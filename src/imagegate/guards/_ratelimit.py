"""`RateLimitGuard`: the route's `RateLimiter` (RPM, IPM, RPD, spacing), as a guard.

An option whose quota leaves no room before the deadline is skipped; an attempt books its
start at the gate and waits for it (a booking whose wait would not fit in the deadline is
refused). A booking stays used once the attempt gave up after it.
"""

from __future__ import annotations

from typing import Any

from imagegate.guards._booking import Booking, GateRefusal
from imagegate.guards._guard import Check, Guard
from imagegate.guards._views import FlightView
from imagegate.resilience.ratelimit import RateBooking, RateLimiter
from imagegate.state import Step

__all__ = ["RateLimitGuard", "rate_booking"]

_REFUSED = GateRefusal("rate limit or quota leaves no room")


def rate_booking(
    limiter: RateLimiter, n: int, *, max_wait_s: float | None
) -> Booking[RateBooking | None]:
    """A start of ``n`` images on ``limiter`` as a booking at the gate (refused when
    its wait would exceed ``max_wait_s``); its wait is the booking's."""

    def undo(booking: RateBooking | None) -> Step[bool]:
        assert booking is not None
        return limiter.unreserve_step(booking)

    return Booking(limiter.reserve_step(n, max_wait_s=max_wait_s), _refusal, undo, _wait_s)


def _refusal(booking: RateBooking | None) -> GateRefusal | None:
    return _REFUSED if booking is None else None


def _wait_s(booking: RateBooking | None) -> float:
    return 0.0 if booking is None else booking.wait_s


class RateLimitGuard(Guard):
    """Skips an option whose quota has no room before the deadline; books the start."""

    __slots__ = ()

    def peek(self, check: Check) -> str | None:
        """``"rate limit or quota leaves no room before the deadline"``, or None."""
        limiter = check.engine.limiters[check.option.index]
        if limiter is None:
            return None
        remaining = check.remaining_s()
        min_attempt_s = check.engine.retry.min_attempt_s
        max_wait = None if remaining is None else max(0.0, remaining - min_attempt_s)
        if limiter.estimate_wait_s(check.request.n, max_wait_s=max_wait) is None:
            return "rate limit or quota leaves no room before the deadline"
        return None

    def book(self, flight: FlightView) -> Booking[Any] | None:
        """The attempt's start on the route's quota, if the route has a rate limit."""
        run = flight.run
        limiter = run.engine.limiters[flight.option.index]
        if limiter is None:
            return None
        remaining = run.time.remaining()
        max_wait = None if remaining is None else remaining - run.engine.retry.min_attempt_s
        return rate_booking(limiter, run.request.n, max_wait_s=max_wait)
