"""The resilience engine end to end on FakeProvider and a fake clock.

Retries and their budget, breakers per (route, size), quotas, rate limits against the
deadline, the hedged race, the budget cap, routing strategies, generate_many, health().
"""

from __future__ import annotations

import asyncio
import functools
import random
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from imagegate import Capabilities, FakeClock, ImageRequest, Route, Router
from imagegate.errors import (
    AllRoutesFailed,
    BudgetExceeded,
    ContentBlocked,
    DeadlineExceeded,
    Overloaded,
    QuotaExhausted,
    RateLimited,
)
from imagegate.guards._breaker import permit_booking
from imagegate.resilience.breaker import BreakerPolicy, BreakerRegistry
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.ratelimit import RateLimit
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing import FakeProvider, fail, succeed


def _router(routes: list[Route], clock: FakeClock, **kwargs: Any) -> Router:
    kwargs.setdefault("retry", RetryPolicy(rng=random.Random(1)))
    kwargs.setdefault("order", "ladder")  # routes in the strategy's order, not learned
    return Router(routes, clock=clock, **kwargs)


async def test_retryable_error_is_retried_after_backoff(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """A 503 is retried on the same option after a jittered wait within its ceiling."""
    fake.script("1K", fail(Overloaded("busy"), latency_s=1.0), succeed(latency_s=5.0))
    retry = RetryPolicy(attempts=3, wait_initial_s=2.0, rng=random.Random(7))
    async with _router([Route(fake, model="m")], clock, retry=retry, hedge=None) as router:
        result = await router.generate("x")
    first, second = result.attempts
    assert (first.number, second.number) == (1, 2)
    assert 0.0 <= second.started - first.ended <= 2.0
    assert result.route == "fake/m"


async def test_retry_hint_is_a_minimum_wait(clock: FakeClock, fake: FakeProvider) -> None:
    """RateLimited.retry_after_s makes the router wait at least that long."""
    fake.script("1K", fail(RateLimited("slow down", retry_after_s=47.0)), succeed())
    async with _router([Route(fake, model="m")], clock, hedge=None) as router:
        result = await router.generate("x")
    assert result.attempts[1].started - result.attempts[0].ended >= 47.0


async def test_retry_that_would_cross_the_deadline_fails_over(clock: FakeClock) -> None:
    """A retry hint longer than the time left sends the request to the next route."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.script("1K", fail(RateLimited("slow down", retry_after_s=500.0)))
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, hedge=None) as router:
        result = await router.generate("x", deadline=60.0)
    assert [t.route for t in result.attempts] == ["a/m", "b/m"]


async def test_long_retry_wait_fails_over_first(clock: FakeClock) -> None:
    """A 429 asking for 60 s sends the request on to the next route at once."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.script("1K", fail(RateLimited("slow down", retry_after_s=60.0), latency_s=1.0))
    b.script("1K", succeed(latency_s=10.0))
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, hedge=None) as router:
        result = await router.generate("x", deadline=600.0)
    assert [t.route for t in result.attempts] == ["a/m", "b/m"]
    assert result.attempts[1].started - result.attempts[0].ended < 1.0
    assert result.latency_s == pytest.approx(11.0)


async def test_deferred_retry_is_made_when_nothing_else_answers(clock: FakeClock) -> None:
    """The put-off retry comes back, at the time it was due, once the ladder is used up."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.script("1K", fail(RateLimited("slow down", retry_after_s=60.0), latency_s=1.0), succeed())
    b.script("1K", fail(ContentBlocked("no", stage="output"), latency_s=5.0))
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, hedge=None) as router:
        result = await router.generate("x", deadline=600.0)
    assert [(t.route, t.number) for t in result.attempts] == [("a/m", 1), ("b/m", 1), ("a/m", 2)]
    assert result.attempts[2].started == pytest.approx(result.attempts[0].ended + 60.0)


async def test_short_retry_wait_stays_on_the_route(clock: FakeClock) -> None:
    """A wait within failover_after_s is simply waited out on the same option."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.script("1K", fail(RateLimited("slow down", retry_after_s=3.0)), succeed())
    routes = [Route(a, model="m"), Route(b, model="m")]
    retry = RetryPolicy(failover_after_s=5.0, rng=random.Random(1))
    async with _router(routes, clock, hedge=None, retry=retry) as router:
        result = await router.generate("x", deadline=600.0)
    assert [t.route for t in result.attempts] == ["a/m", "a/m"]
    assert not b.calls


