"""No upstream can hold a request forever: a default deadline, a ceiling on retry hints,
and a bounded wait for a plugin call that ignores its cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest
from aiohttp import web

from imagegate import ImageRequest, RetryPolicy, Route, Router
from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate.cli import main
from imagegate.errors import AllRoutesFailed, DeadlineExceeded, RateLimited, UpstreamError
from imagegate.resilience.clock import ScaledClock

from .conftest import Serve

SCALE = 0.001  # one simulated second lasts 1 real ms: 600 s last 0.6 s
REAL_BOUND_S = 10.0  # a hang fails the test instead of the whole run
NOT_WAITED_S = 300.0
"""Clock seconds that still mean "not waited for": half the default deadline, while the
request takes a few. The scaled clock also counts the machine's own delays, so a tighter
bound fails on a busy machine."""
HINT = "1000000000"  # about 31 years


def _aggregator(base_url: str) -> Route:
    return Route("openai_compatible", model="some/image-model", base_url=base_url, api_key="sk-x")


@pytest.fixture
async def throttling(serve: Serve) -> str:
    """An aggregator that answers every call 429 with Retry-After: 1e9 seconds."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"message": "slow down", "type": "rate_limit"}},
            status=429,
            headers={"Retry-After": HINT},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return await serve(app)


@pytest.mark.parametrize("deadline", [None, 86_400.0])
async def test_a_huge_retry_after_is_failed_over_not_waited_for(
    throttling: str, deadline: float | None
) -> None:
    """A Retry-After of 31 years is beyond the retry hint ceiling: the option is given up
    at once, with no deadline or with a day-long one."""
    clock = ScaledClock(SCALE)
    async with Router([_aggregator(throttling)], clock=clock) as router:
        started = clock.now()
        with anyio.fail_after(REAL_BOUND_S), pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a lighthouse", deadline=deadline)
    (attempt,) = caught.value.attempts
    assert isinstance(attempt.error, RateLimited)
    assert attempt.error.retry_after_s == float(HINT)
    assert clock.now() - started < NOT_WAITED_S


async def test_a_huge_retry_after_with_the_defaults(throttling: str) -> None:
    """With every default the same hint ends the request at once, without waiting."""
    clock = ScaledClock(SCALE)
    async with Router([_aggregator(throttling)], clock=clock) as router:
        started = clock.now()
        with anyio.fail_after(REAL_BOUND_S), pytest.raises(AllRoutesFailed):
            await router.generate("a lighthouse")
    assert clock.now() - started < NOT_WAITED_S


def test_retry_policy_caps_the_hint() -> None:
    """A hint above max_retry_after_s means no retry; below it, the hint is the wait."""
    policy = RetryPolicy(max_retry_after_s=120.0)
    far = RateLimited("slow down", retry_after_s=121.0)
    near = RateLimited("slow down", retry_after_s=119.0)
    assert policy.next_wait_s(1, far, remaining_s=None) is None
    assert policy.next_wait_s(1, near, remaining_s=None) == 119.0
    assert RetryPolicy(max_retry_after_s=None).next_wait_s(1, far, remaining_s=None) == 121.0
    assert RetryPolicy().max_retry_after_s == 300.0


@pytest.fixture
async def trickle(serve: Serve) -> str:
    """An aggregator that answers 200 and then sends one byte per (simulated) second."""
    clock = ScaledClock(SCALE)

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(1_000_000):
            try:
                await response.write(b" ")
            except (ConnectionError, RuntimeError):
                break
            await clock.sleep(1.0)
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return await serve(app)


async def test_a_trickling_upstream_is_cut_at_the_default_deadline(trickle: str) -> None:
    """A 1 byte/s answer holds a default request no longer than its default deadline."""
    clock = ScaledClock(SCALE)
    assert ImageRequest.build("x").deadline_s == 600.0
    async with Router([_aggregator(trickle)], clock=clock) as router:
        started = clock.now()
        with anyio.fail_after(REAL_BOUND_S), pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a lighthouse")
    elapsed = clock.now() - started
    assert 590 <= elapsed < 900  # 600 s, with slack for a 300 ms CPU stall on a busy machine
    assert all(isinstance(a.error, DeadlineExceeded) for a in caught.value.attempts)


@pytest.fixture
async def stuck_flux(serve: Serve) -> str:
    """A Flux endpoint whose task stays Pending forever."""
    base: dict[str, str] = {}

    async def submit(request: web.Request) -> web.Response:
        return web.json_response(
            {"id": "task-1", "polling_url": f"{base['url']}/v1/get_result?id=task-1"}
        )

    async def poll(request: web.Request) -> web.Response:
        return web.json_response({"id": "task-1", "status": "Pending"})

    app = web.Application()
    app.router.add_get("/v1/get_result", poll)
    app.router.add_post("/v1/{model}", submit)
    base["url"] = await serve(app)
    return base["url"]


