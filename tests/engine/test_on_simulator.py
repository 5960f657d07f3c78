"""The engine over real connections: hedging and cancellation against the simulator.

These run the gemini adapter (google-genai on aiohttp) against the simulator on
127.0.0.1, so "the loser's connection is closed" is observed by the server itself.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
import pytest

from imagegate import HedgePolicy, Route, Router
from imagegate.testing.simulator import Simulator

SCALE = 0.002  # one simulated second lasts 2 real ms


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The healthy scenario; prompts force what each attempt does."""
    async with Simulator("healthy", seed=0, time_scale=SCALE) as running:
        yield running


def _gemini(sim: Simulator) -> Route:
    return Route(
        "gemini",
        model="gemini-3-pro-image",
        base_url=sim.base_url("gemini"),
        api_key=sim.api_key("gemini"),
    )


async def _until_in_flight(sim: Simulator) -> None:
    for _ in range(5_000):
        if sim.statistics().in_flight:
            return
        await asyncio.sleep(0.001)
    pytest.fail("the request never reached the simulator")


def _leftover_tasks(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()}


async def test_hedge_wins_and_the_4k_loser_is_disconnected(sim: Simulator) -> None:
    """A 2K hedge beats a slow 4K; the 4K call is cut, seen as a disconnect upstream,
    and recorded as cancelled and possibly billed."""
    prompt = "a lighthouse [sim@gemini/4K:success~500] [sim@gemini/2K:success~30]"
    hedge = HedgePolicy(delay_s=50.0)
    async with Router([_gemini(sim)], clock=sim.clock, hedge=hedge) as router:
        result = await router.generate(prompt, size="4K", aspect_ratio="16:9", deadline=600)
        spend = router.spend()
    assert (result.size, result.downgraded) == ("2K", True)
    assert (result.image.width, result.image.height) == (2752, 1536)
    loser, winner = result.attempts
    assert (loser.size, loser.outcome, loser.billing) == ("4K", "cancelled", "possibly_billed")
    assert (winner.size, winner.outcome, winner.hedge) == ("2K", "success", True)
    assert loser.cost_usd > 0
    assert spend.possibly_billed_usd == pytest.approx(loser.cost_usd)
    stats = await sim.wait_idle()
    assert (stats.in_flight, stats.open_connections) == (0, 0)
    upstream = {e.size: e.outcome for e in sim.events}
    assert upstream == {"4K": "disconnected", "2K": "success"}


async def test_cancelling_generate_leaves_no_task_and_no_connection(sim: Simulator) -> None:
    """Cancelling a request mid-call cancels the upstream call and leaves nothing running."""
    before = set(asyncio.all_tasks())
    async with Router([_gemini(sim)], clock=sim.clock) as router:
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(router.generate, "slow [sim:success~400]"))
            await _until_in_flight(sim)
            tg.cancel_scope.cancel()
        assert router.engine.dispatcher.statistics().in_flight == 0
    stats = await sim.wait_idle()
    assert (stats.in_flight, stats.open_connections) == (0, 0)
    assert [e.outcome for e in sim.events] == ["disconnected"]
    assert not _leftover_tasks(before)


async def test_leaving_generate_many_early_leaves_nothing_running(sim: Simulator) -> None:
    """Breaking out of generate_many cancels the calls still out; all connections close."""
    before = set(asyncio.all_tasks())
    prompts = ["quick [sim:success~5]", "slow a [sim:success~400]", "slow b [sim:success~400]"]
    router = Router([_gemini(sim)], clock=sim.clock)
    async with router, aclosing(router.generate_many(prompts, concurrency=3)) as answers:
        async for first in answers:
            assert first.ok
            break
    stats = await sim.wait_idle()
    assert (stats.in_flight, stats.open_connections) == (0, 0)
    assert sorted(e.outcome for e in sim.events) == ["disconnected", "disconnected", "success"]
    assert not _leftover_tasks(before)
