"""Wall time that follows the injected clock: daily quotas (a router's ``rpd``, the
Gemini adapter's per-day 429 and the breaker it opens) end at the simulated midnight,
whatever the real time of day. Each check runs from two wall starts, so a result that
depended on the real clock could not pass both."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from imagegate import Route, Router
from imagegate.bench import run_virtual
from imagegate.errors import AllRoutesFailed, QuotaExhausted
from imagegate.providers._google_errors import next_quota_reset
from imagegate.resilience import FakeClock, LoopClock, RateLimit, ScaledClock, wall_clock
from imagegate.testing import FakeProvider
from imagegate.testing.simulator import Simulator, load_scenario

_LA = ZoneInfo("America/Los_Angeles")

# Two wall starts in winter (the simulator's default reset offset, -8 h, is then Los
# Angeles' own): 02:00 Pacific, 22 h before the reset, and 23:30 Pacific, 30 min before.
STARTS = [
    pytest.param(datetime(2026, 1, 21, 10, 0, tzinfo=UTC), 22 * 3600.0, id="02:00-pacific"),
    pytest.param(datetime(2026, 1, 22, 7, 30, tzinfo=UTC), 30 * 60.0, id="23:30-pacific"),
]


class _Bare:
    """A clock written before ``wall()`` existed: ``now`` and ``sleep`` only."""

    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        return None


def test_a_fake_clock_s_wall_time_moves_with_it() -> None:
    """``wall_start`` stands for ``start``; advancing the clock advances the wall time."""
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock = FakeClock(100.0, wall_start=start)
    assert clock.wall() == start
    clock.advance(86_400.0)
    assert wall_clock(clock)() == start + timedelta(days=1)
    naive = FakeClock(wall_start=datetime(2026, 3, 1, 12, 0))
    assert naive.wall() == start  # naive is UTC


def test_a_fake_clock_without_a_wall_start_anchors_on_the_real_time() -> None:
    """Without ``wall_start`` the wall time starts at the real one, then follows the clock."""
    before = datetime.now(UTC)
    clock = FakeClock()
    after = datetime.now(UTC)
    clock.advance(3600.0)
    assert before + timedelta(hours=1) <= clock.wall() <= after + timedelta(hours=1)


def test_a_scaled_clock_s_wall_time_is_its_start_plus_simulated_seconds() -> None:
    """With ``start``, wall time is that start plus the simulated seconds since first read."""
    start = datetime(2026, 1, 21, 10, 0, tzinfo=UTC)

    async def read() -> tuple[float, datetime]:
        clock = ScaledClock(1.0, start=start)
        clock.now()
        await clock.sleep(5.0)  # five virtual seconds
        return clock.now(), clock.wall()

    elapsed, wall = run_virtual(read())
    assert wall == start + timedelta(seconds=elapsed)
    assert elapsed >= 5.0


def test_clocks_without_wall_keep_working_on_the_real_time() -> None:
    """A clock with no ``wall()`` reads the real UTC time, as the loop clock does."""
    before = datetime.now(UTC)
    walls = (wall_clock(_Bare())(), wall_clock(LoopClock())(), LoopClock().wall())
    after = datetime.now(UTC)
    assert all(before <= wall <= after for wall in walls)


@pytest.mark.parametrize(("start", "to_midnight_s"), STARTS)
async def test_a_router_rpd_resets_at_the_simulated_midnight(
    start: datetime, to_midnight_s: float
) -> None:
    """rpd=2 on a fake clock: the third request waits exactly until the next Pacific
    midnight of the clock's wall time, then goes through."""
    clock = FakeClock(autojump=True, wall_start=start)
    provider = FakeProvider("a", clock=clock)
    route = Route(provider, model="m", rate_limit=RateLimit(rpd=2, margin_s=0.0))
    async with clock, Router([route], clock=clock, seed=0) as router:
        for _ in range(2):
            await router.generate("a cat", deadline=None)
        assert clock.now() == 0.0
        await router.generate("a cat", deadline=None)
        assert clock.now() == pytest.approx(to_midnight_s)
        assert clock.wall().astimezone(_LA).time().hour == 0
        await router.generate("a cat", deadline=60.0)  # the new day's second
        with pytest.raises(AllRoutesFailed):  # and no third
            await router.generate("a cat", deadline=60.0)


def _gemini_router(sim: Simulator) -> Router:
    route = Route(
        "gemini",
        model="gemini-3-pro-image",
        base_url=sim.base_url("gemini"),
        api_key=sim.api_key("gemini"),
    )
    return Router([route], clock=sim.clock, today=date(2026, 1, 1), seed=1)


async def _free_tier_day(start: datetime) -> tuple[QuotaExhausted, float, float, bool]:
    """On the free tier from ``start``: two images, then the per-day 429; its error, the
    simulated seconds then left to the reset, the breaker's wait, and whether a request
    sent at the reset goes through."""
    scenario = load_scenario("free-tier").model_copy(update={"start": start})
    async with Simulator(scenario, time_scale=1.0) as sim, _gemini_router(sim) as router:
        for i in range(2):
            await router.generate(f"cat {i} [sim:success~0]")
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate("cat 2 [sim:success~0]")
        error = caught.value.attempts[-1].error
        assert isinstance(error, QuotaExhausted)
        left_s = (error.reset_at - sim.clock.wall()).total_seconds() if error.reset_at else -1.0
        (health,) = [h for h in router.health() if h.size == "1K"]
        breaker_wait_s = health.breaker_open_for_s
        await sim.clock.sleep(left_s)
        result = await router.generate("cat 3 [sim:success~0]")
        return error, left_s, breaker_wait_s, result.image is not None


@pytest.mark.parametrize(("start", "to_midnight_s"), STARTS)
def test_gemini_s_daily_quota_resets_at_the_simulator_s_midnight(
    start: datetime, to_midnight_s: float
) -> None:
    """The adapter's ``reset_at`` for the simulator's per-day 429 is the scenario's next
    Pacific midnight; the breaker waits until then, and then the quota is back."""
    error, left_s, breaker_wait_s, delivered = run_virtual(_free_tier_day(start))
    assert error.reset_at == next_quota_reset(start)
    assert error.retry_after_s == pytest.approx(left_s)
    assert 0 < left_s <= to_midnight_s
    assert to_midnight_s - left_s < 600  # the two images and the 429 took no longer
    assert breaker_wait_s == pytest.approx(left_s, abs=1.0)
    assert delivered
