"""Size-aware option order: after the requested size, the largest tier that costs no
more and is expected about as soon goes first, untried tiers are explored, and every
option not tried is listed in `ImageResult.skipped` with its reason."""

from __future__ import annotations

import logging

import pytest

from _logcapture import captured_events
from imagegate import Capabilities, FakeClock, RetryPolicy, Route, Router, SkippedOption
from imagegate._plan import Option, build_plan
from imagegate._ranking import PassedOver
from imagegate._request import SIZES, ImageRequest
from imagegate._skips import classify
from imagegate.errors import Overloaded, QuotaExhausted
from imagegate.resilience.breaker import BreakerPolicy
from imagegate.testing import FakeProvider, fail, succeed
from imagegate.testing.simulator import Simulator


def _four_k_fails_fast(fake: FakeProvider) -> None:
    """4K fails in 2 s every time; 2K and 1K both answer in 20 s."""
    fake.script("4K", *(fail(Overloaded("busy"), latency_s=2.0) for _ in range(200)))
    fake.script("2K", *(succeed(latency_s=20.0) for _ in range(200)))
    fake.script("1K", *(succeed(latency_s=20.0) for _ in range(200)))


@pytest.mark.parametrize("preset", [None, "balanced", "quality"])
async def test_every_preset_but_latency_delivers_the_middle_tier(
    clock: FakeClock, preset: str | None
) -> None:
    """4K fails fast, 2K answers as quickly as 1K at the same price: request after
    request delivers 2K, and `skipped` says why 1K (and later 4K) were not tried."""
    fake = FakeProvider(clock=clock)
    _four_k_fails_fast(fake)
    kwargs = {} if preset is None else {"preset": preset}
    async with Router([Route(fake, model="m")], clock=clock, seed=0, **kwargs) as router:
        results = [await router.generate(f"p{i}", size="4K") for i in range(6)]
    assert [r.size for r in results] == ["2K"] * 6
    for result in results:
        tried = {(a.route, a.size) for a in result.attempts}
        listed = {(s.route, s.size) for s in result.skipped}
        assert tried | listed == {("fake/m", size) for size in SIZES}
        assert not tried & listed
        assert SkippedOption("fake/m", "1K", "not_needed") in result.skipped
    # Once 4K's failures are known, it is not always tried: the reason says why.
    not_4k = [s for r in results for s in r.skipped if s.size == "4K"]
    assert not_4k
    assert all(s.reason in {"admission", "load_budget", "breaker_open"} for s in not_4k)
    assert all(s.detail for s in not_4k)


async def test_latency_prefers_the_smallest_size_and_says_why(clock: FakeClock) -> None:
    """The latency preset starts where an image is expected soonest (1K, untried larger
    sizes counted as slower) and lists the larger sizes as 'slower'."""
    fake = FakeProvider(clock=clock)
    _four_k_fails_fast(fake)
    async with Router([Route(fake, model="m")], clock=clock, preset="latency", seed=0) as router:
        result = await router.generate("p", size="4K")
    assert result.size == "1K"
    assert [(s.size, s.reason) for s in result.skipped] == [("2K", "slower"), ("4K", "slower")]
    assert str(result.skipped[0]) == "fake/m@2K: 1K was expected sooner"


async def test_the_middle_tier_is_explored_cold_then_judged(clock: FakeClock) -> None:
    """A cold 2K is tried before 1K (optimistic: as quick as 1K); measured at 60 s
    against 1K's 20 s, the next request steps down to 1K and says 2K is slower."""
    fake = FakeProvider(clock=clock)
    fake.script("4K", *(fail(Overloaded("busy"), latency_s=2.0) for _ in range(20)))
    fake.script("2K", *(succeed(latency_s=60.0) for _ in range(20)))
    fake.script("1K", *(succeed(latency_s=20.0) for _ in range(20)))
    async with Router([Route(fake, model="m")], clock=clock, seed=0) as router:
        first = await router.generate("p1", size="4K")
        router.engine.window("fake/m", "1K").record(success=True, latency_s=20.0, now=0.0)
        second = await router.generate("p2", size="4K")
    assert first.size == "2K"
    assert second.size == "1K"
    reasons = {s.size: (s.reason, s.detail) for s in second.skipped}
    assert reasons["2K"][0] == "slower"
    assert reasons["2K"][1].startswith("expected in 90 s, 1K on fake/m in")


