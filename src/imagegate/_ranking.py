"""How the engine ranks options: what it has seen of each (route, size), and the orders
it draws from that.

Evidence is each (route, size)'s `OutcomeWindow` and the attempts it has in flight. From
them come a success estimate (the router's `AdmissionPolicy`, or the default one when
admission is off), the expected time to an image (mean latency over that estimate), and
a sampled time that stays optimistic while evidence is thin. The engine orders a request's
options by the sampled times (`Ranking.rank`) and its routes by the routing strategy
(`Ranking.route_order`).

``size-then-soonest`` is size-aware once the requested size is given up: each next option
is the largest tier that costs no more than the option expected soonest and is expected
to deliver within the time left and within `SIZE_SLACK` times that option's expected
time. A tier never tried there (no outcome, nothing in flight) is assumed as quick as
the smaller one by a request that has used less than `EXPLORE_SHARE` of its deadline, so
a middle tier gets measured instead of being written off by a prior that says larger is
slower, and the measuring is done by a request with time to spare (one that waited out
its requested size's share would add the probe to the tail). These options are ranked
again when the request reaches them, with the evidence and the time left of that
moment::

    rest = the options after the requested size's primaries (backups after primaries)
    while rest:
        soonest = the option with the smallest sampled time
        pick    = the largest option L with  price(L) <= price(soonest)
                                             expected(L) <= time left
                                             expected(L) <= SIZE_SLACK * expected(soonest)
                  (expected(L) = expected(soonest) while L is untried and the
                  request explores), else soonest
        each larger option passed over keeps why (`SkipReason`), for `ImageResult.skipped`
"""

from __future__ import annotations

import functools
import math
import random
from collections import Counter
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from imagegate._plan import Option
from imagegate._presets import EXPLORE_SHARE, PRIOR_LATENCY_S, SIZE_SLACK, OptionOrder
from imagegate._provider import Capabilities
from imagegate._request import ImageRequest, Size, size_rank
from imagegate._result import SkipReason
from imagegate._route import Route
from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.clock import Clock
from imagegate.resilience.stats import OutcomeStats, OutcomeWindow

__all__ = ["OptionKey", "PassedOver", "Ranked", "Ranking", "Strategy"]

Strategy = Literal["priority", "cheapest", "fastest", "weighted"]

OptionKey = tuple[str, Size]
"""An option as ``(route name, size)``."""

PassedOver = MutableMapping[tuple[OptionKey, OptionKey], tuple[SkipReason, str]]
"""Why a larger option was ranked after the option picked instead:
``(larger, picked) -> (reason, detail)``."""


# Built for every request: not frozen, since a frozen dataclass's __init__ costs
# several times a plain one's. Never changed once built.
@dataclass(slots=True)
class Ranked:
    """A request's options in the order to try them.

    Attributes:
        options: The options, ranked.
        fixed: How many leading options keep their place; the rest is ranked again
            (`Ranking.rank_rest`) when the request reaches it.
    """

    options: list[Option]
    fixed: int