async def test_empty_retry_budget_fails_over_instead(clock: FakeClock) -> None:
    """When the retry-and-hedge budget is spent, failures go to the next route."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.default = fail(Overloaded("busy"))
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, hedge=None) as router:
        budget = router.engine.budget
        while budget.try_withdraw("retry"):
            pass
        result = await router.generate("x")
    assert [t.route for t in result.attempts] == ["a/m", "b/m"]


async def test_outage_is_not_amplified(clock: FakeClock) -> None:
    """Against a dead route, retries stay near max_extra_load of first attempts."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.default = fail(Overloaded("busy"), latency_s=1.0)
    breaker = BreakerPolicy(min_calls=1000, consecutive_failures=1000)  # keep it closed
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, hedge=None, breaker=breaker) as router:
        for i in range(200):
            await router.generate(f"p{i}")
        stats = router.engine.budget.statistics()
    budget = router.engine.budget
    earned = 0.1 * stats.first_attempts + stats.max_tokens + budget.min_per_s * clock.now()
    assert len(a.calls) == 200 + stats.retries
    assert stats.retries <= earned
    assert stats.retries / stats.first_attempts < 0.2


async def test_open_4k_breaker_leaves_1k_alone(clock: FakeClock, fake: FakeProvider) -> None:
    """Failing 4K calls open the 4K breaker; 1K on the same route still runs."""
    fake.script("4K", *(fail(Overloaded("busy")) for _ in range(50)))
    policy = BreakerPolicy(consecutive_failures=3, cooldown_s=600.0, cooldown_max_s=600.0)
    route = Route(fake, model="m")
    async with _router(
        [route], clock, hedge=None, breaker=policy, retry=RetryPolicy(attempts=1)
    ) as router:
        for i in range(3):
            with pytest.raises(AllRoutesFailed):
                await router.generate(f"p{i}", size="4K", allow_downgrade=False)
        assert router.engine.breakers.get("fake/m", "4K").state == "open"
        with pytest.raises(AllRoutesFailed, match="breaker open"):
            await router.generate("again", size="4K", allow_downgrade=False)
        assert len(fake.calls_at("4K")) == 3
        result = await router.generate("small", size="1K")
        health = {(h.route, h.size): h for h in router.health()}
    assert result.size == "1K"
    assert health[("fake/m", "4K")].breaker == "open"
    assert health[("fake/m", "1K")].breaker == "closed"


async def test_quota_exhausted_opens_until_reset(clock: FakeClock, fake: FakeProvider) -> None:
    """QuotaExhausted keeps the breaker open until reset_at, then lets a probe through."""
    reset_at = datetime.now(UTC) + timedelta(hours=2)
    fake.script("1K", fail(QuotaExhausted("per day", reset_at=reset_at)))
    async with _router([Route(fake, model="m")], clock, hedge=None) as router:
        with pytest.raises(AllRoutesFailed):
            await router.generate("a")
        breaker = router.engine.breakers.get("fake/m", "1K")
        assert breaker.state == "open"
        clock.advance(3600.0)
        assert breaker.state == "open"
        clock.advance(3700.0)
        assert breaker.allow()
        result = await router.generate("b")
    assert result.route == "fake/m"


async def test_quota_exhausted_at_one_size_closes_the_route(clock: FakeClock) -> None:
    """A per-day quota used up at 4K is the route's: 1K on it is not tried until reset."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    reset_at = datetime.now(UTC) + timedelta(hours=2)
    a.script("4K", fail(QuotaExhausted("per day", reset_at=reset_at)))
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, hedge=None) as router:
        first = await router.generate("one", size="4K")
        second = await router.generate("two", size="1K")
        states = {s: router.engine.breakers.get("a/m", s).state for s in ("1K", "2K", "4K")}
    assert [t.route for t in first.attempts] == ["a/m", "b/m"]
    assert [t.route for t in second.attempts] == ["b/m"]
    assert len(a.calls) == 1
    assert states == {"1K": "open", "2K": "open", "4K": "open"}


async def test_rate_limit_skips_option_when_wait_does_not_fit(clock: FakeClock) -> None:
    """With rpm=1 the second request would wait ~60 s; with a 30 s deadline it fails over."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    routes = [Route(a, model="m", rate_limit=RateLimit(rpm=1)), Route(b, model="m")]
    async with _router(routes, clock, hedge=None) as router:
        first = await router.generate("one", deadline=30.0)
        second = await router.generate("two", deadline=30.0)
        waited = await router.generate("three", deadline=300.0)
    assert (first.route, second.route) == ("a/m", "b/m")
    assert waited.route == "a/m"
    assert waited.latency_s >= 50.0


