"""`Router.health()`: how each (route, size) is doing, from the router's own evidence."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from imagegate._engine import Engine
from imagegate._numbers import ms, ratio
from imagegate._request import SIZES, Size
from imagegate._route import Route
from imagegate.resilience.breaker import BreakerState
from imagegate.resilience.ratelimit import QuotaLeft

__all__ = ["RouteHealth", "route_health"]


@dataclass(frozen=True, slots=True)
class RouteHealth:
    """How one (route, size) is doing, from the router's own recent evidence.

    Attributes:
        route: The route name.
        size: The tier.
        breaker: ``"closed"``, ``"open"`` or ``"half_open"``.
        calls: Attempts in the outcome window.
        success_rate: Share of them that delivered; None without calls.
        p50_s: Median latency of successes; None without successes.
        p95_s: 95th percentile latency of successes.
        quota: What the route's rate limit allows now; None without one.
        state_degraded: True while the shared state backend (e.g. `RedisState`) is
            unreachable and this process decides on local state instead.
        breaker_open_for_s: Clock seconds until an open breaker lets a probe through
            (0.0 unless ``breaker`` is ``"open"``).
    """

    route: str
    size: Size
    breaker: BreakerState
    calls: int
    success_rate: float | None
    p50_s: float | None
    p95_s: float | None
    quota: QuotaLeft | None
    state_degraded: bool = False
    breaker_open_for_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``json.dumps`` takes it as it is), the quota as a dict of its own;
        figures are rounded where `route_health` builds them."""
        return dataclasses.asdict(self)


def _maybe(rounding: Callable[[float], float], value: float | None) -> float | None:
    return None if value is None else rounding(value)


def _rounded(quota: QuotaLeft) -> QuotaLeft:
    """``quota`` with its waits to the millisecond (no float noise in its repr)."""
    return dataclasses.replace(
        quota,
        next_start_in_s=_maybe(ms, quota.next_start_in_s),
        blocked_for_s=ms(quota.blocked_for_s),
        daily_reset_in_s=ms(quota.daily_reset_in_s),
    )


def route_health(
    engine: Engine, routes: Sequence[Route], *, opened: bool, degraded: bool
) -> list[RouteHealth]:
    """Per (route, size) a route can serve (every tier before the router is open)."""
    now = engine.clock.now()
    report = []
    for index, route in enumerate(routes):
        sizes = engine.capabilities[index].sizes if opened else frozenset(SIZES)
        limiter = engine.limiters[index]
        quota = _rounded(limiter.quota_left()) if limiter is not None else None
        for size in SIZES:
            if size not in sizes:
                continue
            stats = engine.window(route.name, size).statistics(now)
            breaker = engine.breakers.get(route.name, size).statistics()
            report.append(
                RouteHealth(
                    route=route.name,
                    size=size,
                    breaker=breaker.state,
                    calls=stats.calls,
                    success_rate=_maybe(ratio, stats.success_rate),
                    p50_s=_maybe(ms, stats.p50_s),
                    p95_s=_maybe(ms, stats.p95_s),
                    quota=quota,
                    state_degraded=degraded,
                    breaker_open_for_s=ms(breaker.open_for_s),
                )
            )
    return report
