"""`QuotaGuard`: what a `QuotaExhausted` means beyond its own (route, size).

A per-day or credit quota belongs to the route (its model or account), not to one size:
once an attempt reports it used up, the route's other sizes open their breakers until
the reset and the route's rate limit is blocked until then.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from imagegate._result import Attempt
from imagegate.errors import QuotaExhausted
from imagegate.guards._guard import Guard
from imagegate.guards._views import FlightView

__all__ = ["QuotaGuard"]


class QuotaGuard(Guard):
    """Closes the whole route until its quota resets once an attempt finds it used up."""

    __slots__ = ()

    async def settle(self, flight: FlightView, taken: Any, attempt: Attempt) -> None:
        """On `QuotaExhausted`: open the route's other sizes, block its rate limit."""
        error = attempt.error
        if not isinstance(error, QuotaExhausted):
            return
        engine, option = flight.run.engine, flight.option
        for other in sorted(option.capabilities.sizes - {option.size}):
            await engine.breakers.get(option.route.name, other).open_for_quota(error)
        limiter = engine.limiters[option.index]
        if limiter is not None:
            await limiter.mark_exhausted(reset_at=error.reset_at)

    def _settle_now(
        self, flight: FlightView, taken: Any, attempt: Attempt
    ) -> Awaitable[None] | None:
        """Nothing to do (None) unless the attempt found the quota used up: then `settle`,
        to await (`GuardPipeline.settle_now`)."""
        if not isinstance(attempt.error, QuotaExhausted):
            return None
        return self.settle(flight, taken, attempt)
