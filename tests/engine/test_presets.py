"""Presets: defaults along the speed/size frontier, overridden by explicit arguments."""

from __future__ import annotations

import pytest

from imagegate import AttemptTimeoutPolicy, FakeClock, HedgePolicy, Route, Router
from imagegate._presets import PRESETS
from imagegate.errors import ConfigurationError
from imagegate.resilience.breaker import BreakerPolicy
from imagegate.testing import FakeProvider, succeed


def test_balanced_is_the_default() -> None:
    """Without a preset the router runs the balanced policies."""
    router = Router([Route("fake", model="m")])
    assert router.preset == "balanced"
    assert router.engine.order == "size-then-soonest"
    assert router.engine.load is not None
    assert router.engine.load.max_attempts_per_request == 1.45
    assert router.engine.hedge == PRESETS["balanced"].hedge


@pytest.mark.parametrize("name", ["latency", "balanced", "quality"])
def test_each_preset_supplies_its_policies(name: str) -> None:
    """A preset's hedge, timeouts, admission, breaker and order reach the engine."""
    router = Router([Route("fake", model="m")], preset=name)  # type: ignore[arg-type]
    preset = PRESETS[name]  # type: ignore[index]
    engine = router.engine
    assert (engine.hedge, engine.timeouts, engine.admission, engine.order) == (
        preset.hedge,
        preset.timeouts,
        preset.admission,
        preset.order,
    )
    assert engine.breakers.policy == preset.breaker


def test_explicit_arguments_win() -> None:
    """hedge=None, a custom breaker or admission=None override the preset."""
    breaker = BreakerPolicy(failure_rate=0.9)
    router = Router(
        [Route("fake", model="m")], preset="quality", hedge=None, breaker=breaker, admission=None
    )
    assert router.engine.hedge is None
    assert router.engine.admission is None
    assert router.engine.breakers.policy == breaker
    assert router.engine.timeouts == PRESETS["quality"].timeouts


def test_unknown_preset_is_refused() -> None:
    """A misspelt preset is a ConfigurationError listing the choices."""
    with pytest.raises(ConfigurationError, match="latency, balanced, quality"):
        Router([Route("fake", model="m")], preset="fast")  # type: ignore[arg-type]


async def test_latency_starts_where_an_image_comes_soonest(clock: FakeClock) -> None:
    """latency tries the smallest size first on a cold router, and the learned fastest
    route later; the balanced ladder starts at the requested size."""
    fake = FakeProvider(clock=clock)
    fake.default = succeed(latency_s=20.0)  # a same-size race gets the same answer
    # Seeded: the cold ranking is a Thompson draw around each size's prior latency, and
    # just under 1% of unseeded draws put 2K (rarely 4K) ahead of 1K.
    async with Router([Route(fake, model="m")], clock=clock, preset="latency", seed=0) as router:
        quick = await router.generate("x", size="4K")
    assert (quick.size, quick.latency_s) == ("1K", 20.0)
    async with Router([Route(fake, model="m")], clock=clock, hedge=None) as router:
        ladder = await router.generate("y", size="4K")
    assert ladder.size == "4K"


async def test_fastest_order_follows_learned_latency(clock: FakeClock) -> None:
    """Under latency, a route whose 2K answers in 5 s beats another's 1K at 50 s."""
    slow = FakeProvider("slow", clock=clock)
    fast = FakeProvider("fast", clock=clock)
    slow.default = succeed(latency_s=50.0)
    fast.default = succeed(latency_s=5.0)
    routes = [Route(slow, model="m"), Route(fast, model="m")]
    # Seeded: options are ranked by a Thompson draw, and a few unseeded draws in a thousand
    # put the unmeasured fast 1K (cold prior 20 s) ahead of the measured fast 2K.
    async with Router(routes, clock=clock, preset="latency", seed=0) as router:
        for i in range(3):  # learn: every (route, size) gets measured
            router.engine.window("slow/m", "1K").record(success=True, latency_s=50.0, now=0.0)
            router.engine.window("fast/m", "2K").record(success=True, latency_s=5.0, now=0.0)
            del i
        result = await router.generate("x", size="2K")
    assert (result.route, result.size) == ("fast/m", "2K")


async def test_quality_waits_for_the_larger_image(clock: FakeClock) -> None:
    """quality's hedge waits its grace for a 4K that lands after the 2K hedge."""
    fake = FakeProvider(clock=clock)
    fake.script("4K", succeed(latency_s=400.0))
    fake.script("2K", succeed(latency_s=60.0))
    hedge = HedgePolicy(prefer="quality", grace_s=180.0, delay_s=240.0)
    timeouts = AttemptTimeoutPolicy(fallback_share=0.75)
    async with Router(
        [Route(fake, model="m")], clock=clock, preset="quality", hedge=hedge, timeouts=timeouts
    ) as r:
        result = await r.generate("x", size="4K", deadline=600)
    assert (result.size, result.latency_s) == ("4K", 400.0)
