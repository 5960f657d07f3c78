"""The rate limit's decisions: `RateLimit`, the `RateLimitState` record, and the pure
operations `RateReserve`, `RateUnreserve` and `RateExhaust` that change it.

`imagegate.resilience.ratelimit` explains the algorithm (GCRA per limit, the quota day,
the safety margin) and holds the `RateLimiter` that hands these operations to a backend;
the names are importable from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "RateExhaust",
    "RateLimit",
    "RateLimitState",
    "RateReserve",
    "RateUnreserve",
    "quota_day",
]


@lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def quota_day(wall_now: datetime, zone: str) -> tuple[int, float]:
    """The quota day at ``wall_now`` and the seconds until it ends.

    Args:
        wall_now: The wall-clock time (naive values are taken as UTC).
        zone: The IANA zone whose midnight resets the quota.

    Returns:
        ``(day, reset_in_s)``: the proleptic ordinal of the local date, and the real
        seconds until the next local midnight (DST-aware: computed in UTC).
    """
    if wall_now.tzinfo is None:
        wall_now = wall_now.replace(tzinfo=UTC)
    tz = _zone(zone)
    local = wall_now.astimezone(tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
    reset_in_s = (midnight.astimezone(UTC) - wall_now.astimezone(UTC)).total_seconds()
    return local.date().toordinal(), reset_in_s


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The limits of one quota (a route, or the provider project it shares).

    Args:
        rpm: Requests per minute.
        ipm: Images per minute; a request for ``n`` images costs ``n``.
        rpd: Requests per quota day.
        min_interval_s: Least time between two request starts.
        burst: Units (requests for ``rpm``, images for ``ipm``) that may go back to back
            after an idle spell. 1 spreads requests evenly and guarantees at most ``rpm``
            in any 60 s window; larger values trade that for lower latency.
        daily_reset: IANA zone whose midnight resets ``rpd``.
        margin_s: Safety margin for arrivals that land later than their booked start:
            the per-minute windows are enforced as ``60 + margin_s`` seconds and no
            request starts in the last ``margin_s`` of a quota day (see the module
            docstring). Set it to the longest delay expected between a request's start
            and the provider counting it; 0 enforces the bare limits.

    Raises:
        ValueError: for a non-positive limit, a negative margin or an unknown zone.
    """

    rpm: int | None = None
    ipm: int | None = None
    rpd: int | None = None
    min_interval_s: float | None = None
    burst: int = 1
    daily_reset: str = "America/Los_Angeles"
    margin_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("rpm", "ipm", "rpd"):
            value = getattr(self, name)
            if value is not None and not value >= 1:
                raise ValueError(f"{name} must be at least 1, got {value!r}")
        if self.min_interval_s is not None and not self.min_interval_s > 0:
            raise ValueError(f"min_interval_s must be positive, got {self.min_interval_s!r}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst!r}")
        if not (self.margin_s >= 0 and math.isfinite(self.margin_s)):
            raise ValueError(f"margin_s must be zero or positive, got {self.margin_s!r}")
        try:
            _zone(self.daily_reset)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone for daily_reset: {self.daily_reset!r}") from exc

    @property
    def unlimited(self) -> bool:
        """True when no limit is set."""
        return (
            self.rpm is None
            and self.ipm is None
            and self.rpd is None
            and (self.min_interval_s is None)
        )

    @property
    def request_interval_s(self) -> float | None:
        """GCRA interval of ``rpm``: ``(60 + margin_s) / rpm`` (None without ``rpm``)."""
        return _interval(self.rpm, self.margin_s)

    @property
    def image_interval_s(self) -> float | None:
        """GCRA interval of ``ipm``: ``(60 + margin_s) / ipm`` (None without ``ipm``)."""
        return _interval(self.ipm, self.margin_s)


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """The stored record of one quota (times in the backend's clock seconds).

    Attributes:
        request_tat: GCRA theoretical arrival time of the RPM limit.
        image_tat: GCRA theoretical arrival time of the IPM limit.
        spacing_tat: GCRA theoretical arrival time of ``min_interval_s``.
        day: The quota day ``used_today`` counts (see `quota_day`).
        used_today: Requests booked on that day.
        used_next_day: Requests booked on the day after (waiting for the reset).
        blocked_until: Nothing starts before this (set by `RateExhaust`).
        booking: Id of the latest booking, while `RateUnreserve` may still undo it ("":
            none, or the latest booking had no id).
        booking_day: The quota day that booking counted on (0 when no ``rpd``).
    """

    request_tat: float
    image_tat: float
    spacing_tat: float
    day: int
    used_today: int = 0
    used_next_day: int = 0
    blocked_until: float = 0.0
    booking: str = ""
    booking_day: int = 0

    @classmethod
    def fresh(cls, now: float, day: int) -> RateLimitState:
        """An idle quota."""
        return cls(request_tat=now, image_tat=now, spacing_tat=now, day=day, blocked_until=now)

    def rolled(self, day: int) -> RateLimitState:
        """This record seen on quota day ``day`` (earlier days never roll back)."""
        if day <= self.day:
            return self
        if day == self.day + 1:
            return replace(self, day=day, used_today=self.used_next_day, used_next_day=0)
        return replace(self, day=day, used_today=0, used_next_day=0)


def _gcra_start(tat: float, interval_s: float, cost: int, burst: int) -> float:
    return tat - (max(burst, cost) - cost) * interval_s


