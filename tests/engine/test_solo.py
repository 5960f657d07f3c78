"""Attempts one at a time without a race, and the race that takes a flying attempt over
once its hedge is due (`imagegate._solo`), on FakeProvider and a fake clock."""

from __future__ import annotations

import asyncio
import functools
import random
from typing import Any

import anyio
import pytest

from imagegate import FakeClock, Route, Router
from imagegate.errors import Overloaded
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing import FakeProvider, fail, succeed


def _router(routes: list[Route], clock: FakeClock, **kwargs: Any) -> Router:
    kwargs.setdefault("retry", RetryPolicy(rng=random.Random(1)))
    kwargs.setdefault("order", "ladder")
    return Router(routes, clock=clock, budget_usd=100.0, **kwargs)


def _nothing_held(router: Router) -> None:
    engine = router.engine
    assert engine.dispatcher.statistics().in_flight == 0
    assert all(count == 0 for count in engine.in_flight.values())
    assert abs(router.spend().reserved_usd) < 1e-12


async def test_a_caller_cancelling_mid_attempt_leaves_nothing_reserved(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """A request without a hedge runs its attempt in its own task; cancelling it during
    the call cancels the call, records it as possibly billed, and holds nothing."""
    fake.default = succeed(latency_s=1000.0)
    async with _router([Route(fake, model="m")], clock, hedge=None) as router:
        before = set(asyncio.all_tasks())
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(router.generate, "x", size="4K"))
            await clock.run_until_idle()
            tg.cancel_scope.cancel()
        _nothing_held(router)
        assert router.spend().possibly_billed_usd == pytest.approx(0.01)
        await clock.run_until_idle()
        assert set(asyncio.all_tasks()) - before <= {asyncio.current_task()}
    assert [c.result for c in fake.calls] == ["cancelled"]


async def test_a_caller_cancelling_before_the_hedge_is_due_leaves_nothing_reserved(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """A 4K attempt waiting for its hedge timer runs in a task of its own; cancelling the
    request stops that task too, records the call, and holds nothing."""
    fake.default = succeed(latency_s=1000.0)
    hedge = HedgePolicy(size="2K", delay_s=100.0)
    async with _router([Route(fake, model="m")], clock, hedge=hedge) as router:
        before = set(asyncio.all_tasks())
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(router.generate, "x", size="4K"))
            await clock.run_until_idle()
            assert clock.now() < 100.0  # the hedge is not due yet
            tg.cancel_scope.cancel()
        _nothing_held(router)
        assert router.spend().possibly_billed_usd == pytest.approx(0.01)
        await clock.run_until_idle()
        assert set(asyncio.all_tasks()) - before <= {asyncio.current_task()}
    assert [c.result for c in fake.calls] == ["cancelled"]


async def test_a_hedge_due_after_the_attempt_began_still_races_it(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """The race takes over the 4K attempt that was flying alone: its 2K hedge wins, the
    4K is cancelled and possibly billed, and nothing is left held."""
    fake.script("4K", succeed(latency_s=500.0))
    fake.script("2K", succeed(latency_s=60.0))
    hedge = HedgePolicy(size="2K", delay_s=100.0)
    async with _router([Route(fake, model="m")], clock, hedge=hedge) as router:
        result = await router.generate("x", size="4K")
        _nothing_held(router)
    assert (result.size, result.latency_s) == ("2K", 160.0)
    slow, quick = result.attempts
    assert (slow.size, slow.outcome, slow.billing, slow.hedge) == (
        "4K",
        "cancelled",
        "possibly_billed",
        False,
    )
    assert (quick.size, quick.outcome, quick.hedge) == ("2K", "success", True)


async def test_a_taken_over_attempt_that_lands_first_wins(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """Once the race has taken the 4K attempt over, its landing counts like any of the
    race's own: it answers before its hedge and wins, the hedge is cancelled."""
    fake.script("4K", succeed(latency_s=130.0))
    fake.script("2K", succeed(latency_s=60.0))
    hedge = HedgePolicy(size="2K", delay_s=100.0)
    async with _router([Route(fake, model="m")], clock, hedge=hedge) as router:
        result = await router.generate("x", size="4K")
        _nothing_held(router)
    assert (result.size, result.latency_s) == ("4K", 130.0)
    outcomes = sorted((a.size, a.outcome, a.hedge) for a in result.attempts)
    assert outcomes == [("2K", "cancelled", True), ("4K", "success", False)]


async def test_attempts_one_after_another_fail_over_without_a_race(
    clock: FakeClock,
) -> None:
    """A failure is retried, then the next route is tried, each in turn; the answer
    lists every attempt in order."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.default = fail(Overloaded("busy"), latency_s=1.0)
    b.default = succeed(latency_s=2.0)
    routes = [Route(a, model="m"), Route(b, model="m")]
    retry = RetryPolicy(attempts=2, rng=random.Random(1))
    async with _router(routes, clock, hedge=None, retry=retry) as router:
        result = await router.generate("x")
        _nothing_held(router)
    assert [(t.route, t.outcome) for t in result.attempts] == [
        ("a/m", "error"),
        ("a/m", "error"),
        ("b/m", "success"),
    ]


async def test_request_ids_are_unique_hex(clock: FakeClock, fake: FakeProvider) -> None:
    """Every request gets its own 16-hex-digit id; two routers do not share a prefix."""
    ids = []
    for _ in range(2):
        async with _router([Route(fake, model="m")], clock, hedge=None) as router:
            for i in range(50):
                ids.append((await router.generate(f"p{i}")).request_id)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    assert ids[0][:8] != ids[50][:8]
