"""A request's time budget: its deadline, each size's share of it, each attempt's timeout.

One deadline is shared by every attempt, retry, fallback and hedge of a request. With an
`AttemptTimeoutPolicy`, each size that may still step down gets a share of what is left
when its first attempt starts (``fallback_share``), so a size that hangs keeps time for
the smaller ones; an attempt's timeout is the smallest of the router's cap, the learned
timeout of its (route, size), the deadline and its size's share::

    timeout = min(attempt_timeout_s, learned, what is left, what is left of the size's share)

Without the policy it is ``min(attempt_timeout_s, what is left)``.
"""

from __future__ import annotations

from collections.abc import Callable

from imagegate._engine import Engine
from imagegate._plan import Option
from imagegate._request import ImageRequest, Size, size_rank

__all__ = ["MIN_ATTEMPT_S", "TimeBudget", "out_of_time"]

# No attempt starts with less than this much of the deadline left: it could not finish.
MIN_ATTEMPT_S = 0.001


def out_of_time(remaining: float | None) -> bool:
    """Whether ``remaining`` seconds (None: no deadline) are too few to start an attempt."""
    return remaining is not None and remaining < MIN_ATTEMPT_S


class TimeBudget:
    """The clock of one request: what is left of its deadline and of each size's share.

    Args:
        engine: Where the clock, the timeout policy and the outcome windows come from.
        request: The request (its deadline and smallest acceptable size).
    """

    __slots__ = ("_ends_at", "_engine", "_request", "_size_ends", "started")

    def __init__(self, engine: Engine, request: ImageRequest) -> None:
        self._engine = engine
        self._request = request
        self.started = engine.clock.now()
        # Read on every step of the request: kept here, where reading it is a slot's read.
        deadline_s = request.deadline_s
        self._ends_at = None if deadline_s is None else self.started + deadline_s
        self._size_ends: dict[Size, float | None] = {}

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        ends_at = self._ends_at
        return None if ends_at is None else ends_at - self._engine.clock.now()

    def remaining_at(self, now: float) -> float | None:
        """Seconds left before the deadline at clock time ``now`` (read by the caller
        once for what it does at one instant), or None without one."""
        ends_at = self._ends_at
        return None if ends_at is None else ends_at - now

    def expired(self) -> bool:
        """Whether too little of the deadline is left to start another attempt."""
        return out_of_time(self.remaining())

    def elapsed(self) -> float:
        """Seconds since the request started."""
        return self._engine.clock.now() - self.started

    def size_spent(self, size: Size) -> bool:
        """Whether ``size``'s share of the deadline is used up (kept for smaller sizes)."""
        end = self._size_ends.get(size)
        return end is not None and end - self._engine.clock.now() < MIN_ATTEMPT_S

    def attempt_timeout_s(
        self,
        option: Option,
        remaining: float | None,
        *,
        now: float,
        has_fallback: Callable[[], bool],
    ) -> float | None:
        """The timeout of an attempt at ``option`` starting now (see the module docstring).

        Args:
            option: What the attempt asks for.
            remaining: What is left of the deadline at ``now``.
            now: The clock's time (read once by the caller).
            has_fallback: Whether another option is still left to try, asked only when
                the smallest size needs a reserve of its own.
        """
        engine = self._engine
        if engine.timeouts is None:
            return _min(engine.attempt_timeout_s, remaining)
        size_left = self._size_left(option.size, now)
        if size_left is None and remaining is not None and has_fallback():
            # The smallest size has no budget of its own, but another route may still
            # serve it: one hanging attempt must not take the whole deadline.
            size_left = remaining * engine.timeouts.fallback_share
        return engine.timeouts.timeout_s(
            window=engine.windows.get((option.route.name, option.size)),
            now=now,
            remaining_s=remaining,
            size_left_s=size_left,
            cap_s=engine.attempt_timeout_s,
        )

    def _size_left(self, size: Size, now: float) -> float | None:
        """What is left of ``size``'s share at ``now``, opening it on first use."""
        policy = self._engine.timeouts
        if policy is None:
            return None
        end = self._size_ends.get(size)
        if end is None and size not in self._size_ends:
            can_step_down = size_rank(size) > size_rank(self._request.sizes_allowed[-1])
            budget = policy.size_budget_s(self.remaining_at(now), can_step_down=can_step_down)
            end = None if budget is None else now + budget
            self._size_ends[size] = end
        return None if end is None else end - now

    def __repr__(self) -> str:
        return f"TimeBudget(remaining={self.remaining()!r}, sizes={self._size_ends!r})"


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
