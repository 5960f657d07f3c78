"""Prices: the ``price_usd`` route option, and the cost an answer reports.

A route may override a provider's list prices with one number for every tier or a tier →
price mapping; an answer's own cost (credits, dollars) is read defensively, since an
upstream body is not trusted to hold a sane number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from imagegate._request import SIZES, Size
from imagegate.errors import ConfigurationError

__all__ = ["parse_price_option", "reported_cost_usd"]


def parse_price_option(value: object, *, provider: str) -> dict[Size, float] | None:
    """Validate a ``price_usd`` option: one price for every tier, or a tier → price map.

    Raises:
        ConfigurationError: neither a non-negative finite number nor a mapping of tiers to
            such numbers.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and _price(value):
        return dict.fromkeys(SIZES, float(value))
    if isinstance(value, Mapping) and all(_tier_price(k, v) for k, v in value.items()):
        return {k: float(v) for k, v in value.items()}
    raise ConfigurationError(
        f"{provider}: price_usd must be a non-negative number or a mapping of "
        f"{', '.join(SIZES)} to prices, got {value!r}"
    )


def _tier_price(tier: object, value: object) -> bool:
    return tier in SIZES and isinstance(value, int | float) and _price(value)


def _price(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def reported_cost_usd(value: object, *, usd_per_unit: float = 1.0) -> float | None:
    """The cost an answer reports, in dollars; None when it carries no number.

    An upstream's body is not trusted to be sane: a number too large for a float (an
    integer of 400 digits) reads as infinity instead of raising, and the router books the
    catalogue estimate for any cost `imagegate._provider.plausible_cost` refuses.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value) * usd_per_unit
    except OverflowError:
        return math.inf