async def test_hedge_wins_over_slow_4k_and_loser_is_possibly_billed(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """A 2K hedge fired after the delay wins; the 4K loser is cancelled and possibly billed."""
    fake.script("4K", succeed(latency_s=500.0))
    fake.script("2K", succeed(latency_s=60.0))
    hedge = HedgePolicy(size="2K", delay_s=100.0)
    async with _router([Route(fake, model="m")], clock, hedge=hedge) as router:
        result = await router.generate("x", size="4K")
    assert (result.size, result.downgraded, result.latency_s) == ("2K", True, 160.0)
    slow, quick = result.attempts
    assert (slow.size, slow.outcome, slow.billing, slow.hedge) == (
        "4K",
        "cancelled",
        "possibly_billed",
        False,
    )
    assert (quick.size, quick.outcome, quick.hedge) == ("2K", "success", True)
    assert fake.calls_at("4K")[0].result == "cancelled"
    assert result.cost_usd == pytest.approx(0.02)
    assert router.spend().possibly_billed_usd == pytest.approx(0.01)


async def test_fast_4k_is_not_hedged(clock: FakeClock, fake: FakeProvider) -> None:
    """A 4K that answers before the delay is never hedged."""
    fake.script("4K", succeed(latency_s=50.0))
    async with _router([Route(fake, model="m")], clock, hedge=HedgePolicy(delay_s=100.0)) as r:
        result = await r.generate("x", size="4K")
    assert (result.size, len(result.attempts)) == ("4K", 1)


async def test_quality_preference_waits_grace_for_4k(clock: FakeClock, fake: FakeProvider) -> None:
    """prefer="quality": a 2K hedge win waits grace_s and the 4K arriving in time wins."""
    fake.script("4K", succeed(latency_s=170.0))
    fake.script("2K", succeed(latency_s=50.0))
    hedge = HedgePolicy(delay_s=100.0, prefer="quality", grace_s=30.0)
    async with _router([Route(fake, model="m")], clock, hedge=hedge) as router:
        result = await router.generate("x", size="4K")
    assert (result.size, result.latency_s) == ("4K", 170.0)
    assert [a.outcome for a in result.attempts] == ["success", "success"]


async def test_hedge_goes_to_the_route_most_likely_to_answer(clock: FakeClock) -> None:
    """The hedge picks the 2K option with the best recent success rate."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    routes = [Route(a, model="m"), Route(b, model="m")]
    hedge = HedgePolicy(delay_s=100.0)
    async with _router(routes, clock, hedge=hedge, retry=RetryPolicy(attempts=1)) as router:
        for i in range(4):  # teach the router: a@2K fails, b@2K works
            a.script("2K", fail(Overloaded("busy")))
            b.script("2K", succeed(latency_s=20.0))
            await router.generate(f"warm{i}", size="2K")
        a.script("4K", succeed(latency_s=900.0))
        result = await router.generate("x", size="4K")
    assert result.route == "b/m"
    assert result.attempts[-1].hedge


async def test_budget_cap_is_never_crossed(clock: FakeClock, fake: FakeProvider) -> None:
    """With a $0.025 cap and $0.01 images, the third request raises BudgetExceeded."""
    async with _router([Route(fake, model="m")], clock, budget_usd=0.025) as router:
        await router.generate("a")
        await router.generate("b")
        with pytest.raises(BudgetExceeded):
            await router.generate("c")
        spend = router.spend()
    assert spend.total_usd <= 0.025
    assert len(fake.calls) == 2


async def test_prompt_block_fails_over_only_when_allowed(clock: FakeClock) -> None:
    """failover_on_blocked=True sends a blocked prompt on to the next route."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.script("1K", fail(ContentBlocked("PROHIBITED_CONTENT", stage="prompt")))
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, failover_on_blocked=True) as router:
        result = await router.generate("x")
    assert result.route == "b/m"


@pytest.mark.parametrize(("strategy", "expected"), [("priority", "a/m"), ("cheapest", "b/m")])
async def test_strategies_order_primaries(clock: FakeClock, strategy: str, expected: str) -> None:
    """priority keeps the given order; cheapest picks the lower list price first."""
    a = FakeProvider("a", clock=clock, capabilities=Capabilities(price_usd={"1K": 0.08}))
    b = FakeProvider("b", clock=clock, capabilities=Capabilities(price_usd={"1K": 0.04}))
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, strategy=strategy) as router:  # type: ignore[arg-type]
        result = await router.generate("x")
    assert result.route == expected


async def test_fastest_strategy_learns_latency(clock: FakeClock) -> None:
    """fastest tries each route once, then prefers the one whose successes were quicker."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.default, b.default = succeed(latency_s=50.0), succeed(latency_s=5.0)
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, strategy="fastest") as router:
        chosen = [(await router.generate(f"p{i}")).route for i in range(4)]
    assert chosen == ["a/m", "b/m", "b/m", "b/m"]


async def test_weighted_strategy_splits_traffic(clock: FakeClock) -> None:
    """weighted sends traffic in proportion to the weights."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    routes = [Route(a, model="m", weight=3.0), Route(b, model="m", weight=1.0)]
    async with _router(routes, clock, strategy="weighted", seed=3) as router:
        for i in range(200):
            await router.generate(f"p{i}")
    assert 120 <= len(a.calls) <= 180


