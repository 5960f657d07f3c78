"""Same-size racing: a second attempt at the same size after the learned tail, two from the
start for a share of requests, never more than ``max_in_flight`` at once, never beyond the
load budget."""

from __future__ import annotations

import random
from typing import Any

import pytest

from _logcapture import captured_events
from imagegate import FakeClock, Route, Router
from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing import FakeProvider, succeed
from imagegate.testing._fake import FakeCall


def _router(routes: list[Route], clock: FakeClock, **kwargs: Any) -> Router:
    kwargs.setdefault("retry", RetryPolicy(rng=random.Random(1)))
    kwargs.setdefault("order", "ladder")
    return Router(routes, clock=clock, seed=0, **kwargs)


def _teach(router: Router, route: str, size: str, latency_s: float, times: int = 3) -> None:
    """Record ``times`` successes of ``latency_s`` in the (route, size) outcome window."""
    window = router.engine.window(route, size)
    for _ in range(times):
        window.record(success=True, latency_s=latency_s, now=router.clock.now())


def _most_at_once(calls: list[FakeCall]) -> int:
    """The most calls that were running at the same moment."""
    edges = sorted(
        [(c.started, 1) for c in calls] + [(c.ended or float("inf"), -1) for c in calls],
        key=lambda edge: (edge[0], edge[1]),  # an end before a start at the same moment
    )
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


async def test_same_size_race_starts_after_the_learned_tail_and_the_loser_is_possibly_billed(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """Past the p75 of its (route, size), a 4K attempt gets a second 4K attempt; the
    first to deliver wins and the other is cancelled and recorded possibly billed."""
    hedge = HedgePolicy(size="4K", race_quantile=0.75, min_samples=3)
    async with _router([Route(fake, model="m")], clock, hedge=hedge) as router:
        for i in range(3):  # teach the router: 4K takes 40 s
            fake.script("4K", succeed(latency_s=40.0))
            await router.generate(f"warm{i}", size="4K", allow_downgrade=False)
        fake.script("4K", succeed(latency_s=500.0), succeed(latency_s=20.0))
        result = await router.generate("x", size="4K", allow_downgrade=False)
    assert (result.size, result.latency_s) == ("4K", 60.0)
    slow, quick = result.attempts
    assert (slow.outcome, slow.billing, slow.hedge) == ("cancelled", "possibly_billed", False)
    assert (quick.outcome, quick.hedge, quick.started - slow.started) == ("success", True, 40.0)
    assert fake.calls_at("4K")[-2].result == "cancelled"


async def test_a_quick_attempt_is_not_raced(clock: FakeClock, fake: FakeProvider) -> None:
    """An attempt that answers before its tail is never raced."""
    hedge = HedgePolicy(size="4K", race_quantile=0.75, delay_s=100.0)
    fake.script("4K", succeed(latency_s=50.0))
    async with _router([Route(fake, model="m")], clock, hedge=hedge) as router:
        result = await router.generate("x", size="4K")
    assert len(result.attempts) == 1


async def test_race_goes_to_the_route_expected_soonest(clock: FakeClock) -> None:
    """The second attempt goes to the other route when it is expected sooner."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    hedge = HedgePolicy(size="4K", race_quantile=0.5, delay_s=30.0)
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, hedge=hedge) as router:
        _teach(router, "a/m", "4K", 25.0)
        _teach(router, "b/m", "4K", 10.0)
        a.script("4K", succeed(latency_s=500.0))
        b.script("4K", succeed(latency_s=10.0))
        result = await router.generate("x", size="4K")
    assert (result.route, result.latency_s, result.attempts[-1].hedge) == ("b/m", 40.0, True)


@pytest.mark.parametrize(("max_in_flight", "starts"), [(2, [0.0, 10.0]), (3, [0.0, 10.0, 20.0])])
async def test_the_race_never_holds_more_than_max_in_flight(
    clock: FakeClock, max_in_flight: int, starts: list[float]
) -> None:
    """With every route slow, hedges start one delay apart until ``max_in_flight``
    attempts fly; no more ever run at once."""
    fakes = [FakeProvider(name, clock=clock) for name in "abc"]
    for fake in fakes:
        fake.script("4K", succeed(latency_s=100.0))
    hedge = HedgePolicy(size="4K", race_quantile=0.5, delay_s=10.0, max_in_flight=max_in_flight)
    routes = [Route(fake, model="m") for fake in fakes]
    async with _router(routes, clock, hedge=hedge) as router:
        result = await router.generate("x", size="4K", allow_downgrade=False)
    calls = [call for fake in fakes for call in fake.calls]
    assert sorted(call.started for call in calls) == starts
    assert _most_at_once(calls) == max_in_flight
    assert result.latency_s == 100.0


async def test_race_share_opens_with_two_attempts(clock: FakeClock) -> None:
    """With race_share=1 every request starts two attempts at its size at once; the
    slower one is cancelled when the other delivers."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.script("2K", succeed(latency_s=50.0))
    b.script("2K", succeed(latency_s=20.0))
    hedge = HedgePolicy(size="4K", race_share=1.0, max_extra_load=1.0)
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, hedge=hedge) as router:
        result = await router.generate("x", size="2K", allow_downgrade=False)
    assert (result.route, result.latency_s) == ("b/m", 20.0)
    assert sorted((x.route, x.outcome) for x in result.attempts) == [
        ("a/m", "cancelled"),
        ("b/m", "success"),
    ]
    assert result.attempts[0].started == result.attempts[1].started