async def test_a_flux_task_stuck_pending_ends_at_the_default_deadline(stuck_flux: str) -> None:
    """Polling a task that never leaves Pending stops at the default deadline."""
    clock = ScaledClock(SCALE)
    route = Route("flux", model="flux-pro-1.1-ultra", base_url=stuck_flux, api_key="bfl-x")
    async with Router([route], clock=clock) as router:
        started = clock.now()
        with anyio.fail_after(REAL_BOUND_S), pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a lighthouse")
    elapsed = clock.now() - started
    assert 590 <= elapsed < 900  # 600 s, with slack for a 300 ms CPU stall on a busy machine
    assert caught.value.attempts


def test_cli_help_shows_the_default_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    """`imagegate generate --help` states the default deadline."""
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "may take (default 600)" in help_text


STUBBORN_SCALE = 0.01  # one simulated second lasts 10 real ms
HOLD_S = 60.0  # simulated seconds the stubborn plugin's upstream takes to answer


class StubbornPlugin:
    """A plugin that will not let its upstream call be cancelled.

    ``"shield"`` runs the call in a shielded cancel scope; ``"swallow"`` catches every
    cancellation and goes back to waiting.
    """

    name = "stubborn"

    def __init__(self, url: str, kind: str) -> None:
        self.url = url
        self.kind = kind
        self.session: aiohttp.ClientSession | None = None
        self.finished = anyio.Event()

    def capabilities(self, model: str) -> Capabilities:
        return Capabilities(sizes=frozenset({"1K"}), price_usd={"1K": 0.04})

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        try:
            if self.kind == "shield":
                with anyio.CancelScope(shield=True):
                    await self._fetch()
            else:
                fetch = asyncio.ensure_future(self._fetch())
                while not fetch.done():
                    try:
                        await asyncio.shield(fetch)
                    except asyncio.CancelledError:
                        continue
        finally:
            self.finished.set()
        raise UpstreamError("the upstream answered garbage, late")

    async def _fetch(self) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        async with self.session.post(self.url) as resp:
            await resp.read()

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


@pytest.fixture
def stubborn_clock() -> ScaledClock:
    """Simulated time shared by the slow upstream and the router."""
    return ScaledClock(STUBBORN_SCALE)


@pytest.fixture(params=["shield", "swallow"])
async def plugin(
    serve: Serve, stubborn_clock: ScaledClock, request: pytest.FixtureRequest
) -> AsyncIterator[StubbornPlugin]:
    """The stubborn plugin, in front of an upstream that answers after HOLD_S."""

    async def handler(request: web.Request) -> web.Response:
        await stubborn_clock.sleep(HOLD_S)
        return web.json_response({"late": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    made = StubbornPlugin(await serve(app), request.param)
    yield made
    with anyio.fail_after(REAL_BOUND_S):
        await made.finished.wait()
    await made.aclose()


async def test_a_plugin_ignoring_cancellation_ends_at_the_deadline(
    plugin: StubbornPlugin, stubborn_clock: ScaledClock
) -> None:
    """generate(deadline=10) ends near 10 s, not when the plugin gives up at 60 s;
    the attempt is recorded as abandoned and the abandoned call is released once done."""
    async with Router([Route(plugin, model="m")], clock=stubborn_clock) as router:
        started = stubborn_clock.now()
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a lighthouse", deadline=10)
        elapsed = stubborn_clock.now() - started
        # The deadline and the grace, with slack for a busy machine (a CPU stall of up to
        # 290 ms real): well short of the 60 s the plugin holds on for.
        assert elapsed < 10 + 1 + 29
        with anyio.fail_after(REAL_BOUND_S):
            await plugin.finished.wait()
            left_behind = set(router.engine.abandoned)
            if left_behind:
                await asyncio.wait(left_behind)
            await asyncio.sleep(0)
        assert not router.engine.abandoned
        spend = router.spend()
    (attempt,) = caught.value.attempts
    assert attempt.outcome == "timeout"
    if plugin.kind == "swallow":  # (a shielded scope gives way to the task's own cancel)
        assert attempt.abandoned
    assert attempt.billing == "possibly_billed"
    assert spend.reserved_usd == 0


async def test_a_cancelled_caller_is_not_held_by_the_plugin(
    plugin: StubbornPlugin, stubborn_clock: ScaledClock
) -> None:
    """A caller that cancels generate() gets control back within the grace, not at 60 s."""
    async with Router([Route(plugin, model="m")], clock=stubborn_clock) as router:
        started = stubborn_clock.now()
        with anyio.move_on_after(10 * STUBBORN_SCALE):  # the caller gives up after 10 s
            await router.generate("a lighthouse", deadline=None)
        elapsed = stubborn_clock.now() - started
        spend = router.spend()
    assert elapsed < 10 + 1 + 29  # well short of the plugin's 60 s, as above
    assert spend.reserved_usd == 0
