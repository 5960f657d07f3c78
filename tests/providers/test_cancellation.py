"""Cancelling an in-flight call, or timing it out from the router, leaves no request in
flight, no open connection and no pending task behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from imagegate import Route, Router
from imagegate.errors import AllRoutesFailed, DeadlineExceeded
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing.simulator import Simulator

from ._support import DEFAULT_MODEL, PROVIDERS, ask


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """Slower simulated time here: the server's own 600 s deadline (0.6 s) stays well
    behind the router's attempt timeout, so the timeout is always ours."""
    async with Simulator("healthy", seed=0, time_scale=0.001) as running:
        yield running


async def _until_in_flight(sim: Simulator) -> None:
    for _ in range(20_000):
        if sim.statistics().in_flight:
            return
        await asyncio.sleep(0)
    pytest.fail("the request never reached the simulator")


def _leftover_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_cancelled_call_releases_everything(sim: Simulator, make: Any, provider: str) -> None:
    """The cancellation propagates at once (the adapter promises it: the router calls it in
    the request's own task); the server sees the connection go; nothing lingers."""
    adapter = make(provider)
    assert adapter.ends_when_cancelled is True
    # 5000 simulated seconds (5 s): the call is still running when it is cancelled.
    request = ask(
        f"never mind ({provider}) [sim:success~5000]", DEFAULT_MODEL[provider], timeout_s=None
    )
    task = asyncio.create_task(adapter.generate(request))
    await _until_in_flight(sim)
    task.cancel()
    with anyio.fail_after(5), pytest.raises(asyncio.CancelledError):
        await task
    stats = await sim.wait_idle()
    assert stats.in_flight == 0
    assert stats.open_connections == 0
    await adapter.aclose()
    await adapter.aclose()  # closing twice is fine
    await sim.wait_idle()
    assert _leftover_tasks() == set()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_router_timeout_cancels_and_records_possible_billing(
    make: Any, sim: Simulator, provider: str
) -> None:
    """A router attempt timeout cancels the call, records it possibly billed, frees the socket."""
    adapter = make(provider, **({"clock": None} if provider == "flux" else {}))
    model = DEFAULT_MODEL[provider]
    size = "1K" if provider == "openai" else "2K"
    router = Router(
        [Route(adapter, model=model)],
        attempt_timeout_s=0.05,
        retry=RetryPolicy(attempts=1),
        hedge=None,
    )
    async with router:
        with pytest.raises(AllRoutesFailed) as info:
            await router.generate(
                f"too slow ({provider}) [sim:success~5000]",
                size=size,  # type: ignore[arg-type]
                allow_downgrade=False,
            )
    (attempt,) = info.value.attempts
    assert attempt.outcome == "timeout", repr(attempt.error)
    assert isinstance(attempt.error, DeadlineExceeded)
    assert attempt.billing == "possibly_billed"
    assert attempt.cost_usd > 0
    for _ in range(1000):  # the server notices the closed connection within a few ms
        if sim.statistics().in_flight == 0:
            break
        await asyncio.sleep(0.001)
    assert sim.statistics().in_flight == 0
    await adapter.aclose()  # keep-alive connections of earlier calls go with the adapter
    assert (await sim.wait_idle()).open_connections == 0
    assert _leftover_tasks() == set()
