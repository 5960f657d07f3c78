"""`RetryBudgetGuard`: the router's `RetryBudget`, shared by retries and hedges, as a guard.

Every first attempt of a request deposits a fraction of a token (once through the gate,
so an attempt that was refused adds nothing); every retry and every hedge withdraws a
whole one. With the bucket empty, a failed option is not retried (the request moves on
down its ladder) and a slow attempt is not hedged, so an outage is not amplified.
"""

from __future__ import annotations

from imagegate.guards._guard import Guard
from imagegate.guards._views import FlightView, RunView
from imagegate.resilience.budget import ExtraKind

__all__ = ["RetryBudgetGuard"]


class RetryBudgetGuard(Guard):
    """Pays for retries and hedges from the tokens that first attempts deposit."""

    __slots__ = ()

    def spend(self, kind: ExtraKind, run: RunView) -> str | None:
        """Withdraw a token for a retry or a hedge; ``"retry budget"`` when none is left."""
        return None if run.engine.budget.try_withdraw(kind) else "retry budget"

    def passed(self, flight: FlightView) -> None:
        """A request's first attempt deposits its share."""
        if flight.number == 1 and not flight.hedge:
            flight.run.engine.budget.deposit()
