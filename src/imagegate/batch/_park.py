"""Parking: an item that failed only for a spent quota or an outage waits for the router.

`why_parkable` reads an item's `AllRoutesFailed` — every attempt's error and every
skipped option's reason — and tells a failure that waiting can cure from one it cannot:

    can wait (quota, outage)                        cannot (fails at once)
    QuotaExhausted, RateLimited, Overloaded,         ContentBlocked, NoImageReturned,
    DeadlineExceeded, TransportError, UpstreamError  InvalidRequestError, AuthenticationError
    skipped: breaker open, quota                     skipped: route rejected, prompt blocked

Other skip reasons (unsupported, deadline, admission …) neither park nor fail an item.

`wake_in_s` reads when the item could next get through from the router's own shared
state (`Router.health`): the earliest moment one of the item's (route, size) options that
is closed now — an open breaker, a used-up or blocked quota — opens again (a half-open
breaker whose probes are out: `PROBE_WAIT_S`); when none is closed (an outage failed
every attempt before any breaker opened), the breaker policy's ``cooldown_s``. No per-item
timer: every parked item waits on the `ParkingLot`, which sleeps on the router's clock
until the earliest wake-up and hands the items that are due back to the workers.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import anyio

from imagegate._health import RouteHealth
from imagegate._result import Attempt
from imagegate.batch._items import BatchItem
from imagegate.errors import (
    AllRoutesFailed,
    DeadlineExceeded,
    ImageGateError,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamError,
)
from imagegate.resilience.clock import Clock, move_on_after

__all__ = ["PROBE_WAIT_S", "ParkingLot", "Wait", "wake_in_s", "why_parkable"]

PROBE_WAIT_S = 5.0
"""How long an item waits for a half-open breaker whose probes are out (clock seconds)
before it asks again: trying costs nothing upstream while the breaker lets nothing by."""

_WAITABLE = (
    QuotaExhausted,
    RateLimited,
    Overloaded,
    DeadlineExceeded,
    TransportError,
    UpstreamError,
)
_WAITABLE_SKIPS = frozenset({"breaker_open", "quota"})
_REAL_SKIPS = frozenset({"route_rejected", "blocked"})


@dataclass(frozen=True, slots=True)
class Wait:
    """Why an item waits: the options it waits for and what closed them.

    Attributes:
        options: ``(route, size)`` of every option the item had.
        reasons: What closed them, in words (``"quota exhausted on gemini/…"``).
    """

    options: frozenset[tuple[str, str]]
    reasons: tuple[str, ...]


def _attempt_reason(attempt: Attempt) -> str | None:
    """The reason in words when ``attempt`` failed for a quota or an outage; "" when it
    failed for good (a refusal, a bad request, a key); None when it says neither."""
    error = attempt.error
    if error is None:
        return f"{attempt.outcome} on {attempt.route}" if attempt.outcome == "timeout" else None
    if isinstance(error, QuotaExhausted):
        return f"quota exhausted on {attempt.route}"
    if isinstance(error, _WAITABLE):
        return f"{type(error).__name__} on {attempt.route}"
    return ""


def why_parkable(exc: ImageGateError) -> Wait | None:
    """The `Wait` of a failure that waiting can cure, or None when it must fail now (see
    the module docstring): at least one attempt or skip for a quota or an outage, and
    none for a reason that waiting does not change."""
    if not isinstance(exc, AllRoutesFailed):
        return None
    options: set[tuple[str, str]] = set()
    reasons: list[str] = []
    for attempt in exc.attempts:
        options.add((attempt.route, attempt.size))
        reason = _attempt_reason(attempt)
        if reason == "":
            return None
        if reason is not None and reason not in reasons:
            reasons.append(reason)
    for skipped in exc.skipped_options:
        if skipped.reason in _REAL_SKIPS:
            return None
        options.add((skipped.route, skipped.size))
        if skipped.reason in _WAITABLE_SKIPS:
            word = f"{skipped.reason.replace('_', ' ')} on {skipped.route}"
            if word not in reasons:
                reasons.append(word)
    if not reasons:
        return None
    return Wait(frozenset(options), tuple(reasons))


def _closed_for_s(health: RouteHealth) -> float:
    """Clock seconds until this (route, size) lets a request through (0.0: now)."""
    wait = 0.0
    if health.breaker == "open":
        wait = health.breaker_open_for_s
    elif health.breaker == "half_open":  # its probes are out: their answer decides
        wait = PROBE_WAIT_S
    quota = health.quota
    if quota is not None:
        if quota.blocked_for_s > 0:
            wait = max(wait, quota.blocked_for_s)
        elif quota.next_start_in_s is None:  # today's and tomorrow's quota booked
            wait = max(wait, quota.daily_reset_in_s)
        else:
            wait = max(wait, quota.next_start_in_s)
    return wait


def wake_in_s(health: Iterable[RouteHealth], wait: Wait) -> float | None:
    """Clock seconds until the first of ``wait``'s options that is closed now opens
    again; None when none of them is closed (the caller then waits a breaker's
    cool-down: the outage that failed the item has not opened one yet)."""
    waits = [
        closed
        for h in health
        if (h.route, h.size) in wait.options and (closed := _closed_for_s(h)) > 0
    ]
    return min(waits) if waits else None


class ParkingLot:
    """Parked items and the feed that hands them back to the workers when they are due.

    `feed` yields the input's items first, and each parked item once its wake-up time
    on ``clock`` has come; it ends when the input is used up, nothing is parked and no
    item it handed out is still running (each one handed out must come back through
    `park` or `done`).

    Args:
        clock: The router's clock.
    """

    __slots__ = ("_active", "_changed", "_clock", "_heap", "_order")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, BatchItem]] = []
        self._order = itertools.count()
        self._active = 0
        self._changed = anyio.Event()

    @property
    def parked(self) -> int:
        """Items waiting now."""
        return len(self._heap)

    @property
    def next_wake(self) -> float | None:
        """The clock time of the earliest wake-up, or None when nothing waits."""
        return self._heap[0][0] if self._heap else None

    def park(self, item: BatchItem, wake_at: float) -> None:
        """Put ``item`` (handed out by `feed`) back until ``wake_at`` on the clock."""
        heapq.heappush(self._heap, (wake_at, next(self._order), item))
        self.done()

    def done(self) -> None:
        """An item handed out by `feed` finished (or was parked)."""
        self._active -= 1
        self._changed.set()

    def _due(self) -> BatchItem | None:
        if self._heap and self._heap[0][0] <= self._clock.now():
            return heapq.heappop(self._heap)[2]
        return None

    async def feed(self, source: AsyncIterator[BatchItem]) -> AsyncIterator[BatchItem]:
        """The items to run, fresh and woken (see the class docstring)."""
        fresh = True
        while True:
            item = self._due()
            if item is None and fresh:
                try:
                    item = await anext(source)
                except StopAsyncIteration:
                    fresh = False
                    continue
            if item is not None:
                self._active += 1
                yield item
                continue
            if not self._heap and self._active <= 0:
                return
            await self._wait()

    async def _wait(self) -> None:
        """Until the earliest wake-up, or until an item running now ends or parks."""
        self._changed = anyio.Event()
        wake = self.next_wake
        delay = None if wake is None else max(0.0, wake - self._clock.now())
        async with move_on_after(self._clock, delay):
            await self._changed.wait()

    def __repr__(self) -> str:
        return (
            f"ParkingLot(parked={self.parked}, active={self._active}, next_wake={self.next_wake})"
        )
