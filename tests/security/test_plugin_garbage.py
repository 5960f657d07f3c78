"""A plugin that returns something other than an image answer is a failed attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from imagegate import GeneratedImage, Route, Router
from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate.errors import AllRoutesFailed, UpstreamError
from imagegate.testing import Simulator, make_png

from .conftest import Serve

SCALE = 0.001  # one simulated second lasts 1 real ms
REAL_BOUND_S = 10.0  # a hang fails the test instead of the whole run
PRICE_USD = 0.05


class PassThroughPlugin:
    """A sloppy plugin: it hands back whatever its upstream sent, unchecked."""

    name = "passthrough"

    def __init__(self, base_url: str, kind: str) -> None:
        self.url = f"{base_url}/{kind}"
        self.kind = kind
        self.session: aiohttp.ClientSession | None = None

    def capabilities(self, model: str) -> Capabilities:
        return Capabilities(sizes=frozenset({"1K"}), price_usd={"1K": PRICE_USD})

    async def generate(self, request: ProviderRequest) -> Any:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        async with self.session.post(self.url, json={"prompt": request.prompt}) as resp:
            body = await resp.read()
        if self.kind == "null":
            return None  # the upstream answered JSON null
        if self.kind == "dict":
            return {"images": [body.decode()]}  # the upstream's JSON, not a response
        if self.kind == "object":
            return object()
        if self.kind == "bytes":
            return ProviderResponse(images=(body,))  # type: ignore[arg-type]
        if self.kind == "cost":
            image = GeneratedImage(make_png(1024, 1024))
            return ProviderResponse(images=(image,), cost_usd=float("nan"))
        if self.kind == "billing":
            image = GeneratedImage(make_png(1024, 1024))
            return ProviderResponse(images=(image,), billing=body.decode() * 1000)  # type: ignore[arg-type]
        raise AssertionError(self.kind)

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


GARBAGE = ["null", "dict", "object", "bytes", "billing"]


@pytest.fixture
async def hostile(serve: Serve) -> str:
    """An upstream that answers 200 with an HTML page instead of an image."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"<html>not an image</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return await serve(app)


@pytest.fixture
async def plugins() -> AsyncIterator[list[PassThroughPlugin]]:
    """Plugins the test builds; closed at the end (the router closes only what it built)."""
    made: list[PassThroughPlugin] = []
    yield made
    for plugin in made:
        await plugin.aclose()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A healthy upstream to fail over to."""
    async with Simulator("healthy", seed=0, time_scale=SCALE) as running:
        yield running


def _gemini(sim: Simulator) -> Route:
    return Route(
        "gemini",
        model="gemini-3-pro-image",
        base_url=sim.base_url("gemini"),
        api_key=sim.api_key("gemini"),
    )


@pytest.mark.parametrize("kind", GARBAGE)
async def test_garbage_answer_fails_over_to_the_next_route(
    hostile: str, sim: Simulator, kind: str, plugins: list[PassThroughPlugin]
) -> None:
    """The garbage answer is recorded as an UpstreamError attempt and the request is
    served by the next route; nothing stays reserved."""
    plugin = PassThroughPlugin(hostile, kind)
    plugins.append(plugin)
    routes = [Route(plugin, model="m"), _gemini(sim)]
    async with Router(routes, clock=sim.clock, budget_usd=10.0, order="ladder") as router:
        with anyio.fail_after(REAL_BOUND_S):
            result = await router.generate("a lighthouse", deadline=600)
        spend = router.spend()
    assert result.route == "gemini/gemini-3-pro-image"
    first = result.attempts[0]
    assert first.route == "passthrough/m"
    assert first.outcome == "error"
    assert isinstance(first.error, UpstreamError)
    assert "passthrough" in str(first.error)
    assert len(str(first.error)) < 300  # upstream text is cut, not copied whole
    assert spend.reserved_usd == 0


@pytest.mark.parametrize("kind", GARBAGE)
async def test_garbage_answer_alone_fails_with_the_attempt(
    hostile: str, kind: str, plugins: list[PassThroughPlugin]
) -> None:
    """With no other route the request fails with AllRoutesFailed carrying the attempt;
    the breaker counts the failure and the reservation is released."""
    plugin = PassThroughPlugin(hostile, kind)
    plugins.append(plugin)
    async with Router([Route(plugin, model="m")], budget_usd=10.0) as router:
        with anyio.fail_after(REAL_BOUND_S), pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a lighthouse", deadline=600)
        spend = router.spend()
        health = router.health()
        breaker = router.engine.breakers.get("passthrough/m", "1K").statistics()
    (attempt,) = caught.value.attempts
    assert isinstance(attempt.error, UpstreamError)
    assert attempt.error.retryable is False
    assert spend.reserved_usd == 0
    assert [h.calls for h in health] == [1]
    assert breaker.probes_in_flight == 0


async def test_generate_many_answers_despite_garbage(
    hostile: str, plugins: list[PassThroughPlugin]
) -> None:
    """generate_many yields one error per input when the plugin returns garbage."""
    plugin = PassThroughPlugin(hostile, "null")
    plugins.append(plugin)
    async with Router([Route(plugin, model="m")]) as router:
        answers = []
        with anyio.fail_after(REAL_BOUND_S):
            async for answer in router.generate_many(["a", "b", "c"], concurrency=2):
                answers.append(answer)
    assert sorted(a.index for a in answers) == [0, 1, 2]
    assert all(isinstance(a.error, AllRoutesFailed) for a in answers)


async def test_an_image_with_a_nan_cost_is_delivered_at_its_estimate(
    hostile: str, plugins: list[PassThroughPlugin]
) -> None:
    """A real image with a cost that cannot be a price is still the image asked for: it is
    delivered, booked at the route's price, and the attempt says the cost was rejected."""
    plugin = PassThroughPlugin(hostile, "cost")
    plugins.append(plugin)
    async with Router([Route(plugin, model="m")], budget_usd=10.0) as router:
        with anyio.fail_after(REAL_BOUND_S):
            result = await router.generate("a lighthouse", deadline=600)
        spend = router.spend()
    (attempt,) = result.attempts
    assert attempt.outcome == "success"
    assert attempt.cost_rejected
    assert attempt.cost_usd == PRICE_USD
    assert spend.reserved_usd == 0
