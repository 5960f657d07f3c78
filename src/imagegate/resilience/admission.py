"""`AdmissionPolicy`: whether an option is worth trying now, or the ladder should step down.

A breaker reacts to failures after they happen; image failures arrive late (a doomed 4K
call fails at the server's 600 s deadline). Admission looks ahead with what is known:

    prior    = prior_successes + prior_failures
    pending  = in_flight_weight · in_flight · prior / (prior + outcomes)
    estimate = (successes + prior_successes) / (outcomes + pending + prior)

over the (route, size)'s recent outcome window, counting attempts still in flight as not
(yet) successful while evidence is thin: their weight fades as outcomes arrive, so an
option with a long record is judged by it, not by how many slow calls it is running.
While a smaller size is still allowed, an option whose estimate is below
``min_success_rate`` is skipped and the request steps down instead. So:

- at cold start (no evidence) an option admits only a few concurrent attempts — with the
  default prior (1, 1), threshold 0.2 and confidence 1, up to eight run at once (with
  eight in flight the estimate is 1/10, at best 0.195 < 0.2) — and the rest of a burst
  starts smaller instead of piling onto unproven calls (in a healthy world that costs a
  burst at start-up some size; in an outage it saves dozens of calls that would hang to
  the server's deadline);
- a size that is collapsing (AI Studio 4K at 15% in the 2026-01-21 outage) stops being
  tried once its estimate falls below 20%, while a route where it still works (Vertex 4K
  at 50%) keeps being tried;
- evidence ages out of the window, so a skipped option is probed again later;
- with ``max_attempts_per_request``, an option that may still step down must also fit in
  the router's `LoadBudget`: its expected extra attempts ``1 - estimate`` against the
  balance, so a size that fails half the time is tried only as often as the target
  allows, and the other requests start one size down.

The estimate compared with ``min_success_rate`` is optimistic by ``confidence`` standard
errors, ``estimate + confidence · sqrt(estimate · (1 - estimate) / n)`` with ``n`` the
outcomes, pending and prior counted above: four unlucky outcomes of an option that works
half the time do not lock it out for a whole window, while thirty outcomes at 7% do.
The smallest allowed size is always admitted: there is nothing left to step down to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imagegate.resilience.stats import OutcomeStats

__all__ = ["AdmissionPolicy"]

_ESTIMATES: dict[tuple[int, int, int, int], tuple[AdmissionPolicy, tuple[float, float]]] = {}
"""`AdmissionPolicy.estimates_from`'s answers by (policy, successes, calls, in flight)."""
_ESTIMATES_MAX = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionPolicy:
    """When to skip an option in favour of a smaller size (formula in the module docstring).

    Attributes:
        min_success_rate: Options estimated below this are skipped while a smaller size
            is allowed; 0 admits everything.
        prior_successes: Pseudo-successes added to the evidence.
        prior_failures: Pseudo-failures added to the evidence.
        in_flight_weight: How much an attempt still in flight weighs as a non-success
            (1: fully, which throttles unproven options hardest; 0: in-flight attempts
            are ignored and only finished outcomes count). The weight fades as outcomes
            arrive (see the module docstring).
        confidence: Standard errors added to the estimate before comparing it with
            ``min_success_rate`` (0: the point estimate decides).
        max_attempts_per_request: The average upstream attempts per request the router
            aims to stay under (a `LoadBudget`); None: no such limit.
    """

    min_success_rate: float = 0.2
    prior_successes: float = 1.0
    prior_failures: float = 1.0
    in_flight_weight: float = 1.0
    max_attempts_per_request: float | None = None
    confidence: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_success_rate < 1:
            raise ValueError("min_success_rate must lie within [0, 1)")
        if self.prior_successes <= 0 or self.prior_failures < 0:
            raise ValueError("prior_successes must be positive and prior_failures >= 0")
        if self.in_flight_weight < 0:
            raise ValueError("in_flight_weight must not be negative")
        if self.max_attempts_per_request is not None and not self.max_attempts_per_request >= 1:
            raise ValueError("max_attempts_per_request must be at least 1")
        if not self.confidence >= 0:
            raise ValueError("confidence must not be negative")

    def _evidence(self, stats: OutcomeStats | None, in_flight: int) -> tuple[float, float]:
        """(successes, outcomes) with the prior and the pending weight counted in."""
        if stats is None:
            return self._evidence_of(0, 0, in_flight)
        return self._evidence_of(stats.successes, stats.calls, in_flight)

    def _evidence_of(self, successes: int, outcomes: int, in_flight: int) -> tuple[float, float]:
        prior = self.prior_successes + self.prior_failures
        pending = self.in_flight_weight * max(0, in_flight) * prior / (prior + outcomes)
        return successes + self.prior_successes, outcomes + pending + prior

    def success_estimate(self, stats: OutcomeStats | None, *, in_flight: int = 0) -> float:
        """Estimated success rate of the next attempt of an option."""
        successes, outcomes = self._evidence(stats, in_flight)
        return successes / outcomes

    def estimates_from(
        self, successes: int, calls: int, *, in_flight: int = 0
    ) -> tuple[float, float]:
        """`success_estimate` and `upper_bound` from a window's counts alone
        (`OutcomeWindow.counts`), without its full statistics."""
        # Asked at every peek and launch, mostly with counts seen before (a full window
        # of successes): the answers are kept per policy and counts.
        key = (id(self), successes, calls, in_flight)
        kept = _ESTIMATES.get(key)
        if kept is not None and kept[0] is self:
            return kept[1]
        weighted, outcomes = self._evidence_of(successes, calls, in_flight)
        p = weighted / outcomes
        estimates = p, p + self.confidence * math.sqrt(p * (1.0 - p) / outcomes)
        if len(_ESTIMATES) >= _ESTIMATES_MAX:
            _ESTIMATES.clear()
        _ESTIMATES[key] = (self, estimates)  # holds the policy: its id is not reused
        return estimates

    def upper_bound(self, stats: OutcomeStats | None, *, in_flight: int = 0) -> float:
        """The estimate plus ``confidence`` standard errors: what admission compares with
        ``min_success_rate``, so that an option judged on a handful of outcomes keeps
        being tried now and then until the evidence against it is firm."""
        successes, outcomes = self._evidence(stats, in_flight)
        p = successes / outcomes
        return p + self.confidence * math.sqrt(p * (1.0 - p) / outcomes)

    def admits(self, estimate: float, *, can_step_down: bool) -> bool:
        """Whether an option with ``estimate`` should be tried now."""
        return not can_step_down or estimate >= self.min_success_rate
