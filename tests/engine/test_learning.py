"""What the presets learn from: optimistic admission, option orders, the load
budget in the engine and the per-attempt share of the last size (fake clock)."""

from __future__ import annotations

import math

import pytest

from imagegate import (
    AdmissionPolicy,
    AttemptTimeoutPolicy,
    FakeClock,
    HedgePolicy,
    RetryPolicy,
    Route,
    Router,
)
from imagegate.errors import ConfigurationError, DeadlineExceeded, Overloaded
from imagegate.resilience.stats import OutcomeStats
from imagegate.testing import FakeProvider, fail, succeed


def _stats(calls: int, successes: int) -> OutcomeStats:
    rate = successes / calls if calls else None
    return OutcomeStats(calls, successes, rate, None, None, None, None)


def test_upper_bound_keeps_a_thinly_judged_option_in_play() -> None:
    """Four failures of an option that works half the time do not lock it out; thirty
    outcomes at 7% do."""
    policy = AdmissionPolicy()
    unlucky = _stats(4, 0)
    assert policy.success_estimate(unlucky) == pytest.approx(1 / 6)
    assert policy.upper_bound(unlucky) == pytest.approx(1 / 6 + math.sqrt(5 / 36 / 6))
    assert policy.admits(policy.upper_bound(unlucky), can_step_down=True)
    poor = _stats(30, 2)
    assert not policy.admits(policy.upper_bound(poor), can_step_down=True)
    assert AdmissionPolicy(confidence=0.0).upper_bound(unlucky) == policy.success_estimate(unlucky)


def test_in_flight_weight_fades_with_evidence() -> None:
    """At cold start an attempt in flight weighs as a failure; with a long record it
    hardly counts, so slow calls do not make a good option look bad."""
    policy = AdmissionPolicy()
    assert policy.success_estimate(None, in_flight=3) == pytest.approx(1 / 5)
    record = _stats(38, 19)
    pending = 20 * 2 / 40
    assert policy.success_estimate(record, in_flight=20) == pytest.approx(20 / (38 + pending + 2))
    assert policy.success_estimate(record, in_flight=20) > 0.45


@pytest.mark.parametrize(
    ("field", "value"), [("confidence", -1.0), ("max_attempts_per_request", 0.9)]
)
def test_admission_validates_new_fields(field: str, value: float) -> None:
    """Negative confidence and an impossible attempts target are refused."""
    with pytest.raises(ValueError, match=field):
        AdmissionPolicy(**{field: value})


def test_hedge_target_must_be_known() -> None:
    """HedgePolicy(target=...) is 'likely' or 'soonest'."""
    with pytest.raises(ValueError, match="target"):
        HedgePolicy(target="fastest")  # type: ignore[arg-type]


def test_router_order_is_validated() -> None:
    """An unknown order names the choices."""
    with pytest.raises(ConfigurationError, match="order must be one of"):
        Router([Route("fake", model="m")], order="random")  # type: ignore[arg-type]


async def test_size_then_soonest_learns_the_better_route_and_falls_back_fast(
    clock: FakeClock,
) -> None:
    """Within the requested size the route that delivered sooner goes first; after the
    requested size, the larger untried tier (2K, same price) is explored before 1K."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.default = succeed(latency_s=90.0)
    b.default = succeed(latency_s=30.0)
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with Router(routes, clock=clock, order="size-then-soonest", hedge=None, seed=0) as router:
        for _ in range(3):  # what earlier requests taught it
            router.engine.window("a/m", "4K").record(success=True, latency_s=90.0, now=0.0)
            router.engine.window("b/m", "4K").record(success=True, latency_s=30.0, now=0.0)
        plan = [(o.route.name, o.size) for o in router.engine.reorder(_options(router))]
        result = await router.generate("x", size="4K")
    assert result.route == "b/m"
    assert plan[:2] == [("b/m", "4K"), ("a/m", "4K")]
    assert [size for _, size in plan[2:]] == ["2K", "2K", "1K", "1K"]


async def test_sampled_ranking_explores_then_concentrates(clock: FakeClock) -> None:
    """Routes are ranked by a Thompson draw of their mean latency: one judged slower on a
    few outcomes still goes first now and then; after many outcomes, hardly ever."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    routes = [Route(a, model="m"), Route(b, model="m")]

    def share_first(router: Router, route: str) -> float:
        firsts = [router.engine.reorder(_options(router))[0].route.name for _ in range(400)]
        return firsts.count(route) / len(firsts)

    async with Router(routes, clock=clock, order="size-then-soonest", seed=3) as router:
        windows = router.engine.window("a/m", "4K"), router.engine.window("b/m", "4K")
        for latency in (37.0, 43.0, 49.0):  # a: mean 43 s over three outcomes
            windows[0].record(success=True, latency_s=latency, now=0.0)
        for latency in (38.0, 42.0) * 30:  # b: mean 40 s over sixty
            windows[1].record(success=True, latency_s=latency, now=0.0)
        thin = share_first(router, "a/m")
        for latency in (37.0, 43.0, 49.0) * 20:  # a: the same mean over sixty-three
            windows[0].record(success=True, latency_s=latency, now=0.0)
        firm = share_first(router, "a/m")
    assert 0.05 < thin < 0.5
    assert firm < 0.01