@dataclass(frozen=True, slots=True)
class RateReserve:
    """Operation: book ``n`` images' worth of every limit, or nothing.

    Result: the wait in seconds before the request may start, or None when that would
    exceed ``max_wait_s`` or can never fit (``n > ipm``); the record is then unchanged.

    Attributes:
        n: Images requested.
        limit: The limits.
        day: The caller's quota day (`quota_day`).
        reset_in_s: Seconds until that day ends.
        max_wait_s: Longest acceptable wait; None for no bound.
        booking: An id for this booking, so that `RateUnreserve` can undo it ("": none).
    """

    n: int
    limit: RateLimit
    day: int
    reset_in_s: float
    max_wait_s: float | None
    booking: str = ""

    def apply(
        self, state: RateLimitState | None, now: float
    ) -> tuple[RateLimitState | None, float | None]:
        """Compute the start time and the new record (see the module docstring of
        `imagegate.resilience.ratelimit`)."""
        limit = self.limit
        if limit.ipm is not None and self.n > limit.ipm:
            return state, None
        current = (state or RateLimitState.fresh(now, self.day)).rolled(self.day)
        gcras = (
            (current.request_tat, limit.request_interval_s, 1, limit.burst),
            (current.image_tat, limit.image_interval_s, self.n, limit.burst),
            (current.spacing_tat, limit.min_interval_s, 1, 1),
        )
        start = max(now, current.blocked_until)
        for tat, interval_s, cost, burst in gcras:
            if interval_s is not None:
                start = max(start, _gcra_start(tat, interval_s, cost, burst))
        daily = self._daily(current, start, now)
        if daily is None:
            return state, None
        start, used_today, used_next, booking_day = daily
        wait = start - now
        if self.max_wait_s is not None and wait > self.max_wait_s:
            return state, None
        tats = [
            tat if interval_s is None else max(tat, start) + cost * interval_s
            for tat, interval_s, cost, _ in gcras
        ]
        new = replace(
            current,
            request_tat=tats[0],
            image_tat=tats[1],
            spacing_tat=tats[2],
            used_today=used_today,
            used_next_day=used_next,
            booking=self.booking,
            booking_day=booking_day,
        )
        return new, wait

    def _daily(
        self, current: RateLimitState, start: float, now: float
    ) -> tuple[float, int, int, int] | None:
        """The start, ``used_today``, ``used_next_day`` and the booking's quota day once
        ``rpd`` is counted (0 without ``rpd``); None when today and the next day are full."""
        limit = self.limit
        used_today, used_next = current.used_today, current.used_next_day
        if limit.rpd is None:
            return start, used_today, used_next, 0
        midnight = now + self.reset_in_s
        # A start within margin_s of the reset could arrive after it: next day.
        if start < midnight - limit.margin_s and used_today < limit.rpd:
            return start, used_today + 1, used_next, current.day
        if used_next < limit.rpd:
            return max(start, midnight), used_today, used_next + 1, current.day + 1
        return None


@dataclass(frozen=True, slots=True)
class RateUnreserve:
    """Operation: undo booking ``booking`` if it is still the latest one on the quota.

    Each GCRA time moves back by what the booking added (to ``max(old tat, its start)``,
    never earlier than before it), and its quota day gets the request back. A booking
    with a later one after it is kept: that one's start was computed from it.

    Result: True when the booking was undone.

    Attributes:
        booking: The id the `RateReserve` carried.
        n: Its images.
        limit: The limits it was booked under.
        day: The caller's quota day (`quota_day`).
    """

    booking: str
    n: int
    limit: RateLimit
    day: int

    def apply(self, state: RateLimitState | None, now: float) -> tuple[RateLimitState | None, bool]:
        """Give the latest booking back (see the class docstring)."""
        if state is None or not self.booking or state.booking != self.booking:
            return state, False
        current = state.rolled(self.day)
        limit = self.limit
        request_interval, image_interval = limit.request_interval_s, limit.image_interval_s
        used_today, used_next = current.used_today, current.used_next_day
        if current.booking_day == current.day:
            used_today = max(0, used_today - 1)
        elif current.booking_day == current.day + 1:
            used_next = max(0, used_next - 1)
        new = replace(
            current,
            request_tat=_undone(current.request_tat, request_interval, 1),
            image_tat=_undone(current.image_tat, image_interval, self.n),
            spacing_tat=_undone(current.spacing_tat, limit.min_interval_s, 1),
            used_today=used_today,
            used_next_day=used_next,
            booking="",
            booking_day=0,
        )
        return new, True


def _undone(tat: float, interval_s: float | None, cost: int) -> float:
    return tat if interval_s is None else tat - cost * interval_s


@dataclass(frozen=True, slots=True)
class RateExhaust:
    """Operation: block the quota for ``block_for_s`` (after a `QuotaExhausted`).

    Attributes:
        day: The caller's quota day.
        block_for_s: Seconds from now during which nothing may start.
    """

    day: int
    block_for_s: float

    def apply(self, state: RateLimitState | None, now: float) -> tuple[RateLimitState, None]:
        """Extend ``blocked_until`` to ``now + block_for_s`` (never shortens it)."""
        current = (state or RateLimitState.fresh(now, self.day)).rolled(self.day)
        until = max(current.blocked_until, now + max(0.0, self.block_for_s))
        return replace(current, blocked_until=until), None


def _interval(per_minute: int | None, margin_s: float) -> float | None:
    return None if per_minute is None else (60.0 + margin_s) / per_minute
