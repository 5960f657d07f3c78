"""LiteLLM's contender: its retry sleeps wait on the run's clock, through its router host.

The router is LiteLLM's own, built with ``Router.from_config(config, host=ClockHost(...))``.
Here the run's clock is a `FakeClock` that jumps to its next sleeper whenever every task is
blocked; only LiteLLM's backoffs sleep on it (the simulator keeps its own clock), so it
moves by exactly the time LiteLLM waited, at no real cost.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

from imagegate.bench._litellm import LiteLLMContender
from imagegate.bench._setup import BenchRequest, RouteSpec, sim_env
from imagegate.resilience.clock import FakeClock
from imagegate.testing.simulator import Latency, Profile, Scenario, Simulator

from .conftest import needs

pytestmark = needs("litellm")

_AGGREGATOR = RouteSpec("openai_compatible", "google/gemini-3-pro-image", False, 0.06, {"1K": "1K"})
_ONE_SECOND = Latency(fixed=1)
_QUICK = Scenario(
    name="quick",
    profiles=(
        Profile(provider="openai_compatible", latency_s=_ONE_SECOND, fail_latency_s=_ONE_SECOND),
    ),
)


async def test_litellm_retry_sleeps_wait_on_the_run_clock() -> None:
    """Two 503s then a 200: LiteLLM's two backoffs pass on the run's clock; one upstream
    request per LiteLLM attempt (the OpenAI SDK under it does not retry), and the
    delivering route is named."""
    async with (
        Simulator(_QUICK, seed=0, time_scale=0.01) as sim,
        FakeClock(autojump=True) as clock,
    ):
        env = dataclasses.replace(sim_env(sim, routes=(_AGGREGATOR,), size="1K"), clock=clock)
        contender = LiteLLMContender()
        await contender.open(env)
        try:
            request = BenchRequest(0, "a paper boat [sim:overloaded*2,success]", "1K")
            delivery = await contender.generate(request)
        finally:
            calls = contender.calls_made()
            await contender.aclose()
        await sim.wait_idle(timeout_s=2.0)
        outcomes = [e.outcome for e in sim.events]
        waited = clock.now()

    assert waited > 0
    assert outcomes == ["overloaded", "overloaded", "success"]
    assert calls == 3
    assert delivery.route == "openai_compatible/google/gemini-3-pro-image"


async def test_litellm_threads_find_the_blocking_client_opened_with_the_contender() -> None:
    """Threads starting their first Gemini call together all get the one client `open`
    built: LiteLLM looks its cache up and stores in two steps, so without it each would
    build one and all but one would be dropped with their connections open."""
    from litellm.llms.custom_httpx.http_handler import get_httpx_client

    from imagegate.bench._litellm import SYNC_CLIENT_PARAMS

    async with Simulator(_QUICK, seed=0, time_scale=0.01) as sim:
        contender = LiteLLMContender()
        await contender.open(sim_env(sim, routes=(_AGGREGATOR,), size="1K"))
        try:
            barrier = threading.Barrier(8)

            def first_call() -> int:
                barrier.wait()
                return id(get_httpx_client(params=dict(SYNC_CLIENT_PARAMS)))

            with ThreadPoolExecutor(8) as pool:
                clients = set(pool.map(lambda _: first_call(), range(8)))
            opened = id(get_httpx_client(params=dict(SYNC_CLIENT_PARAMS)))
        finally:
            await contender.aclose()
    assert clients == {opened}
