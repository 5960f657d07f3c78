"""Presets: named points on the speed/size frontier (docs/presets.md).

No router can be both as fast as the fastest image any route could have produced and as
sharp as the largest one, so `Router(preset=...)` picks a bundle of policy defaults;
any policy passed explicitly wins over the preset's.

========== ==================================================================================
preset     what it does
========== ==================================================================================
latency    Starts where an image is expected soonest — any allowed size, on the primary
           routes (backups stay last resort) — and steps down eagerly when an option is
           slow or unlikely. Optimises time to an image; the size asked for is a wish.
           A size never tried counts as slower than a smaller one (1K 20 s, 2K 60 s,
           4K 180 s), so a cold router prefers the smallest size. Races: 60% of
           requests open with a second attempt, and an attempt past the p50 of its
           option gets one, on whatever at or below its size is expected soonest.
balanced   The requested size first, on the route expected to deliver it soonest, for
           at most 35% of the deadline; then the largest smaller size that costs no
           more than the option expected soonest and is expected within the time left
           and within 1.5× that option's time (a size never tried there is explored),
           else whatever is expected soonest. Sizes unlikely to answer are skipped, and
           the requested size is tried only as often as an average of 1.45 upstream
           attempts per request allows (`LoadBudget`), the rest of the requests
           starting smaller.
quality    The same shape with more room for the requested size: 37% of the deadline,
           a lower admission bar (10%) and up to 1.9 attempts per request on average;
           every request opens with two attempts at the requested size while that
           budget affords one more.
========== ==================================================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal

from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.breaker import BreakerPolicy
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.timeouts import AttemptTimeoutPolicy

__all__ = [
    "EXPLORE_SHARE",
    "PRESETS",
    "PRIOR_LATENCY_S",
    "SIZE_SLACK",
    "UNSET",
    "OptionOrder",
    "Preset",
    "PresetName",
    "Unset",
]

PresetName = Literal["latency", "balanced", "quality"]
OptionOrder = Literal["ladder", "likely", "soonest", "size-then-soonest"]
"""``ladder``: requested size first, then smaller, primaries before backups, routes in the
strategy's order; ``likely``: the same ladder, but within a size the route expected to
deliver soonest goes first; ``soonest``: every allowed option by expected time to an image
(primaries, then backups; a smaller size wins while the larger is unmeasured);
``size-then-soonest``: the requested size on the primaries, soonest first, then, size-aware,
the largest smaller size that costs no more than the option expected soonest and is
expected within the time left and within `SIZE_SLACK` times its time (untried: explored),
else that soonest option (primaries, then backups)."""

PRIOR_LATENCY_S: Final = {"1K": 20.0, "2K": 60.0, "4K": 180.0}
"""Latency assumed for a tier before any success is seen, when options are ranked by
expected time (``soonest``, and the route order within a size)."""

SIZE_SLACK: Final = 1.5
"""``size-then-soonest`` after the requested size: a larger size goes before a smaller one
(no dearer, expected within the time left) only while it is expected within this many
times the smaller one's expected time. A tier that takes three times as long (2K in the
2026-01-21 outage: 40–90 s against 1K's 12–30 s) would add its whole latency to the tail
of every request that stepped down."""

EXPLORE_SHARE: Final = 0.25
"""``size-then-soonest`` after the requested size: a tier not yet tried on a route counts
as quick as the smaller one (so it gets measured) only for a request that has used less
than this share of its deadline. One that already waited out the requested size's share
(35% with ``balanced``) is late: a probe of an unknown tier would land in the tail."""


class Unset(enum.Enum):
    """Marks a `Router` argument that was not given, so the preset's default applies."""

    TOKEN = 0


UNSET: Final = Unset.TOKEN


@dataclass(frozen=True, slots=True)
class Preset:
    """The policy defaults one preset stands for.

    Attributes:
        name: The preset's name.
        breaker: When (route, size) breakers open.
        hedge: Hedging (None: off).
        timeouts: Attempt timeouts.
        admission: Admission of options unlikely to answer (None: off).
        order: How options are ordered.
    """

    name: PresetName
    breaker: BreakerPolicy
    hedge: HedgePolicy | None
    timeouts: AttemptTimeoutPolicy | None
    admission: AdmissionPolicy | None
    order: OptionOrder


# Breakers for options that are broken, not merely unlikely: admission and the load budget
# weigh an option that fails half the time; a breaker that opened on it would stop the
# evidence that it still works. No run-of-failures rule: attempts that time out at the
# size's budget land together, after the successes of the same burst, so ten in a row
# says little about an option that delivers 40% of the time.
_ROUTE_AROUND_BROKEN: Final = BreakerPolicy(
    failure_rate=0.9, consecutive_failures=None, min_calls=10
)

PRESETS: Final[dict[PresetName, Preset]] = {
    "latency": Preset(
        name="latency",
        breaker=BreakerPolicy(),
        hedge=HedgePolicy(
            size="1K",
            quantile=0.5,
            min_delay_s=5.0,
            max_delay_s=60.0,
            cold_delay_s=30.0,
            min_samples=3,
            # Six requests in ten open with a second attempt, and every attempt that
            # outlives the p50 of its option is raced, on whatever at or below its size
            # is expected soonest, backups included: the time to an image is what counts.
            # Every request racing from the start took the p95 lower in healthy but past
            # two attempts per request in overload-503.
            target="soonest",
            max_extra_load=1.0,
            race_quantile=0.5,
            race_share=0.6,
            race_backups=True,
        ),
        timeouts=AttemptTimeoutPolicy(factor=1.5, min_samples=10, fallback_share=0.25),
        # In-flight attempts weigh a quarter: a cold burst spreads over the routes of
        # the smallest size instead of spilling onto larger, slower sizes.
        admission=AdmissionPolicy(min_success_rate=0.5, in_flight_weight=0.25),
        order="soonest",
    ),
    "balanced": Preset(
        name="balanced",
        breaker=_ROUTE_AROUND_BROKEN,
        hedge=None,
        timeouts=AttemptTimeoutPolicy(fallback_share=0.35),
        admission=AdmissionPolicy(max_attempts_per_request=1.45),
        order="size-then-soonest",
    ),
    "quality": Preset(
        name="quality",
        breaker=_ROUTE_AROUND_BROKEN,
        # Every request opens with two 4K attempts while the load budget affords it (no
        # smaller hedge: it would only deliver a smaller image sooner). Racing later, at a
        # tail quantile, spent the same budget on step-downs and delivered less 4K.
        hedge=HedgePolicy(size="4K", race_share=1.0, max_extra_load=1.0),
        timeouts=AttemptTimeoutPolicy(fallback_share=0.37),
        admission=AdmissionPolicy(min_success_rate=0.1, max_attempts_per_request=1.9),
        order="size-then-soonest",
    ),
}
"""Every preset by name."""