async def test_generate_many_yields_every_request_once(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """Every input gives exactly one BatchResult, errors included, as they complete."""
    fake.script("2K", succeed(latency_s=100.0))
    requests: list[Any] = ["fast", {"prompt": "slow", "size": "2K"}, {"prompt": ""}, "fast2"]
    async with _router([Route(fake, model="m")], clock) as router:
        answers = [item async for item in router.generate_many(requests, concurrency=4)]
    assert sorted(a.index for a in answers) == [0, 1, 2, 3]
    assert answers[-1].index == 1  # the slow one lands last
    bad = next(a for a in answers if a.index == 2)
    assert not bad.ok
    assert "prompt" in str(bad.error)


async def test_cancelling_generate_leaves_nothing_running(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """Cancelling a request mid-flight cancels its attempts and leaves no task behind."""
    fake.default = succeed(latency_s=1000.0)
    before = set(asyncio.all_tasks())
    async with _router([Route(fake, model="m")], clock) as router:
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(router.generate, "x", size="4K"))
            await clock.run_until_idle()
            tg.cancel_scope.cancel()
        assert router.engine.dispatcher.statistics().in_flight == 0
    assert all(c.result == "cancelled" for c in fake.calls)
    await clock.run_until_idle()
    assert set(asyncio.all_tasks()) - before <= {asyncio.current_task()}


async def test_breaking_out_of_generate_many_cancels_the_rest(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """Leaving generate_many early cancels the requests still running."""
    fake.script("1K", succeed(latency_s=1.0))
    fake.default = succeed(latency_s=1000.0)
    async with _router([Route(fake, model="m")], clock) as router:
        async with aclosing(router.generate_many(["a", "b", "c"], concurrency=3)) as results:
            async for first in results:
                assert first.ok
                break
        assert router.engine.dispatcher.statistics().in_flight == 0
    assert sorted(c.result for c in fake.calls) == ["cancelled", "cancelled", "success"]


async def test_attempt_timeout_counts_as_deadline_exceeded(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """Our own timeout yields DeadlineExceeded with billing possibly_billed."""
    fake.default = succeed(latency_s=1000.0)
    async with _router([Route(fake, model="m")], clock, attempt_timeout_s=100.0, hedge=None) as r:
        with pytest.raises(AllRoutesFailed) as info:
            await r.generate("x", deadline=250.0, allow_downgrade=False)
    errors = info.value.errors
    assert all(isinstance(e, DeadlineExceeded) for e in errors)
    assert {a.billing for a in info.value.attempts} == {"possibly_billed"}
    assert clock.now() <= 250.0


async def test_queueing_counts_against_the_deadline(clock: FakeClock, fake: FakeProvider) -> None:
    """With one slot busy for 1000 s, a request with a 50 s deadline gives up in time."""
    fake.default = succeed(latency_s=1000.0)
    router = _router([Route(fake, model="m")], clock, max_in_flight=1, hedge=None)
    async with router, anyio.create_task_group() as tg:
        tg.start_soon(router.generate, "hog")
        await clock.run_until_idle()
        with pytest.raises(AllRoutesFailed, match="queued"):
            await router.generate("late", deadline=50.0)
        assert clock.now() == pytest.approx(50.0)
        tg.cancel_scope.cancel()


async def test_a_kept_booking_is_this_steps_own() -> None:
    """The gate's booking is built once per breaker step and handed out again for that
    very step; another breaker's step gets its own."""
    registry, kept = BreakerRegistry(), {}
    first, second = registry.get("a/m", "1K"), registry.get("b/m", "1K")
    booking = permit_booking(first, kept)
    assert permit_booking(first, kept) is booking
    other = permit_booking(second, kept)
    assert other is not booking
    assert other.step is second.acquire_step()
    assert permit_booking(first) is not booking  # nowhere to keep it: built afresh


async def test_a_plans_kept_split_is_a_fresh_list_each_time() -> None:
    """A plan led by one route is split once and handed out again as a new list (the
    cursor re-ranks its tail in place); two routes leading it are drawn every time."""
    clock = FakeClock()
    one = [Route(FakeProvider("a", clock=clock), model="m")]
    async with Router(one, clock=clock, seed=0) as router:
        engine = router.engine
        options = engine.plan(ImageRequest.build("p", size="4K")).options
        first, second = engine.rank(options), engine.rank(options)
        assert first.options == second.options
        assert first.options is not second.options
        first.options.reverse()
        assert engine.rank(options).options == second.options
    two = [Route(FakeProvider(name, clock=clock), model="m") for name in ("a", "b")]
    async with Router(two, clock=clock, seed=1) as router:
        engine = router.engine
        options = engine.plan(ImageRequest.build("p", size="4K")).options
        leads = {engine.rank(options).options[0].route.name for _ in range(40)}
        assert leads == {"a/m", "b/m"}  # each draw may put either first
