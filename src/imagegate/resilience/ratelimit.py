"""`RateLimit` and `RateLimiter`: per-minute, per-day and spacing limits of one quota.

Per-minute limits and spacing use GCRA (the generic cell rate algorithm, a token bucket
kept as one timestamp). A limit of ``L`` units per ``P`` seconds has the emission interval
``T = P / L`` and keeps a *theoretical arrival time* ``tat``. A request costing ``c``
units (1 for RPM and spacing, ``n`` images for IPM), with ``B = burst``, may start at::

    start = max(now, tat - (max(B, c) - c) · T)          and then    tat = max(tat, start) + c · T

so ``B`` units may go back to back after an idle spell, a request larger than ``B``
still goes at once from idle (it cannot be split), and with the default ``B = 1`` no
window of ``P`` seconds ever holds more than ``L`` requests. Several limits are reserved
together: the request starts at the latest of their ``start`` times, and either all of
them are charged or none.

Per-day limits (RPD) are a counter per *quota day*, which ends at midnight in the
provider's zone (Gemini: ``America/Los_Angeles``; days are 23 or 25 hours long at DST
changes). A request that would not fit today may be booked on the next day when the reset
is within ``max_wait_s``.

The safety margin. The limiter books request *starts*; a provider counts *arrivals*, each
a little later than its start (the event loop, the SDK, connection set-up, the network)
and by a varying amount. Two requests booked exactly ``P`` apart may arrive ``P − 0.1 s``
apart, and the provider then sees ``L + 1`` in one window. ``RateLimit.margin_s = m``
widens every window the limiter enforces by ``m``, so arrivals keep the limit as long as
each one lands within ``m`` of its start::

    T = (P + m) / L                    RPM and IPM (P = 60 s): L starts per P + m
    no start in the last m of a day    RPD: a request that could arrive after the reset
                                       waits for it and counts on the next day

With ``B = 1`` any ``P + m`` window then holds at most ``L`` starts, so any ``P`` window
holds at most ``L`` arrivals delayed by 0 to ``m``. The default ``m = 1 s`` costs
``1/60`` of a per-minute quota. ``min_interval_s`` is pacing the caller chose and is kept
as given.

`RateLimiter.reserve` returns the wait before the request may start and books the
capacity, or None (nothing booked) when the wait would exceed ``max_wait_s`` — the router
then skips the option. A booking counts even if the caller never sends the request, with
one exception: a `RateBooking` (from `RateLimiter.reserve_step`) can be handed back with
`RateLimiter.unreserve` while nothing was booked on the quota after it. Undoing an older
booking could let a later one start too early, so that one is kept.
`RateLimiter.mark_exhausted` blocks the quota after a `QuotaExhausted` error until its
``reset_at`` (or the next daily reset).

The state is a `RateLimitState` record changed only by the pure operations `RateReserve`,
`RateUnreserve` and `RateExhaust`, so a shared backend can run the same decisions
(docs/scaling.md).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imagegate._numbers import ms
from imagegate.resilience._ratelimit_codec import RateLimitCodec
from imagegate.resilience._ratelimit_ops import (
    RateExhaust,
    RateLimit,
    RateLimitState,
    RateReserve,
    RateUnreserve,
    quota_day,
)
from imagegate.resilience.clock import Clock, LoopClock
from imagegate.state import MemoryState, StateBackend, Step
from imagegate.state.codec import register_codec

__all__ = [
    "QuotaLeft",
    "RateBooking",
    "RateExhaust",
    "RateLimit",
    "RateLimitState",
    "RateLimiter",
    "RateLimiterStatistics",
    "RateReserve",
    "RateUnreserve",
    "quota_day",
]

WallClock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


# A shared backend (RedisState) runs the operations through the codec beside them.
register_codec(RateLimitCodec())


def _units_now(tat: float, interval_s: float | None, burst: int, now: float) -> int | None:
    if interval_s is None:
        return None
    backlog = max(0.0, tat - now) / interval_s
    return max(0, math.floor(burst - backlog + 1e-9))


@dataclass(frozen=True, slots=True)
class RateBooking:
    """A reservation that can be handed back (from `RateLimiter.reserve_step`).

    Attributes:
        wait_s: Seconds to wait before starting (0.0: at once).
        n: Images booked.
        id: Identifies it in the quota's record, for `RateLimiter.unreserve`.
    """

    wait_s: float
    n: int
    id: str


@dataclass(frozen=True, slots=True)
class QuotaLeft:
    """What a quota allows right now, for ``health()``.

    Attributes:
        requests_now: Requests that could start at once under ``rpm`` (None: no rpm).
        images_now: Images that could start at once under ``ipm`` (None: no ipm).
        requests_today: ``rpd`` left today (None: no rpd).
        next_start_in_s: Wait before a one-image request could start; None when the
            daily quota is used up for today and for the next day.
        blocked_for_s: What is left of a `QuotaExhausted` block.
        daily_reset_in_s: Seconds until the quota day ends.
        exhausted: True when blocked, or when ``rpd`` is used up for today.
    """

    requests_now: int | None
    images_now: int | None
    requests_today: int | None
    next_start_in_s: float | None
    blocked_for_s: float
    daily_reset_in_s: float
    exhausted: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, waits rounded to the millisecond."""
        wait = self.next_start_in_s
        return {
            "requests_now": self.requests_now,
            "images_now": self.images_now,
            "requests_today": self.requests_today,
            "next_start_in_s": None if wait is None else ms(wait),
            "blocked_for_s": ms(self.blocked_for_s),
            "daily_reset_in_s": ms(self.daily_reset_in_s),
            "exhausted": self.exhausted,
        }