async def test_a_late_request_leaves_exploring_to_others(clock: FakeClock) -> None:
    """A request that waited out 4K's share of its deadline (35%) does not probe an
    untried 2K: judged by the cold prior (60 s against 1K's 20 s), it steps to 1K;
    an early request (4K failed fast) explores 2K."""
    fake = FakeProvider(clock=clock)
    fake.script("4K", succeed(latency_s=1000.0), fail(Overloaded("busy"), latency_s=2.0))
    fake.script("2K", *(succeed(latency_s=20.0) for _ in range(5)))
    fake.script("1K", *(succeed(latency_s=20.0) for _ in range(5)))
    retry_once = RetryPolicy(attempts=1)
    async with Router([Route(fake, model="m")], clock=clock, retry=retry_once, seed=0) as router:
        late = await router.generate("late", size="4K", deadline=600)
        router.engine.windows.clear()  # forget what the late request measured
        early = await router.generate("early", size="4K", deadline=600)
    assert [(a.size, a.outcome) for a in late.attempts] == [("4K", "timeout"), ("1K", "success")]
    assert {s.size: s.reason for s in late.skipped} == {"2K": "slower"}
    assert early.size == "2K"


def _options(router: Router, size: str = "4K") -> list[Option]:
    engine = router.engine
    request = ImageRequest.build(prompt="x", size=size)  # type: ignore[arg-type]
    plan = build_plan(request, engine.routes, engine.capabilities, engine.route_order(request))
    return [o for o in plan.options if o.size != size]


def _sizes(options: list[Option]) -> list[str]:
    return [o.size for o in options]


async def test_a_burst_explores_an_untried_tier_once(clock: FakeClock) -> None:
    """An untried tier with an attempt in flight and no outcome yet is judged by the
    cold prior again (2K slower than 1K): one request of a burst explores it."""
    async with Router([Route(FakeProvider(clock=clock), model="m")], clock=clock, seed=0) as router:
        engine, rest = router.engine, _options(router)
        assert _sizes(engine.rank_rest(rest, remaining_s=600.0, explore=True)) == ["2K", "1K"]
        engine.in_flight[("fake/m", "2K")] += 1
        assert _sizes(engine.rank_rest(rest, remaining_s=600.0, explore=True)) == ["1K", "2K"]


async def test_a_dearer_larger_tier_goes_after_the_smaller_one(clock: FakeClock) -> None:
    """2K at twice 1K's price is not tried first, and the note says what each costs."""
    prices = {"1K": 0.134, "2K": 0.268, "4K": 0.24}
    caps = Capabilities(max_n=4, price_usd=prices)
    fake = FakeProvider(clock=clock, capabilities=caps)
    async with Router([Route(fake, model="m")], clock=clock, seed=0) as router:
        notes: PassedOver = {}
        ranked = router.engine.rank_rest(
            _options(router), remaining_s=600.0, explore=True, passed_over=notes
        )
    assert _sizes(ranked) == ["1K", "2K"]
    assert notes[(("fake/m", "2K"), ("fake/m", "1K"))] == (
        "larger_price",
        "2K costs $0.268 an image, 1K on fake/m $0.134",
    )


async def test_a_larger_tier_that_would_not_fit_the_time_left_goes_after(
    clock: FakeClock,
) -> None:
    """2K expected in 30 s (within 1.5× of 1K's 20 s) but 25 s left: 1K first."""
    async with Router([Route(FakeProvider(clock=clock), model="m")], clock=clock) as router:
        engine = router.engine
        for size, latency in (("1K", 10.0), ("2K", 15.0)):
            for _ in range(20):
                engine.window("fake/m", size).record(success=True, latency_s=latency, now=0.0)
        rest = _options(router)
        assert _sizes(engine.rank_rest(rest, remaining_s=600.0, explore=True)) == ["2K", "1K"]
        notes: PassedOver = {}
        assert _sizes(
            engine.rank_rest(rest, remaining_s=15.0, explore=True, passed_over=notes)
        ) == [
            "1K",
            "2K",
        ]
    reason, detail = notes[(("fake/m", "2K"), ("fake/m", "1K"))]
    assert reason == "slower_than_time_left"
    assert detail.endswith("15 s left")


