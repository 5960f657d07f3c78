"""`LedgerGuard`: the router's `CostLedger` and its budget cap, as a guard.

An attempt reserves its catalogue price at the gate; a reservation that would cross the
cap is refused with the `BudgetExceeded` that ends the request. After the call the
reservation is settled at what the attempt cost (billed or possibly billed), or handed
back without a trace when the attempt never reached its call (cancelled, or out of time).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from imagegate._result import Attempt
from imagegate.errors import BudgetExceeded
from imagegate.guards._booking import Booking, GateRefusal, keep_booking, kept_booking
from imagegate.guards._guard import Guard
from imagegate.guards._views import FlightView
from imagegate.resilience.ledger import CostLedger, Reservation
from imagegate.state import Step

__all__ = ["LedgerGuard", "budget_booking"]


def budget_booking(
    ledger: CostLedger,
    estimate_usd: float,
    *,
    route: str,
    size: str,
    kept: dict[int, Any] | None = None,
) -> Booking[Reservation | BudgetExceeded]:
    """A reservation of ``estimate_usd`` on ``ledger`` as a booking at the gate
    (refused with the `BudgetExceeded` when it would cross the cap); the same booking
    every time the ledger hands out the same step, when ``kept`` keeps it
    (`kept_booking`)."""
    step = ledger.reserve_step(estimate_usd, route=route, size=size)
    booking = None if kept is None else kept_booking(kept, step)
    if booking is not None:
        return booking

    def undo(result: Reservation | BudgetExceeded) -> Step[None]:
        assert isinstance(result, Reservation)
        return ledger.unreserve_step(result)

    booking = Booking(step, _refusal, undo)
    return booking if kept is None else keep_booking(kept, booking)


def _refusal(result: Reservation | BudgetExceeded) -> GateRefusal | None:
    if isinstance(result, BudgetExceeded):
        return GateRefusal("budget cap reached", result)
    return None


class LedgerGuard(Guard):
    """Reserves each attempt's price under the cap; settles it at what it cost."""

    __slots__ = ()

    def book(self, flight: FlightView) -> Booking[Any]:
        """A reservation of the attempt's catalogue price."""
        option, engine = flight.option, flight.run.engine
        return budget_booking(
            engine.ledger,
            flight.estimate_usd,
            route=option.route.name,
            size=option.size,
            kept=engine.kept_bookings,
        )

    async def settle(self, flight: FlightView, taken: Any, attempt: Attempt) -> None:
        """Settle the reservation at the attempt's cost and billing."""
        await flight.run.engine.ledger.settle(taken, attempt.cost_usd, attempt.billing)

    def _settle_now(
        self, flight: FlightView, taken: Any, attempt: Attempt
    ) -> Awaitable[None] | None:
        """`settle`, done at once when the ledger lives in this process (None); else what
        is left to await (`GuardPipeline.settle_now`)."""
        return flight.run.engine.ledger.settle_now(taken, attempt.cost_usd, attempt.billing)

    async def release(
        self, flight: FlightView, taken: Any, attempt: Attempt | None, *, cancelled: bool
    ) -> None:
        """Cancelled during the call: settle as recorded (possibly billed); cancelled or
        out of time before it: take the reservation back (no attempt was made)."""
        ledger = flight.run.engine.ledger
        if attempt is not None:
            await ledger.settle(taken, attempt.cost_usd, attempt.billing)
        else:
            await ledger.unreserve(taken)