@dataclass(frozen=True, slots=True)
class RateLimiterStatistics:
    """A snapshot of a `RateLimiter`.

    Attributes:
        key: The quota's key.
        limit: Its limits.
        quota: What it allows now.
        reserved: Reservations this limiter made (handed back or not).
        refused: Reservations it refused (wait beyond ``max_wait_s``).
    """

    key: str
    limit: RateLimit
    quota: QuotaLeft
    reserved: int
    refused: int


class RateLimiter:
    """Books capacity on one quota's limits before each attempt.

    Args:
        key: What the quota belongs to: a route name, or the provider project several
            routes share (instances with one key and one backend share the quota).
        limit: The limits.
        clock: Where time comes from.
        backend: Where the record lives (default: a private `MemoryState`).
        wall_now: Returns the wall-clock time, for the daily reset and ``reset_at``
            (default: ``datetime.now(UTC)``); tests derive it from a fake clock.
    """

    __slots__ = (
        "_backend",
        "_bookings",
        "_clock",
        "_id_prefix",
        "_refused",
        "_reserved",
        "_wall_now",
        "key",
        "limit",
    )

    def __init__(
        self,
        key: str,
        limit: RateLimit,
        *,
        clock: Clock | None = None,
        backend: StateBackend | None = None,
        wall_now: WallClock | None = None,
    ) -> None:
        self.key = key
        self.limit = limit
        self._clock: Clock = clock or LoopClock()
        self._backend: StateBackend = backend if backend is not None else MemoryState()
        self._wall_now: WallClock = wall_now or _utc_now
        self._reserved = 0
        self._refused = 0
        # Booking ids: unique across processes (random prefix), cheap within one.
        self._id_prefix = secrets.token_hex(6)
        self._bookings = 0

    @property
    def _state_key(self) -> str:
        return f"ratelimit:{self.key}"

    def _reserve_op(self, n: int, max_wait_s: float | None, booking: str = "") -> RateReserve:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n!r}")
        day, reset_in_s = quota_day(self._wall_now(), self.limit.daily_reset)
        return RateReserve(n, self.limit, day, reset_in_s, max_wait_s, booking)

    def _counted(self, wait: float | None) -> float | None:
        if wait is None:
            self._refused += 1
        else:
            self._reserved += 1
        return wait

    async def reserve(self, n: int = 1, *, max_wait_s: float | None) -> float | None:
        """Book capacity for a request of ``n`` images.

        Args:
            n: Images requested (IPM counts ``n``; RPM, RPD and spacing count 1).
            max_wait_s: Longest acceptable wait (what is left of the deadline, less the
                time an attempt needs); None for no bound.

        Returns:
            Seconds to wait before starting (0.0: at once), or None when that would
            exceed ``max_wait_s``; then nothing is booked and the option should be skipped.
        """
        op = self._reserve_op(n, max_wait_s)
        return self._counted(await self._backend.apply(self._state_key, op, now=self._clock.now()))

    def reserve_step(self, n: int = 1, *, max_wait_s: float | None) -> Step[RateBooking | None]:
        """`reserve` as a `Step`, to apply with others (`imagegate.state.apply_steps`).

        Its result is a `RateBooking` (which `unreserve` can hand back), or None when
        the wait would exceed ``max_wait_s`` (nothing booked).
        """
        self._bookings += 1
        booking = f"{self._id_prefix}.{self._bookings}"
        op = self._reserve_op(n, max_wait_s, booking)

        def finish(wait: float | None) -> RateBooking | None:
            self._counted(wait)
            return None if wait is None else RateBooking(wait, n, booking)

        return Step(self._backend, self._state_key, op, finish)

    async def unreserve(self, booking: RateBooking) -> bool:
        """Hand back a booking whose request will not be sent.

        Returns:
            True when it was undone; False when a later booking on the quota came after it
            (then it counts as used, like any booking whose request was never sent).
        """
        step = self.unreserve_step(booking)
        return step.finish(await self._backend.apply(step.key, step.op, now=self._clock.now()))

    def unreserve_step(self, booking: RateBooking) -> Step[bool]:
        """`unreserve` as a `Step`, to apply with others."""
        day, _ = quota_day(self._wall_now(), self.limit.daily_reset)
        op = RateUnreserve(booking.id, booking.n, self.limit, day)
        return Step(self._backend, self._state_key, op, bool)

    async def acquire(self, n: int = 1, *, max_wait_s: float | None) -> bool:
        """`reserve`, then sleep the wait on the clock; False (no sleep) when refused."""
        wait = await self.reserve(n, max_wait_s=max_wait_s)
        if wait is None:
            return False
        if wait > 0:
            await self._clock.sleep(wait)
        return True

    def estimate_wait_s(self, n: int = 1, *, max_wait_s: float | None = None) -> float | None:
        """What `reserve` would answer now, without booking (from the last known record)."""
        op = self._reserve_op(n, max_wait_s)
        return op.apply(self._peek(), self._clock.now())[1]

    async def mark_exhausted(self, *, reset_at: datetime | None = None) -> None:
        """Block this quota after a `QuotaExhausted`: until ``reset_at`` if given and
        still ahead, else until the next daily reset.

        Args:
            reset_at: The error's ``reset_at`` (naive values are taken as UTC).
        """
        wall = self._wall_now()
        day, reset_in_s = quota_day(wall, self.limit.daily_reset)
        block_for_s = reset_in_s
        if reset_at is not None:
            if reset_at.tzinfo is None:
                reset_at = reset_at.replace(tzinfo=UTC)
            if wall.tzinfo is None:
                wall = wall.replace(tzinfo=UTC)
            ahead = (reset_at - wall).total_seconds()
            if ahead > 0:
                block_for_s = ahead
        await self._backend.apply(
            self._state_key, RateExhaust(day, block_for_s), now=self._clock.now()
        )

    def _peek(self) -> RateLimitState | None:
        record = self._backend.peek(self._state_key)
        return record if isinstance(record, RateLimitState) else None

    def quota_left(self) -> QuotaLeft:
        """What the quota allows now (from the last known record)."""
        now = self._clock.now()
        day, reset_in_s = quota_day(self._wall_now(), self.limit.daily_reset)
        record = (self._peek() or RateLimitState.fresh(now, day)).rolled(day)
        limit = self.limit
        requests_today = None if limit.rpd is None else max(0, limit.rpd - record.used_today)
        blocked_for_s = max(0.0, record.blocked_until - now)
        next_start = RateReserve(1, limit, day, reset_in_s, None).apply(record, now)[1]
        return QuotaLeft(
            requests_now=_units_now(record.request_tat, limit.request_interval_s, limit.burst, now),
            images_now=_units_now(record.image_tat, limit.image_interval_s, limit.burst, now),
            requests_today=requests_today,
            next_start_in_s=next_start,
            blocked_for_s=blocked_for_s,
            daily_reset_in_s=reset_in_s,
            exhausted=blocked_for_s > 0 or requests_today == 0,
        )

    def statistics(self) -> RateLimiterStatistics:
        """The quota left now and how many reservations were made and refused."""
        return RateLimiterStatistics(
            key=self.key,
            limit=self.limit,
            quota=self.quota_left(),
            reserved=self._reserved,
            refused=self._refused,
        )

    def __repr__(self) -> str:
        quota = self.quota_left()
        return (
            f"RateLimiter({self.key!r}, {self.limit!r}, requests_now={quota.requests_now}, "
            f"requests_today={quota.requests_today}, blocked_for_s={quota.blocked_for_s:g})"
        )