async def test_primaries_come_before_backups_whatever_their_size(clock: FakeClock) -> None:
    """The size-aware step never puts a backup's larger tier before a primary."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    routes = [Route(a, model="m"), Route(b, model="m", backup=True)]
    async with Router(routes, clock=clock) as router:
        ranked = router.engine.reorder(_options(router))
    assert [(o.route.name, o.size) for o in ranked] == [
        ("a/m", "2K"),
        ("a/m", "1K"),
        ("b/m", "2K"),
        ("b/m", "1K"),
    ]


async def test_skipped_names_the_breaker_and_the_route_that_cannot(clock: FakeClock) -> None:
    """A breaker open at 2K and a route without 4K: each appears with its reason."""
    caps = Capabilities(sizes=frozenset({"1K", "2K"}), max_n=4)
    fake = FakeProvider(clock=clock, capabilities=caps)
    async with Router(
        [Route(fake, model="m")], clock=clock, breaker=BreakerPolicy(), hedge=None
    ) as router:
        breaker = router.engine.breakers.get("fake/m", "2K")
        await breaker.open_for_quota(QuotaExhausted("used up for the day"))
        result = await router.generate("p", size="4K")
    assert result.size == "1K"
    assert [(s.size, s.reason) for s in result.skipped] == [
        ("4K", "unsupported"),
        ("2K", "breaker_open"),
    ]


def test_guard_reasons_are_classified() -> None:
    """The built-in guards' words map onto reasons; a custom guard's stay 'guard'."""
    cases = {
        "breaker open": "breaker_open",
        "estimated success 12% (at best 18%) too low": "admission",
        "load budget spent: stepping down": "load_budget",
        "rate limit or quota leaves no room before the deadline": "quota",
        "rate limit or quota leaves no room": "quota",
        "shared state did not answer in time": "shared_state",
        "deadline reached while queued": "deadline",
        "time for 4K used up (kept for smaller sizes)": "deadline",
        "route rejected the request": "route_rejected",
        "out of attempt tickets": "guard",
    }
    assert {text: classify(text) for text in cases} == cases


async def test_one_debug_event_per_request_lists_the_skipped_options(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At debug level each request logs `options.skipped` once, with route, size and
    reason of every option it did not try."""
    fake = FakeProvider(clock=clock)
    _four_k_fails_fast(fake)
    with captured_events() as events:
        async with Router([Route(fake, model="m")], clock=clock, seed=0) as router:
            result = await router.generate("p", size="4K")
    listed = [e for e in events if e["event"] == "options.skipped"]
    assert len(listed) == 1
    assert listed[0]["log_level"] == logging.getLevelName(logging.DEBUG).lower()
    assert listed[0]["request_id"] == result.request_id
    assert listed[0]["skipped"] == [
        {"route": "fake/m", "size": "1K", "reason": "not_needed", "detail": ""}
    ]


async def test_the_readme_example_steps_down_to_2k_on_the_simulator() -> None:
    """The README's routes (Gemini, OpenAI as backup) asked for 4K on the simulator:
    Gemini's 4K answers 504 "Deadline expired" every time, 2K and 1K answer alike; the
    request steps down to 2K, not 1K."""
    prompt = (
        "a lighthouse at dusk [sim@gemini/4K:deadline~10] "
        "[sim@gemini/2K:success~20] [sim@gemini/1K:success~20]"
    )
    async with Simulator("healthy", seed=0, time_scale=0.01) as sim:
        routes = [
            Route(
                "gemini",
                model="gemini-3-pro-image",
                base_url=sim.base_url("gemini"),
                api_key=sim.api_key("gemini"),
            ),
            Route(
                "openai",
                model="gpt-image-1.5",
                backup=True,
                base_url=sim.base_url("openai"),
                api_key=sim.api_key("openai"),
            ),
        ]
        async with Router(routes, clock=sim.clock, seed=0) as router:
            result = await router.generate(prompt, size="4K", aspect_ratio="16:9", deadline=300)
    assert (result.route, result.size, result.downgraded) == (
        "gemini/gemini-3-pro-image",
        "2K",
        True,
    )
    *failed, won = [(a.size, a.outcome) for a in result.attempts]
    assert won == ("2K", "success")
    assert failed
    assert set(failed) == {("4K", "error")}
    reasons = {(s.route.split("/")[0], s.size): s.reason for s in result.skipped}
    assert reasons == {
        ("openai", "4K"): "unsupported",  # gpt-image-1.5 offers 1K only
        ("openai", "2K"): "unsupported",
        ("gemini", "1K"): "not_needed",
        ("openai", "1K"): "not_needed",
    }
