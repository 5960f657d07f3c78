"""How the engine ranks options: what it has seen of each (route, size), and the orders
it draws from that.

Evidence is each (route, size)'s `OutcomeWindow` and the attempts it has in flight. From
them come a success estimate (the router's `AdmissionPolicy`, or the default one when
admission is off), the expected time to an image (mean latency over that estimate), and
a sampled time that stays optimistic while evidence is thin. The engine orders a request's
options by the sampled times (`Ranking.reorder`) and its routes by the routing strategy
(`Ranking.route_order`).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

from imagegate._plan import Option
from imagegate._presets import PRIOR_LATENCY_S, OptionOrder
from imagegate._provider import Capabilities
from imagegate._request import ImageRequest, Size
from imagegate._route import Route
from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.clock import Clock
from imagegate.resilience.stats import OutcomeStats, OutcomeWindow

__all__ = ["Ranking", "Strategy"]

Strategy = Literal["priority", "cheapest", "fastest", "weighted"]

# The estimates a router without admission ranks by (the policy is immutable).
_DEFAULT_ADMISSION = AdmissionPolicy()
_COLD_LATENCY_SPREAD = 0.25  # relative standard error of a latency not yet measured


class Ranking:
    """The ranking half of `imagegate._engine.Engine`, which holds the fields read here."""

    __slots__ = ()

    routes: tuple[Route, ...]
    capabilities: list[Capabilities]
    clock: Clock
    admission: AdmissionPolicy | None
    order: OptionOrder
    strategy: Strategy
    rng: random.Random
    windows: dict[tuple[str, str], OutcomeWindow]
    in_flight: Counter[tuple[str, str]]

    def window(self, route: str, size: str) -> OutcomeWindow:
        """The outcome window of (route, size), created on first use."""
        key = (route, size)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = OutcomeWindow()
        return window

    def _stats(self, route: str, size: str) -> OutcomeStats | None:
        window = self.windows.get((route, size))
        return window.statistics(self.clock.now()) if window is not None else None

    @property
    def _policy(self) -> AdmissionPolicy:
        return self.admission or _DEFAULT_ADMISSION

    def success_estimate(self, route: str, size: str) -> float:
        """Estimated success rate of the next attempt at (route, size) (see admission)."""
        stats = self._stats(route, size)
        return self._policy.success_estimate(stats, in_flight=self.in_flight[(route, size)])

    def success_estimates(self, route: str, size: str) -> tuple[float, float]:
        """The success estimate of (route, size) and its optimistic bound (admission)."""
        policy = self._policy
        stats, in_flight = self._stats(route, size), self.in_flight[(route, size)]
        return (
            policy.success_estimate(stats, in_flight=in_flight),
            policy.upper_bound(stats, in_flight=in_flight),
        )

    def expected_time_s(self, option: Option) -> float:
        """Expected seconds to an image from ``option``: mean latency / success estimate."""
        key = (option.route.name, option.size)
        stats = self._stats(*key)
        mean = stats.mean_s if stats is not None else None
        latency = PRIOR_LATENCY_S[option.size] if mean is None else mean
        return latency / max(
            0.01, self._policy.success_estimate(stats, in_flight=self.in_flight[key])
        )

    def sampled_time_s(self, option: Option) -> float:
        """Seconds to an image from ``option``, optimistic where evidence is thin: a mean
        latency drawn (Thompson sampling) around the window's, its standard error
        shrinking with the successes seen, over the optimistic success bound admission
        uses. Ranking by these keeps a route judged on a few outcomes in play until the
        evidence is firm, then concentrates on the quickest (`expected_time_s` is the
        point estimate). The success rate is bounded, not drawn: a cold Beta(1, 1) draw
        would send a sixth of a cold burst to a size three times slower.
        """
        key = (option.route.name, option.size)
        stats = self._stats(*key)
        prior = PRIOR_LATENCY_S[option.size]
        if stats is None or stats.mean_s is None:
            mean, error = prior, prior * _COLD_LATENCY_SPREAD
        elif stats.stdev_s is None:
            mean, error = stats.mean_s, stats.mean_s * _COLD_LATENCY_SPREAD
        else:
            mean, error = stats.mean_s, stats.stdev_s / math.sqrt(stats.successes)
        latency = max(0.1 * mean, self.rng.gauss(mean, error))
        success = min(1.0, self._policy.upper_bound(stats, in_flight=self.in_flight[key]))
        return latency / max(0.01, success)

    def soonest_key(self, option: Option) -> tuple[bool, float]:
        """Primaries before backups, then by expected time to an image."""
        return option.route.backup, self.expected_time_s(option)

    def reorder(self, options: Sequence[Option]) -> Sequence[Option]:
        """``options`` (in ladder order) in the engine's `OptionOrder`; routes within a
        ranking are compared by one `sampled_time_s` draw each."""
        if self.order == "ladder" or not options:
            return options
        draws = {id(o): self.sampled_time_s(o) for o in options}

        def soonest(o: Option) -> float:
            return draws[id(o)]

        if self.order == "soonest":
            return sorted(options, key=lambda o: (o.route.backup, soonest(o)))
        if self.order == "size-then-soonest":
            return self._size_then_soonest(options, soonest)
        return self._likely(options, soonest)

    def _size_then_soonest(
        self, options: Sequence[Option], soonest: Callable[[Option], float]
    ) -> list[Option]:
        """The requested size, likeliest route first; once it is given up, whatever is
        expected to deliver soonest."""
        top = options[0].size
        first = [o for o in options if o.size == top and not o.route.backup]
        rest = [o for o in options if o.size != top or o.route.backup]
        if self.strategy == "priority":  # another strategy orders the routes itself
            first.sort(key=soonest)
        rest.sort(key=lambda o: (o.route.backup, soonest(o)))
        return first + rest

    def _likely(
        self, options: Sequence[Option], soonest: Callable[[Option], float]
    ) -> list[Option]:
        """The ladder's tiers and sizes; within each, the route expected to deliver soonest
        first (sorted() is stable, so ties keep the strategy's order)."""
        ladder = {id(o): i for i, o in enumerate(options)}
        tier: dict[tuple[bool, Size], int] = {}
        for o in options:
            tier.setdefault((o.route.backup, o.size), ladder[id(o)])
        if self.strategy != "priority":  # another strategy orders the routes itself
            return sorted(options, key=lambda o: tier[(o.route.backup, o.size)])
        return sorted(options, key=lambda o: (tier[(o.route.backup, o.size)], soonest(o)))

    def route_order(self, request: ImageRequest) -> list[int]:
        """Route indexes in the order the strategy prefers (backups keep theirs)."""
        indexes = list(range(len(self.routes)))
        now = self.clock.now()
        if self.strategy == "cheapest":
            indexes.sort(key=lambda i: self.capabilities[i].estimate_cost_usd(request.size))
        elif self.strategy == "fastest":

            def latency(i: int) -> float:
                # An untried route ranks first, so every route gets measured once.
                ewma = self.window(self.routes[i].name, request.size).statistics(now).ewma_s
                return 0.0 if ewma is None else ewma

            indexes.sort(key=latency)
        elif self.strategy == "weighted":
            # Weighted shuffle (Efraimidis–Spirakis): key u^(1/w), largest first.
            def draw(i: int) -> float:
                weight = self.routes[i].weight
                return self.rng.random() ** (1.0 / weight) if weight > 0 else -1.0

            indexes.sort(key=draw, reverse=True)
        return indexes
