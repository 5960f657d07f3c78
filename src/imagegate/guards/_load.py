"""`LoadBudgetGuard`: the router's `LoadBudget` (upstream attempts per request), as a guard.

Every request adds its share to the budget; every attempt after a request's first spends
from it, and each attempt holds its expected extra attempts (``1 - estimate``) from launch
to landing. While a smaller size is allowed, an option whose expected extra attempts the
balance cannot afford is skipped, so the request steps down instead. The budget is only
consulted with admission on (it comes with ``AdmissionPolicy.max_attempts_per_request``).

A hedge is not gated by the budget: it is the fallback its slow attempt was expected to
need, so it takes over that attempt's commitment; what a hedge costs shows in the balance
and so in later admissions.
"""

from __future__ import annotations

from imagegate.guards._guard import Check, Guard
from imagegate.guards._views import FlightView, RunView

__all__ = ["LoadBudgetGuard"]


class LoadBudgetGuard(Guard):
    """Keeps the average upstream attempts per request near the router's target."""

    __slots__ = ()

    def open(self, run: RunView) -> None:
        """Add the request's share to the budget."""
        if run.engine.load is not None:
            run.engine.load.open_request()

    def peek(self, check: Check) -> str | None:
        """``"load budget spent: stepping down"`` when a step down is possible and the
        balance cannot afford the option's expected extra attempts."""
        engine = check.engine
        if engine.admission is None or engine.load is None or not check.can_step_down:
            return None
        estimate, _ = check.success_estimates()
        return None if engine.load.affords(1 - estimate) else "load budget spent: stepping down"

    def launch(self, flight: FlightView, hedging: FlightView | None) -> None:
        """Spend an extra attempt (after the request's first) and hold ``flight``'s
        expected extra attempts; a hedge takes over its slow attempt's holding."""
        engine = flight.run.engine
        load = engine.load
        if load is None:
            return
        if hedging is not None:
            load.release(hedging.held.pop(self, 0.0))
        if flight.extra:
            load.spend_extra()
        option = flight.option
        flight.held[self] = load.commit(1 - engine.success_estimate(option.route.name, option.size))

    def land(self, flight: FlightView) -> None:
        """Release what ``flight`` held."""
        load = flight.run.engine.load
        if load is not None:
            load.release(flight.held.pop(self, 0.0))
