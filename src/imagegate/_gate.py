"""The gate every attempt passes once it holds its dispatcher slot: the breaker permit,
the rate limit booking and the budget reservation, taken in one step.

The three are `Step`s applied together (`imagegate.state.apply_steps`): one
``apply_many`` on the router's backend, so one round trip to Redis instead of three. Each
operation stays atomic on its own, so one of them may refuse while the others book. The
gate then hands back what the others took, in one more step::

    breaker refused        → unreserve the rate booking and the budget reservation
    rate limit refused     → release the permit, unreserve the budget reservation
    budget refused         → release the permit, unreserve the rate booking

When several refuse, the first in that order is the reason (a breaker that is open says
more about the option than its quota does). Undone bookings leave no trace: the budget
records no attempt, and the rate limit gets its slot back unless another booking came
after it (`RateLimiter.unreserve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagegate.errors import BudgetExceeded
from imagegate.resilience.breaker import BreakerPermit, CircuitBreaker
from imagegate.resilience.clock import Clock
from imagegate.resilience.ledger import CostLedger, Reservation
from imagegate.resilience.ratelimit import RateBooking, RateLimiter
from imagegate.state import Step, apply_steps

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


@dataclass(frozen=True, slots=True)
class GateRefusal:
    """Why the gate refused (nothing is held).

    Attributes:
        reason: What to list among the skipped options.
        error: The `BudgetExceeded` that ends the request, when the budget refused.
    """

    reason: str
    error: BudgetExceeded | None = None


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
    steps: list[Step[Any]] = [
        breaker.acquire_step(),
        ledger.reserve_step(estimate_usd, route=route, size=size),
    ]
    if limiter is not None:
        steps.append(limiter.reserve_step(n, max_wait_s=max_wait_s))
    results = await apply_steps(steps, now=clock.now())
    permit: BreakerPermit | None = results[0]
    reserved: Reservation | BudgetExceeded = results[1]
    booking: RateBooking | None = results[2] if limiter is not None else None
    rate_ok = limiter is None or booking is not None
    if permit is not None and rate_ok and isinstance(reserved, Reservation):
        return GatePass(permit, reserved, booking)
    undo: list[Step[Any]] = []
    if permit is not None:
        undo.append(breaker.release_step(permit))
    if isinstance(reserved, Reservation):
        undo.append(ledger.unreserve_step(reserved))
    if limiter is not None and booking is not None:
        undo.append(limiter.unreserve_step(booking))
    await apply_steps(undo, now=clock.now())
    if permit is None:
        return GateRefusal("breaker open")
    if not rate_ok:
        return GateRefusal("rate limit or quota leaves no room")
    assert isinstance(reserved, BudgetExceeded)
    return GateRefusal("budget cap reached", reserved)
