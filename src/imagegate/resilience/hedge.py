"""`HedgePolicy`: when to race a second attempt against a slow one — smaller, or the same size.

When an attempt above ``size`` (say 4K) has not answered after the hedge delay, the
router starts a second attempt at ``size`` (2K) on the option most likely to answer. The
first success wins and the loser is cancelled and recorded with its billing status::

    t=0        4K attempt ────────────────────────────────────────X cancelled (possibly billed)
    t=delay                 2K hedge ──────────────✓ wins
                                                   └ prefer="quality": wait up to grace_s
                                                     for the 4K before taking the 2K

The delay is ``delay_s`` when given, else the live ``quantile`` (p90) of successful
latencies of the slow (route, size), clamped to [``min_delay_s``, ``max_delay_s``];
before ``min_samples`` successes have been seen it is ``cold_delay_s``. Hedges draw on the
same retry-and-hedge budget as retries, so a hedge never amplifies an outage beyond
``max_extra_load``.

An attempt no smaller hedge applies to (at or below ``size``) may be raced at its own
size instead, with ``race_quantile`` set: once it is past that quantile (p75: 0.75) of
its (route, size) window, a second attempt at the same size starts on the option expected
soonest (another route, or the same one; with ``target="soonest"`` a smaller size too).
With ``race_share``, that share of requests races two attempts from the start. Both are
paid for like hedges and also need the load budget (`LoadBudget.affords`) when the router
has one::

    t=0        4K on vertex ─────────────────────────────X cancelled (possibly billed)
    t=p75                      4K on gemini ──────────✓ wins

A request holds at most ``max_in_flight`` attempts at once; a further hedge of the same
attempt waits one more delay after the last one started.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imagegate._request import SIZES, Size, size_rank
from imagegate.resilience.stats import OutcomeWindow

__all__ = ["HedgePolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgePolicy:
    """When and how to hedge a slow attempt with a smaller one.

    Attributes:
        size: The tier of the hedge; attempts above it may be hedged.
        delay_s: A fixed delay; None uses the live quantile of the slow option.
        quantile: Which latency quantile of the slow option sets the delay.
        min_delay_s: Floor of the adaptive delay.
        max_delay_s: Ceiling of the adaptive delay.
        cold_delay_s: The delay before ``min_samples`` successes are known.
        min_samples: Successes needed before the quantile is trusted.
        prefer: ``"first"`` takes the first success; ``"quality"`` lets a hedge win
            wait ``grace_s`` for the larger attempt.
        grace_s: How long a ``"quality"`` hedge win waits for the larger image.
        target: ``"likely"`` hedges at ``size`` on the route most likely to answer;
            ``"soonest"`` on the option at or below ``size`` expected to deliver soonest
            (mean latency over estimated success), which may be smaller. With
            ``"soonest"`` a race may also go to a size below the raced attempt's.
        max_extra_load: Hedges plus retries, as a share of first attempts.
        race_quantile: Same-size racing: an attempt at or below ``size`` gets a second
            attempt at its own size once past this quantile of its (route, size)
            latencies (cold: ``cold_delay_s``; clamped like the delay); None: off.
        race_share: The share of requests that race two attempts at the same size from
            the start (0: none).
        race_backups: Whether a same-size race goes to the option expected soonest
            even when it is a backup (else backups only when no primary can take it).
        max_in_flight: The most attempts one request has in flight at once (at least 2).

    Hedging is off with ``hedge=None`` (``hedge = false`` in a configuration file).
    """

    size: Size = "2K"
    delay_s: float | None = None
    quantile: float = 0.9
    min_delay_s: float = 10.0
    max_delay_s: float = 240.0
    cold_delay_s: float = 120.0
    min_samples: int = 5
    prefer: Literal["first", "quality"] = "first"
    grace_s: float = 30.0
    target: Literal["likely", "soonest"] = "likely"
    max_extra_load: float = 0.1
    race_quantile: float | None = None
    race_share: float = 0.0
    race_backups: bool = False
    max_in_flight: int = 2

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            # Checked here, not on the first request: a size no ladder contains would
            # crash every request above it.
            raise ValueError(f"size must be one of {', '.join(SIZES)}, got {self.size!r}")
        if self.delay_s is not None and self.delay_s < 0:
            raise ValueError("delay_s must not be negative")
        if not 0 < self.quantile < 1:
            raise ValueError("quantile must lie strictly between 0 and 1")
        if not 0 <= self.min_delay_s <= self.max_delay_s:
            raise ValueError("min_delay_s must lie within 0 … max_delay_s")
        if self.target not in ("likely", "soonest"):
            raise ValueError("target must be 'likely' or 'soonest'")
        if self.grace_s < 0 or self.max_extra_load < 0:
            raise ValueError("grace_s and max_extra_load must not be negative")
        if self.race_quantile is not None and not 0 < self.race_quantile < 1:
            raise ValueError("race_quantile must lie strictly between 0 and 1")
        if not 0 <= self.race_share <= 1:
            raise ValueError("race_share must lie within 0 … 1")
        if isinstance(self.max_in_flight, bool) or not self.max_in_flight >= 2:
            raise ValueError("max_in_flight must be at least 2 (hedge=None turns hedging off)")

    def applies_to(self, size: Size) -> bool:
        """Whether an attempt at ``size`` may be hedged."""
        return size_rank(size) > size_rank(self.size)

    def races(self, size: Size) -> bool:
        """Whether an attempt at ``size`` may be raced at its own size."""
        return self.race_quantile is not None and not self.applies_to(size)

    def delay_for(
        self, window: OutcomeWindow | None, now: float, *, quantile: float | None = None
    ) -> float:
        """Seconds to wait before hedging an attempt whose option has ``window`` history
        (``quantile``: another quantile than the policy's, e.g. ``race_quantile``)."""
        if self.delay_s is not None:
            return self.delay_s
        if window is None:
            return self.cold_delay_s
        stats = window.statistics(now)
        if stats.successes < self.min_samples:
            return self.cold_delay_s
        observed = window.quantile(self.quantile if quantile is None else quantile, now)
        assert observed is not None  # successes >= min_samples > 0
        return min(self.max_delay_s, max(self.min_delay_s, observed))
