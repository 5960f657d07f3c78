"""Quotas: requests and images per minute and per day, and requests in flight.

Unlike outcomes, quota verdicts depend on what else was asked and when, so they are state
kept by the server, read against the simulator's clock. Minute windows slide over the last
60 simulated seconds; day counters reset at midnight of the scenario's UTC offset
(midnight Pacific by default), with simulated second 0 standing for ``Scenario.start``.
See `QuotaBook.admit` for what counts where.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

from imagegate.testing.simulator._scenario import Profile, Scenario

__all__ = ["QuotaBook", "QuotaVerdict"]

_MINUTE: Final = 60.0
_DAY: Final = 86_400.0

LimitName = Literal["rpm", "ipm", "rpd", "ipd", "concurrent"]


@dataclass(frozen=True, slots=True)
class QuotaVerdict:
    """Why a request was refused.

    Attributes:
        kind: ``"rate_limited"`` (per minute or concurrency) or ``"quota_exhausted"``
            (per day, open until the daily reset).
        limit_name: Which quota: ``"rpm"``, ``"ipm"``, ``"rpd"``, ``"ipd"`` or
            ``"concurrent"``.
        limit: Its value.
        retry_after_s: Simulated seconds until a retry can pass.
    """

    kind: Literal["rate_limited", "quota_exhausted"]
    limit_name: LimitName
    limit: int
    retry_after_s: float

    @property
    def per_day(self) -> bool:
        """Whether it is a daily quota."""
        return self.limit_name in ("rpd", "ipd")


class _Counter:
    __slots__ = ("day", "day_images", "day_requests", "in_flight", "minute")

    def __init__(self) -> None:
        self.minute: deque[tuple[float, int]] = deque()
        self.day = -1
        self.day_requests = 0
        self.day_images = 0
        self.in_flight = 0


class QuotaBook:
    """Quota counters per (provider, model) or per provider, as each profile scopes them."""

    __slots__ = ("_counters", "_epoch", "_offset")

    def __init__(self, scenario: Scenario) -> None:
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._epoch = scenario.start.timestamp()
        self._offset = scenario.daily_reset_utc_offset_h * 3600.0

    def seconds_to_reset(self, now: float) -> float:
        """Simulated seconds from ``now`` to the next daily reset."""
        local = self._epoch + now + self._offset
        return _DAY - local % _DAY

    def _day(self, now: float) -> int:
        return int((self._epoch + now + self._offset) // _DAY)

    def _counter(self, profile: Profile, provider: str, model: str) -> _Counter:
        key = (provider, model if profile.quota_scope == "model" else "*")
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter()
        return counter

    def admit(
        self,
        profile: Profile,
        *,
        provider: str,
        model: str,
        n: int,
        now: float,
        concurrency: bool = True,
    ) -> QuotaVerdict | None:
        """Count the request in, or say which quota refuses it.

        The per-minute limits sit in front of the daily ones: a request they let through
        counts in the minute window even when a daily quota then refuses it (so a client
        hammering an exhausted daily quota meets the per-minute limit too). A request
        refused per minute or for concurrency counts nowhere. With ``concurrency`` an
        admitted request holds a slot until `release`.
        """
        counter = self._counter(profile, provider, model)
        day = self._day(now)
        if counter.day != day:
            counter.day, counter.day_requests, counter.day_images = day, 0, 0
        window = counter.minute
        while window and window[0][0] <= now - _MINUTE:
            window.popleft()
        verdict = self._per_minute(profile, counter, n=n, now=now, concurrency=concurrency)
        if verdict is not None:
            return verdict
        window.append((now, n))
        if profile.rpd is not None and counter.day_requests >= profile.rpd:
            return QuotaVerdict("quota_exhausted", "rpd", profile.rpd, self.seconds_to_reset(now))
        if profile.ipd is not None and counter.day_images + n > profile.ipd:
            return QuotaVerdict("quota_exhausted", "ipd", profile.ipd, self.seconds_to_reset(now))
        counter.day_requests += 1
        counter.day_images += n
        if concurrency:
            counter.in_flight += 1
        return None

    def _per_minute(
        self, profile: Profile, counter: _Counter, *, n: int, now: float, concurrency: bool
    ) -> QuotaVerdict | None:
        if (
            concurrency
            and profile.concurrent is not None
            and counter.in_flight >= profile.concurrent
        ):
            return QuotaVerdict("rate_limited", "concurrent", profile.concurrent, 1.0)
        window = counter.minute
        if profile.rpm is not None and len(window) >= profile.rpm:
            wait = window[len(window) - profile.rpm][0] + _MINUTE - now
            return QuotaVerdict("rate_limited", "rpm", profile.rpm, max(wait, 0.001))
        if profile.ipm is not None:
            used = sum(count for _, count in window)
            if used + n > profile.ipm:
                wait = _ipm_wait(window, used=used, n=n, ipm=profile.ipm, now=now)
                return QuotaVerdict("rate_limited", "ipm", profile.ipm, max(wait, 0.001))
        return None

    def minute_usage(
        self, profile: Profile, *, provider: str, model: str, now: float
    ) -> tuple[int, int]:
        """Requests and images counted in the minute before ``now``."""
        window = self._counter(profile, provider, model).minute
        recent = [count for at, count in window if at > now - _MINUTE]
        return len(recent), sum(recent)

    def release(self, profile: Profile, *, provider: str, model: str) -> None:
        """Give back the concurrency slot taken by `admit`."""
        counter = self._counter(profile, provider, model)
        counter.in_flight = max(0, counter.in_flight - 1)


def _ipm_wait(
    window: deque[tuple[float, int]], *, used: int, n: int, ipm: int, now: float
) -> float:
    """Seconds until enough images leave the minute window for ``n`` more to fit."""
    freed = 0
    for at, count in window:
        freed += count
        if used - freed + n <= ipm:
            return at + _MINUTE - now
    return _MINUTE