class _Judged(NamedTuple):
    """What the size-aware step reads of one option."""

    draw: float  # sampled seconds to an image (route order within the step)
    expected: float  # expected seconds to an image (point estimate)
    untried: bool  # no outcome in the window, nothing in flight, and the request explores
    price: float  # list price of one image


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
    # `keep_split`'s splits by the options' id: (the options, ranked, how many keep their
    # place). Each entry holds its options, so that id is not reused while it is kept.
    _splits: dict[int, tuple[tuple[Option, ...], tuple[Option, ...], int]]

    def keep_split(self, options: tuple[Option, ...]) -> None:
        """Keep `rank`'s split of a kept plan's ``options`` (the requested size's primaries,
        then the rest) when one route at most leads it: it then takes no draw, whatever
        the strategy, and is the same for every request of the plan. Dropped with the
        plans (`forget_splits`)."""
        if options:
            first, rest = _split(options)
            if len(first) <= 1:
                self._splits[id(options)] = (options, (*first, *rest), len(first))

    def forget_splits(self) -> None:
        """Drop what `keep_split` kept."""
        self._splits.clear()

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
        return self.success_estimates(route, size)[0]

    def success_estimates(self, route: str, size: str) -> tuple[float, float]:
        """The success estimate of (route, size) and its optimistic bound (admission),
        from the outcome window's counts (its full statistics are not needed)."""
        window = self.windows.get((route, size))
        successes, calls = (0, 0) if window is None else window.counts(self.clock.now())
        return self._policy.estimates_from(
            successes, calls, in_flight=self.in_flight[(route, size)]
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

    def reorder(self, options: Sequence[Option]) -> list[Option]:
        """Every option of ``options`` (in ladder order) in the engine's `OptionOrder`,
        as ranked when the request starts (`rank`, with its rest ranked at once)."""
        ranked = self.rank(options)
        rest = ranked.options[ranked.fixed :]
        return ranked.options[: ranked.fixed] + self.rank_rest(rest, remaining_s=None, explore=True)

    def rank(self, options: Sequence[Option]) -> Ranked:
        """``options`` (in ladder order) in the engine's `OptionOrder`; routes within a
        ranking are compared by one `sampled_time_s` draw each. With
        ``size-then-soonest`` only the requested size's primaries are ranked here; the
        rest waits for `rank_rest`, when the request gets there."""
        if self.order == "ladder" or not options:
            return Ranked(list(options), len(options))
        if self.order == "size-then-soonest":
            kept = self._splits.get(id(options))
            if kept is not None and kept[0] is options:  # a kept plan's (`keep_split`)
                return Ranked(list(kept[1]), kept[2])
            first, rest = _split(options)
            # Another strategy orders the routes itself; one route needs no draw.
            if self.strategy == "priority" and len(first) > 1:
                first_draws = {id(o): self.sampled_time_s(o) for o in first}
                first.sort(key=lambda o: first_draws[id(o)])
            return Ranked(first + rest, len(first))
        draws = {id(o): self.sampled_time_s(o) for o in options}

        def soonest(o: Option) -> float:
            return draws[id(o)]

        if self.order == "soonest":
            ranked = sorted(options, key=lambda o: (o.route.backup, soonest(o)))
            return Ranked(ranked, len(ranked))
        likely = self._likely(options, soonest)
        return Ranked(likely, len(likely))

    def rank_rest(
        self,
        options: Sequence[Option],
        *,
        remaining_s: float | None,
        explore: bool,
        passed_over: PassedOver | None = None,
    ) -> list[Option]:
        """The options after the requested size, size-aware (the module docstring):
        primaries, then backups; ``remaining_s`` is the time left (None: no deadline);
        ``explore``: whether untried tiers count as quick (`explores`). Why each larger
        option went after the one picked goes into ``passed_over``."""
        judged = {id(o): self._judge(o, explore) for o in options}
        notes: PassedOver = {} if passed_over is None else passed_over
        ranked: list[Option] = []
        for backup in (False, True):
            pool = [o for o in options if o.route.backup is backup]
            pool.sort(key=lambda o: judged[id(o)].draw)
            while pool:
                pick = self._pick(pool, judged, remaining_s, notes)
                pool.remove(pick)
                ranked.append(pick)
        return ranked

    @staticmethod
    def explores(elapsed_s: float, deadline_s: float | None) -> bool:
        """Whether a request ``elapsed_s`` into its deadline may explore an untried tier
        (it has used less than `EXPLORE_SHARE` of it; always without a deadline)."""
        return deadline_s is None or elapsed_s < EXPLORE_SHARE * deadline_s

    def _judge(self, option: Option, explore: bool) -> _Judged:
        key = (option.route.name, option.size)
        stats = self._stats(*key)
        untried = explore and (stats is None or stats.calls == 0) and self.in_flight[key] == 0
        return _Judged(
            self.sampled_time_s(option),
            self.expected_time_s(option),
            untried,
            option.capabilities.estimate_cost_usd(option.size),
        )

    def _pick(
        self,
        pool: Sequence[Option],
        judged: dict[int, _Judged],
        remaining_s: float | None,
        notes: PassedOver,
    ) -> Option:
        """The largest option of ``pool`` worth trying before the soonest one."""
        soonest = pool[0]
        pick = soonest
        passed: list[tuple[Option, tuple[SkipReason, str]]] = []
        for option in pool[1:]:
            if size_rank(option.size) <= size_rank(pick.size):
                continue
            why = _why_not_first(option, soonest, judged, remaining_s)
            if why is None:
                pick = option
            else:
                passed.append((option, why))
        picked = (pick.route.name, pick.size)
        for option, why in passed:
            notes[((option.route.name, option.size), picked)] = why
        return pick

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

    def route_order(self, request: ImageRequest) -> Sequence[int]:
        """Route indexes in the order the strategy prefers (backups keep theirs)."""
        if self.strategy == "priority":
            return _in_order(len(self.routes))
        indexes = list(range(len(self.routes)))
        if self.strategy == "cheapest":
            inputs = len(request.images)
            indexes.sort(
                key=lambda i: self.capabilities[i].estimate_cost_usd(
                    request.size, input_images=inputs
                )
            )
        elif self.strategy == "fastest":
            now = self.clock.now()

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


def _split(options: Sequence[Option]) -> tuple[list[Option], list[Option]]:
    """The primaries at the first option's size, and the rest, each in ladder order."""
    top = options[0].size
    first = [o for o in options if o.size == top and not o.route.backup]
    rest = [o for o in options if o.size != top or o.route.backup]
    return first, rest


@functools.lru_cache(maxsize=64)
def _in_order(routes: int) -> tuple[int, ...]:
    """The route indexes in the routes' own order (the ``priority`` strategy's)."""
    return tuple(range(routes))


def _why_not_first(
    larger: Option,
    smaller: Option,
    judged: dict[int, _Judged],
    remaining_s: float | None,
) -> tuple[SkipReason, str] | None:
    """Why ``larger`` does not go before ``smaller`` (the option expected soonest), or
    None when it does: no dearer, expected within the time left and within `SIZE_SLACK`
    times ``smaller``'s expected time (an untried tier: as quick as ``smaller``)."""
    big, small = judged[id(larger)], judged[id(smaller)]
    if big.price > small.price + 1e-9:
        return "larger_price", (
            f"{larger.size} costs ${big.price:.3f} an image, "
            f"{smaller.size} on {smaller.route.name} ${small.price:.3f}"
        )
    expected = small.expected if big.untried else big.expected
    if remaining_s is not None and expected > remaining_s:
        return "slower_than_time_left", f"expected in {expected:.0f} s, {remaining_s:.0f} s left"
    if expected > SIZE_SLACK * small.expected:
        return "slower", (
            f"expected in {expected:.0f} s, {smaller.size} on {smaller.route.name} "
            f"in {small.expected:.0f} s"
        )
    return None
