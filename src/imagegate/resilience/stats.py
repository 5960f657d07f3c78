"""Recent outcomes per (route, size): success rate and latency quantiles over a window.

The router records every finished attempt here. `health()` reports from it, the hedge
reads the live p90 of the slow option from it, and routing strategies (``fastest``) and
hedge targets (the option most likely to answer) rank options by it.

Only the last ``max_samples`` outcomes within ``window_s`` clock seconds count, so the
estimates follow an outage as it starts and ends.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Final

__all__ = ["OutcomeStats", "OutcomeWindow"]

_DEFAULT_WINDOW_S: Final = 600.0
_DEFAULT_MAX_SAMPLES: Final = 256


@dataclass(frozen=True, slots=True)
class OutcomeStats:
    """A snapshot of one window.

    Attributes:
        calls: Outcomes in the window.
        successes: How many of them delivered an image.
        success_rate: ``successes / calls``; None with no calls.
        p50_s: Median latency of successes; None without successes.
        p90_s: 90th percentile latency of successes.
        p95_s: 95th percentile latency of successes.
        ewma_s: Exponentially weighted mean latency of successes (α = 0.2).
        mean_s: Mean latency of the successes in the window; None without successes.
        stdev_s: Their sample standard deviation; None with fewer than two.
    """

    calls: int
    successes: int
    success_rate: float | None
    p50_s: float | None
    p90_s: float | None
    p95_s: float | None
    ewma_s: float | None
    mean_s: float | None = None
    stdev_s: float | None = None


class OutcomeWindow:
    """Outcomes of one (route, size) over the last ``window_s`` seconds.

    Args:
        window_s: How far back outcomes count, in clock seconds.
        max_samples: At most this many outcomes are kept.
    """

    __slots__ = (
        "_ewma",
        "_ok_sorted",
        "_ok_sq",
        "_ok_sum",
        "_samples",
        "_snapshot",
        "max_samples",
        "window_s",
    )

    _ALPHA: Final = 0.2

    def __init__(
        self, *, window_s: float = _DEFAULT_WINDOW_S, max_samples: int = _DEFAULT_MAX_SAMPLES
    ) -> None:
        if window_s <= 0 or max_samples <= 0:
            raise ValueError("window_s and max_samples must be positive")
        self.window_s = window_s
        self.max_samples = max_samples
        self._samples: deque[tuple[float, bool, float]] = deque()
        # Success latencies kept sorted as outcomes come and go, so quantiles and
        # statistics (read several times per request) never sort the window.
        self._ok_sorted: list[float] = []
        self._ok_sum = 0.0  # running sums of the success latencies (mean, deviation)
        self._ok_sq = 0.0
        self._ewma: float | None = None
        # The last `statistics` and until when it holds: a request reads them several
        # times (ranking, admission, timeouts, hedging) while nothing changes.
        self._snapshot: tuple[OutcomeStats, float] | None = None

    def _drop_oldest(self) -> None:
        self._snapshot = None
        _, ok, latency = self._samples.popleft()
        if ok:
            del self._ok_sorted[bisect.bisect_left(self._ok_sorted, latency)]
            if self._ok_sorted:
                self._ok_sum -= latency
                self._ok_sq -= latency * latency
            else:  # start afresh, shedding rounding drift
                self._ok_sum = self._ok_sq = 0.0

    def record(self, *, success: bool, latency_s: float, now: float) -> None:
        """Add one outcome that ended at clock time ``now``."""
        self._snapshot = None
        if len(self._samples) >= self.max_samples:
            self._drop_oldest()
        self._samples.append((now, success, latency_s))
        if success:
            bisect.insort(self._ok_sorted, latency_s)
            self._ok_sum += latency_s
            self._ok_sq += latency_s * latency_s
            prev = self._ewma
            self._ewma = latency_s if prev is None else prev + self._ALPHA * (latency_s - prev)

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self._samples and self._samples[0][0] < horizon:
            self._drop_oldest()

    def success_rate(self, now: float) -> float | None:
        """Share of successes in the window, or None with no outcomes."""
        self._expire(now)
        return len(self._ok_sorted) / len(self._samples) if self._samples else None

    def counts(self, now: float) -> tuple[int, int]:
        """``(successes, calls)`` in the window: what admission and learned timeouts
        read on every request, without building the full `statistics`."""
        self._expire(now)
        return len(self._ok_sorted), len(self._samples)

    def quantile(self, q: float, now: float) -> float | None:
        """The ``q`` quantile (0–1, nearest rank) of success latencies, or None."""
        self._expire(now)
        latencies = self._ok_sorted
        if not latencies:
            return None
        return latencies[max(1, math.ceil(q * len(latencies))) - 1]

    def statistics(self, now: float) -> OutcomeStats:
        """Everything at once (computed again only once an outcome came or went)."""
        snapshot = self._snapshot
        if snapshot is not None and now <= snapshot[1]:
            return snapshot[0]
        self._expire(now)
        stats = self._compute()
        # Holds until the oldest outcome leaves the window (or another one comes).
        until = self._samples[0][0] + self.window_s if self._samples else math.inf
        self._snapshot = (stats, until)
        return stats

    def _compute(self) -> OutcomeStats:
        latencies, calls = self._ok_sorted, len(self._samples)

        def pick(q: float) -> float | None:
            return latencies[max(1, math.ceil(q * len(latencies))) - 1] if latencies else None

        k = len(latencies)
        mean = self._ok_sum / k if k else None
        stdev = None
        if mean is not None and k > 1:
            stdev = math.sqrt(max(0.0, (self._ok_sq - k * mean * mean) / (k - 1)))

        return OutcomeStats(
            calls=calls,
            successes=len(latencies),
            success_rate=len(latencies) / calls if calls else None,
            p50_s=pick(0.5),
            p90_s=pick(0.9),
            p95_s=pick(0.95),
            ewma_s=self._ewma,
            mean_s=mean,
            stdev_s=stdev,
        )

    def __repr__(self) -> str:
        return f"OutcomeWindow(samples={len(self._samples)}, window_s={self.window_s})"
