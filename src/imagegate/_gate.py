"""The built-in gate for one breaker, one rate limiter and one ledger, in one call.

The engine runs these bookings through its guard pipeline (`imagegate.guards`: the
breaker permit, the rate limit booking and the budget reservation, in one round trip to
shared state, handing back what the others took when one refuses). `pass_gate` takes the
same three bookings, the same way, for primitives given directly (the shared-state
tests and the Redis latency benchmark measure it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagegate.guards import GateRefusal, book, budget_booking, permit_booking, rate_booking
from imagegate.guards._booking import Booking
from imagegate.resilience.breaker import BreakerPermit, CircuitBreaker
from imagegate.resilience.clock import Clock
from imagegate.resilience.ledger import CostLedger, Reservation
from imagegate.resilience.ratelimit import RateBooking, RateLimiter

__all__ = ["GatePass", "GateRefusal", "pass_gate"]


@dataclass(frozen=True, slots=True)
class GatePass:
    """Everything an attempt holds once through the gate.

    Attributes:
        permit: The breaker permit (report it once the call ends).
        reservation: The budget reservation (settle it once the call ends).
        booking: The rate limit booking, or None without a rate limit.
    """

    permit: BreakerPermit
    reservation: Reservation
    booking: RateBooking | None

    @property
    def wait_s(self) -> float:
        """Seconds to wait before the call, for the rate limit."""
        return 0.0 if self.booking is None else self.booking.wait_s


async def pass_gate(
    breaker: CircuitBreaker,
    limiter: RateLimiter | None,
    ledger: CostLedger,
    *,
    n: int,
    max_wait_s: float | None,
    estimate_usd: float,
    route: str,
    size: str,
    clock: Clock,
) -> GatePass | GateRefusal:
    """Take the permit, the booking and the reservation together (see the module
    docstring); on a refusal, hand back whatever was taken."""
    bookings: list[Booking[Any]] = [permit_booking(breaker)]
    if limiter is not None:
        bookings.append(rate_booking(limiter, n, max_wait_s=max_wait_s))
    bookings.append(budget_booking(ledger, estimate_usd, route=route, size=size))
    booked = await book(bookings, clock=clock)
    if isinstance(booked, GateRefusal):
        return booked
    results = booked.results
    return GatePass(results[0], results[-1], results[1] if limiter is not None else None)