async def test_same_size_races_never_spend_beyond_the_load_budget(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a budget of one attempt per request on average, same-size races draw only on
    the initial balance: once it is spent, requests run one attempt."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    for fake, latency_s in ((a, 10.0), (b, 20.0)):
        fake.default = succeed(latency_s=latency_s)
    hedge = HedgePolicy(size="4K", race_share=1.0, max_extra_load=1.0)
    admission = AdmissionPolicy(max_attempts_per_request=1.0)
    routes = [Route(a, model="m"), Route(b, model="m")]
    with captured_events("info") as events:
        async with _router(routes, clock, hedge=hedge, admission=admission) as router:
            load = router.engine.load
            assert load is not None
            initial = load.statistics().tokens
            results = [
                await router.generate(f"p{i}", size="1K", allow_downgrade=False)
                for i in range(int(initial) + 5)
            ]
            stats = load.statistics()
    extra = sum(len(r.attempts) - 1 for r in results)
    assert 0 < extra == stats.extra_attempts <= initial
    assert stats.tokens >= 0
    assert [len(r.attempts) for r in results[-5:]] == [1] * 5
    refused = [e for e in events if e["event"] == "hedge.skipped"]
    assert {e["reason"] for e in refused} == {"load budget spent"}


async def test_race_to_a_backup_only_with_race_backups(clock: FakeClock) -> None:
    """A same-size race goes to a quicker backup only with ``race_backups``."""
    a, b, c = (FakeProvider(name, clock=clock) for name in "abc")
    routes = [Route(a, model="m"), Route(b, model="m"), Route(c, model="m", backup=True)]
    picked = []
    for race_backups in (False, True):
        hedge = HedgePolicy(
            size="4K", race_share=1.0, race_backups=race_backups, max_extra_load=1.0
        )
        async with _router(routes, clock, hedge=hedge) as router:
            _teach(router, "a/m", "1K", 30.0)
            _teach(router, "b/m", "1K", 15.0)
            _teach(router, "c/m", "1K", 5.0)
            a.script("1K", succeed(latency_s=100.0))
            result = await router.generate("x")
        picked.append(result.route)
    assert picked == ["b/m", "c/m"]


async def test_with_target_soonest_a_race_may_go_to_a_smaller_size(clock: FakeClock) -> None:
    """``target="soonest"`` races a slow 2K attempt with whatever at or below 2K is
    expected soonest: here the other route's 1K."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    hedge = HedgePolicy(size="4K", target="soonest", race_quantile=0.5, delay_s=30.0)
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _router(routes, clock, hedge=hedge) as router:
        _teach(router, "a/m", "2K", 60.0)
        _teach(router, "b/m", "2K", 60.0)
        _teach(router, "b/m", "1K", 5.0)
        a.script("2K", succeed(latency_s=500.0))
        b.script("1K", succeed(latency_s=5.0))
        result = await router.generate("x", size="2K")
    assert (result.route, result.size, result.latency_s) == ("b/m", "1K", 35.0)
    assert result.attempts[-1].hedge
