"""`AttemptTimeoutPolicy`: when to give up on an attempt that is unlikely to succeed.

Image APIs under load fail *slowly*: a 4K request the provider cannot serve hangs until
the server's own deadline (300 s, 600 s) and only then says 504. Waiting for that burns
the request's deadline and leaves no time for the smaller sizes that would have worked.
So each attempt's timeout is the smallest of:

    attempt_timeout_s                       the router's fixed cap, if any
    factor · p99(successful latencies)      once ``min_samples`` successes of this
                                            (route, size) are known: an attempt slower
                                            than every recent success is abandoned
    the size's time budget                  when a smaller size is still allowed: all
                                            attempts at one size together may use only
                                            ``fallback_share`` of what was left of the
                                            deadline when that size started, so the
                                            ladder always keeps time to step down
    remaining                               the request's deadline

A timed-out attempt is recorded as ``DeadlineExceeded`` (possibly billed) and counts as a
failure for the breaker.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegate.resilience.stats import OutcomeWindow

__all__ = ["AttemptTimeoutPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptTimeoutPolicy:
    """How long one attempt may run, learned from the (route, size)'s recent successes.

    Attributes:
        quantile: Which quantile of successful latencies anchors the timeout.
        factor: The timeout is ``factor`` times that quantile.
        min_samples: Successes needed before the learned timeout applies (cold start:
            only ``fallback_share`` and the deadline limit the attempt).
        min_timeout_s: The learned timeout is never shorter than this.
        fallback_share: Share of the remaining deadline that all attempts at one size may
            use while a smaller size is still allowed (1.0 turns the reserve off).
    """

    quantile: float = 0.99
    factor: float = 2.0
    min_samples: int = 20
    min_timeout_s: float = 5.0
    fallback_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.quantile <= 1:
            raise ValueError("quantile must lie within (0, 1]")
        if not self.factor >= 1:
            raise ValueError("factor must be at least 1")
        if self.min_samples < 1:
            raise ValueError("min_samples must be at least 1")
        if not self.min_timeout_s > 0:
            raise ValueError("min_timeout_s must be positive")
        if not 0 < self.fallback_share <= 1:
            raise ValueError("fallback_share must lie within (0, 1]")

    def learned_s(self, window: OutcomeWindow | None, now: float) -> float | None:
        """The timeout learned from ``window``, or None before ``min_samples`` successes."""
        if window is None or window.counts(now)[0] < self.min_samples:
            return None
        anchor = window.quantile(self.quantile, now)
        assert anchor is not None
        return max(self.min_timeout_s, self.factor * anchor)

    def size_budget_s(self, remaining_s: float | None, *, can_step_down: bool) -> float | None:
        """Time all attempts at a size may use, decided when the first of them starts."""
        if remaining_s is None or not can_step_down:
            return None
        return remaining_s * self.fallback_share

    def timeout_s(
        self,
        *,
        window: OutcomeWindow | None,
        now: float,
        remaining_s: float | None,
        size_left_s: float | None = None,
        cap_s: float | None = None,
    ) -> float | None:
        """The timeout of the next attempt (None: no limit at all).

        Args:
            window: Recent outcomes of the attempt's (route, size).
            now: The clock time.
            remaining_s: What is left of the request's deadline; None without one.
            size_left_s: What is left of this size's budget (see `size_budget_s`).
            cap_s: The router's fixed per-attempt cap, if any.
        """
        limits = [cap_s, self.learned_s(window, now), remaining_s, size_left_s]
        present = [limit for limit in limits if limit is not None]
        return min(present) if present else None