def _options(router: Router) -> list:  # type: ignore[type-arg]
    from imagegate._plan import build_plan
    from imagegate._request import ImageRequest

    engine = router.engine
    request = ImageRequest(prompt="x", size="4K")
    plan = build_plan(request, engine.routes, engine.capabilities, engine.route_order(request))
    return list(plan.options)


async def test_fastest_hedge_takes_the_quickest_smaller_option(clock: FakeClock) -> None:
    """target='soonest' hedges a slow 4K with what is expected soonest at or below the
    hedge size (here 1K on the same route), and the hedge wins."""
    fake = FakeProvider(clock=clock)
    fake.script("4K", succeed(latency_s=500.0))
    fake.script("1K", succeed(latency_s=10.0))
    hedge = HedgePolicy(size="2K", target="soonest", delay_s=60.0)
    async with Router([Route(fake, model="m")], clock=clock, hedge=hedge, admission=None) as r:
        result = await r.generate("x", size="4K", deadline=600)
    assert (result.size, result.latency_s) == ("1K", 70.0)
    assert [(t.size, t.hedge) for t in result.attempts] == [("4K", False), ("1K", True)]


async def test_a_failed_hedge_may_be_followed_by_a_second(clock: FakeClock) -> None:
    """A hedge that fails fast leaves the slow attempt unhedged no longer: one more."""
    fake = FakeProvider(clock=clock)
    fake.script("4K", succeed(latency_s=500.0))
    fake.script("2K", fail(Overloaded("busy"), latency_s=1.0), succeed(latency_s=20.0))
    hedge = HedgePolicy(delay_s=60.0)
    async with Router([Route(fake, model="m")], clock=clock, hedge=hedge, admission=None) as r:
        result = await r.generate("x", size="4K", deadline=600)
    assert [(t.size, t.hedge, t.outcome) for t in result.attempts][1:] == [
        ("2K", True, "error"),
        ("2K", True, "success"),
    ]
    assert result.latency_s == pytest.approx(81.0)


async def test_last_size_attempt_leaves_time_for_another_route(clock: FakeClock) -> None:
    """At the smallest allowed size a hanging attempt is cut at fallback_share of what
    is left, so the next route still gets its chance within the deadline."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.script("1K", fail(DeadlineExceeded("hang", status=504), latency_s=590.0))
    b.script("1K", succeed(latency_s=20.0))
    routes = [Route(a, model="m"), Route(b, model="m")]
    timeouts = AttemptTimeoutPolicy(fallback_share=0.5)
    once = RetryPolicy(attempts=1)
    async with Router(
        routes, clock=clock, hedge=None, timeouts=timeouts, order="ladder", retry=once
    ) as r:
        result = await r.generate("x", size="1K", deadline=600)
    assert [(t.route, t.outcome, t.duration_s) for t in result.attempts] == [
        ("a/m", "timeout", 300.0),
        ("b/m", "success", 20.0),
    ]


async def test_load_budget_starts_requests_smaller_when_the_balance_is_spent(
    clock: FakeClock,
) -> None:
    """4K fails every time: once the balance is spent, requests start at 2K, and the
    average stays near the target."""
    fake = FakeProvider(clock=clock)
    fake.default = succeed(latency_s=10.0)
    fake.script("4K", *(fail(Overloaded("busy"), latency_s=1.0) for _ in range(100)))
    admission = AdmissionPolicy(min_success_rate=0.0, max_attempts_per_request=1.25)
    async with Router(
        [Route(fake, model="m")],
        clock=clock,
        hedge=None,
        admission=admission,
        retry=RetryPolicy(attempts=1),
        order="ladder",
    ) as router:
        for i in range(40):
            await router.generate(f"p{i}", size="4K")
        stats = router.engine.load
        assert stats is not None
        requests = stats.statistics().requests
    assert requests == 40
    assert len(fake.calls) / 40 <= 1.25 + 4.0 / 40  # the target plus the initial balance
    assert len(fake.calls_at("4K")) < 40
