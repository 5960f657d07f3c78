"""`BreakerPolicy`: when a breaker opens, how long it stays open, and how it probes.

`imagegate.resilience.breaker` explains the states and transitions these parameters
drive; the names are importable from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from imagegate.errors import (
    AuthenticationError,
    DeadlineExceeded,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamError,
)

__all__ = ["DEFAULT_FAILURE_TYPES", "BreakerPolicy", "BreakerState", "Outcome"]

BreakerState = Literal["closed", "open", "half_open"]
"""Where a breaker is: letting calls through, refusing them, or probing."""

Outcome = Literal["success", "failure", "neutral", "quota"]
"""What a call's end means to a breaker (`BreakerPolicy.classify`)."""

DEFAULT_FAILURE_TYPES: tuple[type[BaseException], ...] = (
    Overloaded,
    DeadlineExceeded,
    TransportError,
    UpstreamError,
    RateLimited,
    AuthenticationError,
)
"""Errors that count as failures by default (see `imagegate.resilience.breaker`)."""


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens, how long it stays open, and how it probes.

    Args:
        failure_rate: Open when failures / calls in the window reach this.
        min_calls: Calls the window must hold before the rates are judged.
        window_s: Length of the sliding window, in clock seconds.
        window_buckets: Buckets the window is kept in (its time resolution).
        slow_call_s: A call taking at least this long is slow; None: not tracked.
        slow_call_rate: Open when slow / calls in the window reach this.
        consecutive_failures: Open after this many failures in a row, whatever the
            window holds; None: off.
        cooldown_s: Time open before the first probe.
        cooldown_multiplier: Growth of the cool-down per failed probe.
        cooldown_max_s: Longest cool-down.
        half_open_probes: Probes let through at a time when half-open, and successes
            needed to close.
        probe_timeout_s: A probe permit not reported within this is forgotten (a worker
            that died holding it must not keep the breaker half-open for ever).
        quota_cooldown_s: Time open after `QuotaExhausted` without a ``reset_at``.
        failure_types: Errors that count as failures; others are neutral.

    Raises:
        ValueError: for an out-of-range parameter.
    """

    failure_rate: float = 0.5
    min_calls: int = 5
    window_s: float = 120.0
    window_buckets: int = 12
    slow_call_s: float | None = None
    slow_call_rate: float = 0.8
    consecutive_failures: int | None = 3
    cooldown_s: float = 30.0
    cooldown_multiplier: float = 2.0
    cooldown_max_s: float = 300.0
    half_open_probes: int = 1
    probe_timeout_s: float = 900.0
    quota_cooldown_s: float = 3600.0
    failure_types: tuple[type[BaseException], ...] = field(default=DEFAULT_FAILURE_TYPES)

    def __post_init__(self) -> None:
        self._check_counts()
        self._check_durations()

    def _check_counts(self) -> None:
        for name in ("failure_rate", "slow_call_rate"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be within (0, 1], got {value!r}")
        for name in ("min_calls", "window_buckets", "half_open_probes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.consecutive_failures is not None and self.consecutive_failures < 1:
            raise ValueError("consecutive_failures must be at least 1 (or None)")

    def _check_durations(self) -> None:
        for name in ("window_s", "cooldown_s", "probe_timeout_s", "quota_cooldown_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.slow_call_s is not None and not self.slow_call_s > 0:
            raise ValueError(f"slow_call_s must be positive, got {self.slow_call_s!r}")
        if not self.cooldown_multiplier >= 1:
            raise ValueError(
                f"cooldown_multiplier must be at least 1, got {self.cooldown_multiplier!r}"
            )
        if not self.cooldown_max_s >= self.cooldown_s:
            raise ValueError("cooldown_max_s must be at least cooldown_s")
        if not self.cooldown_max_s >= self.cooldown_s:
            raise ValueError("cooldown_max_s must be at least cooldown_s")

    def cooldown_for(self, level: int) -> float:
        """``min(cooldown_max_s, cooldown_s · cooldown_multiplier ** level)``."""
        try:
            grown = self.cooldown_s * self.cooldown_multiplier**level
        except OverflowError:
            return self.cooldown_max_s
        return min(self.cooldown_max_s, grown)

    def classify(self, error: BaseException) -> Outcome:
        """``"quota"`` for `QuotaExhausted`, ``"failure"`` for ``failure_types``, else
        ``"neutral"``."""
        if isinstance(error, QuotaExhausted):
            return "quota"
        if isinstance(error, self.failure_types):
            return "failure"
        return "neutral"
