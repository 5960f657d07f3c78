"""`Guard`: one policy every attempt passes, as hooks at the points of an attempt's life;
`Check`: an option as a guard's `Guard.peek` sees it."""

from __future__ import annotations

from typing import Any

from imagegate._plan import Option
from imagegate._request import ImageRequest, size_rank
from imagegate._result import Attempt
from imagegate.guards._booking import Booking
from imagegate.guards._views import EngineView, FlightView, RunView
from imagegate.resilience.budget import ExtraKind

__all__ = ["Check", "Guard"]


class Check:
    """An option being considered for the next attempt, as `Guard.peek` sees it.

    Args:
        option: The (route, size) considered.
        run: The request.

    Attributes:
        option: The (route, size) considered.
        run: The request.
        engine: The router's engine (its policies and shared state).
        request: The request's parameters.
    """

    __slots__ = ("_can_step_down", "_estimates", "engine", "option", "request", "run")

    def __init__(self, option: Option, run: RunView) -> None:
        self.option = option
        self.run = run
        self.engine: EngineView = run.engine
        self.request: ImageRequest = run.request
        self._can_step_down: bool | None = None
        self._estimates: tuple[float, float] | None = None

    @property
    def can_step_down(self) -> bool:
        """Whether a size smaller than the option's is still acceptable."""
        if self._can_step_down is None:
            smallest = self.request.sizes_allowed[-1]
            self._can_step_down = size_rank(self.option.size) > size_rank(smallest)
        return self._can_step_down

    def remaining_s(self) -> float | None:
        """Seconds left before the request's deadline, or None without one."""
        return self.run.time.remaining()

    def success_estimates(self) -> tuple[float, float]:
        """The option's success estimate and its optimistic bound (`Engine.estimates`),
        computed once per check however many guards ask."""
        if self._estimates is None:
            self._estimates = self.engine.success_estimates(
                self.option.route.name, self.option.size
            )
        return self._estimates

    def __repr__(self) -> str:
        return f"Check({self.option.route.name}@{self.option.size})"


class Guard:
    """One policy every attempt passes: a hook at each point of an attempt's life.

    Override the hooks the policy needs; the others do nothing (and are never called).
    The engine calls each hook on the guards in the pipeline's order (`release` in
    reverse)::

        open      a request starts
        peek      an option is considered (the ladder, a retry, a hedge target):
                  why not now, without booking anything
        spend     a retry or a hedge is about to start: pay for it, or say why not
        launch    an attempt is launched (``hedging``: the slow attempt it hedges)
        book      its booking at the gate, in one round trip with the others'
        passed    through the gate and the rate limit's wait: the call is next
        settle    the call ended (its `Attempt` record says how)
        release   the attempt ended otherwise: hand back what was booked
        land      the attempt landed, however it ended

    Guards hold no state of a request: what one holds for an attempt lives in
    ``flight.held[guard]`` (from `launch` to `land`) or comes back as ``taken`` (what
    `book` booked).
    """

    __slots__ = ()

    def open(self, run: RunView) -> None:
        """A request starts."""

    def peek(self, check: Check) -> str | None:
        """Why ``check.option`` cannot be tried now (listed among the skipped options),
        or None to let it through. Books nothing."""
        return None

    def spend(self, kind: ExtraKind, run: RunView) -> str | None:
        """A retry or a hedge is about to start: take what it costs, or say why it
        cannot (None: it may start)."""
        return None

    def launch(self, flight: FlightView, hedging: FlightView | None) -> None:
        """``flight`` is launched; ``hedging`` is the slow attempt it hedges, if any."""

    def book(self, flight: FlightView) -> Booking[Any] | None:
        """What to book at the gate for ``flight``, or None to book nothing."""
        return None

    def passed(self, flight: FlightView) -> None:
        """``flight`` is through the gate and its rate wait: its call is next."""

    async def settle(self, flight: FlightView, taken: Any, attempt: Attempt) -> None:
        """``flight``'s call ended as ``attempt`` records; ``taken`` is what `book`
        booked (None without a booking)."""

    async def release(
        self, flight: FlightView, taken: Any, attempt: Attempt | None, *, cancelled: bool
    ) -> None:
        """``flight`` ended without a settled call: cancelled during its call (``attempt``
        records it), cancelled before it (``cancelled``), or out of time before it.
        Hand back what ``taken`` holds."""

    def land(self, flight: FlightView) -> None:
        """``flight`` landed, however it ended."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
