"""Presets: named points on the speed/size frontier (DESIGN §9).

No router can be both as fast as the fastest image any route could have produced and as
sharp as the largest one, so `Router(preset=...)` picks a bundle of policy defaults;
any policy passed explicitly wins over the preset's.

========== ==================================================================================
preset     what it does
========== ==================================================================================
latency    Starts where an image is expected soonest — any allowed size, on the primary
           routes (backups stay last resort) — and steps down eagerly when an option is
           slow or unlikely. Optimises time to an image; the size asked for is a wish.
balanced   The default ladder: the requested size first, on the primaries, keeping half
           the deadline to step down; options unlikely to answer are skipped (admission);
           a 2K hedge after the live p90 of the slow option.
quality    Stays on the requested size as long as it can still succeed: most of the
           deadline for it, a lower admission bar, and a 2K hedge that waits a long
           grace for the 4K to land before settling for less.
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

__all__ = ["PRESETS", "PRIOR_LATENCY_S", "UNSET", "OptionOrder", "Preset", "PresetName", "Unset"]

PresetName = Literal["latency", "balanced", "quality"]
OptionOrder = Literal["ladder", "likely", "fastest"]
"""``ladder``: requested size first, then smaller, primaries before backups, routes in the
strategy's order; ``likely``: the same ladder, but within a size the route most likely to
answer goes first; ``fastest``: every allowed option by expected time to an image
(primaries, then backups)."""

PRIOR_LATENCY_S: Final = {"1K": 20.0, "2K": 60.0, "4K": 180.0}
"""Latency assumed for a tier before any success is seen (``fastest`` ordering)."""


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
            max_extra_load=0.5,
        ),
        timeouts=AttemptTimeoutPolicy(factor=1.5, min_samples=10, fallback_share=0.25),
        admission=AdmissionPolicy(min_success_rate=0.5),
        order="fastest",
    ),
    "balanced": Preset(
        name="balanced",
        breaker=BreakerPolicy(),
        hedge=HedgePolicy(),
        timeouts=AttemptTimeoutPolicy(),
        admission=AdmissionPolicy(),
        order="ladder",
    ),
    "quality": Preset(
        name="quality",
        # A size that still answers half the time is worth trying for quality.
        breaker=BreakerPolicy(failure_rate=0.8, consecutive_failures=6),
        hedge=HedgePolicy(prefer="quality", grace_s=180.0, cold_delay_s=240.0, max_delay_s=360.0),
        timeouts=AttemptTimeoutPolicy(fallback_share=0.75),
        admission=AdmissionPolicy(min_success_rate=0.08),
        order="ladder",
    ),
}
"""Every preset by name."""
