"""`AdmissionPolicy`: whether an option is worth trying now, or the ladder should step down.

A breaker reacts to failures after they happen; image failures arrive late (a doomed 4K
call fails at the server's 600 s deadline). Admission looks ahead with what is known:

    estimate = (successes + prior_successes)
               / (outcomes + in_flight_weight · in_flight + prior_successes + prior_failures)

over the (route, size)'s recent outcome window, counting attempts still in flight as not
(yet) successful. While a smaller size is still allowed, an option whose estimate is below
``min_success_rate`` is skipped and the request steps down instead. So:

- at cold start (no evidence) an option admits only a few concurrent attempts — with the
  default prior (1, 1) and threshold 0.2, up to four run at once (with four in flight the
  estimate is 1/6 < 0.2) — and the rest of a burst starts one size down instead of piling onto
  unproven calls (in a healthy world that costs a burst at start-up some size; in an
  outage it saves dozens of calls that would hang to the server's deadline);
- a size that is collapsing (AI Studio 4K at 15% in the 2026-01-21 outage) stops being
  tried once its estimate falls below 20%, while a route where it still works (Vertex 4K
  at 50%) keeps being tried;
- evidence ages out of the window, so a skipped option is probed again later.

The smallest allowed size is always admitted: there is nothing left to step down to.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagegate.resilience.stats import OutcomeStats

__all__ = ["AdmissionPolicy"]


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
            are ignored and only finished outcomes count).
    """

    min_success_rate: float = 0.2
    prior_successes: float = 1.0
    prior_failures: float = 1.0
    in_flight_weight: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_success_rate < 1:
            raise ValueError("min_success_rate must lie within [0, 1)")
        if self.prior_successes <= 0 or self.prior_failures < 0:
            raise ValueError("prior_successes must be positive and prior_failures >= 0")
        if self.in_flight_weight < 0:
            raise ValueError("in_flight_weight must not be negative")

    def estimate(self, stats: OutcomeStats | None, *, in_flight: int = 0) -> float:
        """Estimated success rate of the next attempt of an option."""
        successes = stats.successes if stats is not None else 0
        outcomes = stats.calls if stats is not None else 0
        prior = self.prior_successes + self.prior_failures
        pending = self.in_flight_weight * max(0, in_flight)
        return (successes + self.prior_successes) / (outcomes + pending + prior)

    def admits(self, estimate: float, *, can_step_down: bool) -> bool:
        """Whether an option with ``estimate`` should be tried now."""
        return not can_step_down or estimate >= self.min_success_rate
