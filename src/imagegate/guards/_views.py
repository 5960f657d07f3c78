"""What the guards read from an attempt, its request and the engine, as protocols.

The guards sit below the request path that calls them: the engine builds their pipeline,
a run and its flights are handed to their hooks. They name those only through these
views, so no guard imports the engine, the run or the flight back; `imagegate._engine.Engine`,
`imagegate._run.RequestRun` and `imagegate._flight.Flight` satisfy them structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from imagegate._plan import Option
from imagegate._request import ImageRequest
from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.breaker import BreakerRegistry
from imagegate.resilience.budget import RetryBudget
from imagegate.resilience.clock import Clock
from imagegate.resilience.ledger import CostLedger
from imagegate.resilience.load import LoadBudget
from imagegate.resilience.ratelimit import RateLimiter
from imagegate.resilience.retry import RetryPolicy

__all__ = ["DeadlineView", "EngineView", "FlightView", "RunView"]


class EngineView(Protocol):
    """What the guards read from the router's engine: its policies and shared state."""

    @property
    def clock(self) -> Clock:
        """The router's clock."""

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy (its shortest worthwhile attempt)."""

    @property
    def budget(self) -> RetryBudget:
        """The retry budget that retries and hedges spend."""

    @property
    def breakers(self) -> BreakerRegistry:
        """The circuit breakers, by route and size."""

    @property
    def limiters(self) -> Sequence[RateLimiter | None]:
        """Each route's rate limiter, by option index (None without one)."""

    @property
    def ledger(self) -> CostLedger:
        """The cost ledger."""

    @property
    def kept_bookings(self) -> dict[int, Any]:
        """Gate bookings kept around kept steps, by the step's id, for the router's life
        (`imagegate.guards._booking.kept_booking`)."""

    @property
    def admission(self) -> AdmissionPolicy | None:
        """The admission policy, or None with admission off."""

    @property
    def load(self) -> LoadBudget | None:
        """The load budget, or None without one."""

    def success_estimate(self, route: str, size: str) -> float:
        """The estimated chance an attempt at (route, size) succeeds."""

    def success_estimates(self, route: str, size: str) -> tuple[float, float]:
        """That estimate and its optimistic bound."""


class DeadlineView(Protocol):
    """What the guards read from a request's deadline."""

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""


class RunView(Protocol):
    """What the guards read from a request's run."""

    @property
    def engine(self) -> EngineView:
        """The router's engine."""

    @property
    def request(self) -> ImageRequest:
        """The validated request."""

    @property
    def time(self) -> DeadlineView:
        """The request's deadline."""


class FlightView(Protocol):
    """What the guards read from one attempt, from its launch until it lands."""

    @property
    def run(self) -> RunView:
        """The request it belongs to."""

    @property
    def option(self) -> Option:
        """The (route, size) it tries."""

    @property
    def number(self) -> int:
        """Its attempt number at that option (1 for the first)."""

    @property
    def hedge(self) -> bool:
        """Whether it was started as a hedge of a slow attempt."""

    @property
    def extra(self) -> bool:
        """Whether the request had launched an attempt before this one."""

    @property
    def estimate_usd(self) -> float:
        """The catalogue price of what it asks for."""

    @property
    def taken(self) -> Sequence[Any] | None:
        """What each guard booked at the gate, once through it."""

    @property
    def held(self) -> dict[object, Any]:
        """What a guard holds for it from launch to landing, by guard."""
