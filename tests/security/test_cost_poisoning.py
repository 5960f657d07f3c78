"""Costs reported by a hostile upstream cannot turn the budget cap off, block it for good
or crash the adapter: hostile stand-in servers on loopback, a real Router with a cap."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _logcapture import captured_events
from imagegate import FakeClock, Route, Router
from imagegate.errors import BudgetExceeded, ImageGateError
from imagegate.resilience.ledger import CostLedger
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing._images import make_png

CAP_USD = 0.10
PRICE_USD = 0.01  # the catalogue estimate the routes are given: ten calls fit the cap
CALLS = 20

# Raw JSON, because a hostile body need not be what json.dumps writes: Python's json
# reads NaN and Infinity, and 1e400 or a 400-digit integer overflow a float.
HOSTILE_COSTS = ["NaN", "-Infinity", "Infinity", "-1000", "1e400", "9" * 400, "1e9"]

_PNG = base64.b64encode(make_png(1024, 1024)).decode()

Serve = Callable[..., str]


@pytest.fixture
def logs() -> Any:
    """Captured log events."""
    with captured_events() as captured:
        yield captured


@pytest.fixture
async def aggregator() -> AsyncIterator[Serve]:
    """An OpenAI-compatible aggregator that delivers images (one by default) and reports
    a chosen raw ``usage.cost``."""
    reported: dict[str, Any] = {}

    async def chat(request: web.Request) -> web.Response:
        image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_PNG}"}}
        body = (
            '{"id": "gen-1", "model": "google/gemini-3-pro-image", "choices": [{"index": 0, '
            '"finish_reason": "stop", "message": {"role": "assistant", "content": "", '
            f'"images": {json.dumps([image] * reported["images"])}}}}}], '
            f'"usage": {{"cost": {reported["cost"]}}}}}'
        )
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    async with TestServer(app) as server:

        def configure(cost: str, images: int = 1) -> str:
            reported.update(cost=cost, images=images)
            return str(server.make_url("/v1"))

        yield configure


@pytest.fixture
async def bfl() -> AsyncIterator[Serve]:
    """A Flux API that runs every task and reports a chosen raw ``cost`` in credits."""
    reported: dict[str, str] = {}

    async def submit(request: web.Request) -> web.Response:
        polling = f"{request.url.origin()}/v1/get_result?id=t1"
        body = f'{{"id": "t1", "polling_url": "{polling}", "cost": {reported["cost"]}}}'
        return web.Response(text=body, content_type="application/json")

    async def result(request: web.Request) -> web.Response:
        sample = f"{request.url.origin()}/sample"
        return web.json_response({"id": "t1", "status": "Ready", "result": {"sample": sample}})

    async def sample(request: web.Request) -> web.Response:
        return web.Response(body=make_png(1024, 1024), content_type="image/png")

    app = web.Application()
    app.router.add_post("/v1/{model}", submit)
    app.router.add_get("/v1/get_result", result)
    app.router.add_get("/sample", sample)
    async with TestServer(app) as server:

        def configure(cost: str) -> str:
            reported["cost"] = cost
            return str(server.make_url("")).rstrip("/")

        yield configure


def _router(route: Route, clock: FakeClock) -> Router:
    return Router(
        [route], clock=clock, budget_usd=CAP_USD, retry=RetryPolicy(attempts=1), hedge=None
    )


async def _spend_20(router: Router) -> int:
    """Ask for 20 images; return how many were delivered."""
    delivered = 0
    for _ in range(CALLS):
        try:
            result = await router.generate("a lighthouse", size="1K")
        except BudgetExceeded:
            continue
        delivered += 1
        assert all(a.cost_rejected for a in result.attempts)
        assert result.cost_usd == PRICE_USD
    return delivered


def _assert_capped(router: Router, delivered: int) -> None:
    spend = router.spend()
    assert delivered == round(CAP_USD / PRICE_USD)
    assert math.isclose(spend.total_usd, CAP_USD)
    assert spend.total_usd <= CAP_USD + 1e-9


@pytest.mark.parametrize("cost", HOSTILE_COSTS)
async def test_aggregator_cost_cannot_defeat_the_cap(
    aggregator: Serve, logs: Any, cost: str
) -> None:
    """An aggregator's NaN, infinite, negative or absurd usage.cost is booked at the estimate."""
    clock = FakeClock(autojump=True)
    route = Route(
        "openai_compatible",
        model="google/gemini-3-pro-image",
        base_url=aggregator(cost),
        api_key="sk-hostile-aggregator-key",
        price_usd=PRICE_USD,
    )
    async with _router(route, clock) as router:
        delivered = await _spend_20(router)
        _assert_capped(router, delivered)
    rejected = [e for e in logs if e["event"] == "attempt.cost_rejected"]
    assert len(rejected) == delivered
    assert rejected[0]["log_level"] == "warning"
    assert rejected[0]["route"] == "openai_compatible/google/gemini-3-pro-image"


@pytest.mark.parametrize("cost", HOSTILE_COSTS)
async def test_flux_cost_cannot_defeat_the_cap(bfl: Serve, logs: Any, cost: str) -> None:
    """Flux credits that are NaN, infinite, negative or absurd are booked at the estimate."""
    clock = FakeClock(autojump=True)
    route = Route(
        "flux",
        model="flux-pro-1.1",
        base_url=bfl(cost),
        api_key="bfl-hostile-key",
        price_usd=PRICE_USD,
    )
    async with _router(route, clock) as router:
        delivered = await _spend_20(router)
        _assert_capped(router, delivered)
    rejected = [e for e in logs if e["event"] == "attempt.cost_rejected"]
    assert len(rejected) == delivered
    assert rejected[0]["route"] == "flux/flux-pro-1.1"


async def test_a_plausible_reported_cost_is_still_believed(aggregator: Serve) -> None:
    """A sane usage.cost (above the estimate, too) is what the attempt books, unmarked."""
    clock = FakeClock(autojump=True)
    route = Route(
        "openai_compatible",
        model="google/gemini-3-pro-image",
        base_url=aggregator("0.134"),
        api_key="sk-aggregator-key",
        price_usd=PRICE_USD,
    )
    async with Router([route], clock=clock, retry=RetryPolicy(attempts=1), hedge=None) as router:
        result = await router.generate("a lighthouse", size="1K")
    assert result.cost_usd == 0.134
    assert not result.attempts[0].cost_rejected


async def test_extra_images_do_not_raise_the_ceiling(aggregator: Serve) -> None:
    """The ceiling is per image asked for: 40 unasked images do not make $4000 plausible."""
    clock = FakeClock(autojump=True)
    route = Route(
        "openai_compatible",
        model="google/gemini-3-pro-image",
        base_url=aggregator("4000", images=40),
        api_key="sk-hostile-aggregator-key",
        price_usd=PRICE_USD,
    )
    async with _router(route, clock) as router:
        result = await router.generate("a lighthouse", size="1K")
    assert result.attempts[0].cost_rejected
    assert result.cost_usd == PRICE_USD


def test_the_ledger_refuses_amounts_that_are_not_prices() -> None:
    """The ledger raises ValueError for NaN, infinite and negative amounts, booking nothing."""
    ledger = CostLedger(limit_usd=CAP_USD)

    async def run() -> None:
        reservation = await ledger.reserve(PRICE_USD, route="r")
        for bad in (math.nan, math.inf, -math.inf, -1000.0):
            with pytest.raises(ValueError, match="must not be negative, NaN or infinite"):
                await ledger.reserve(bad, route="r")
            with pytest.raises(ValueError, match="must not be negative, NaN or infinite"):
                await ledger.settle(reservation, bad, "billed")
        assert not reservation.settled
        await ledger.settle(reservation, PRICE_USD, "billed")

    anyio.run(run)
    assert ledger.spend().total_usd == PRICE_USD
    assert ledger.spend().reserved_usd == 0.0


# Any number a body can carry: junk (NaN, infinities, negatives, above the ceiling) and
# real prices at or below the estimate.
junk = st.sampled_from([math.nan, math.inf, -math.inf, -1000.0, -1e-9, 1e300, 1e9])
at_most_estimate = st.floats(min_value=0.0, max_value=PRICE_USD)
any_float = st.floats(allow_nan=True, allow_infinity=True)
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(costs=st.lists(st.none() | junk | at_most_estimate, min_size=1, max_size=30))
async def test_no_sequence_of_reported_costs_crosses_the_cap(
    aggregator: Serve, costs: list[float | None]
) -> None:
    """Whatever costs come back (junk or at most the estimate), total billed <= cap."""
    overrun = await _drive(aggregator, costs)
    assert overrun == 0.0


@SETTINGS
@given(costs=st.lists(st.none() | junk | any_float, min_size=1, max_size=30))
async def test_only_a_believed_overrun_can_pass_the_cap_and_only_once(
    aggregator: Serve, costs: list[float | None]
) -> None:
    """With any floats at all, the total stays finite and passes the cap by at most one
    believed cost's excess over its estimate (after which nothing more is admitted)."""
    await _drive(aggregator, costs)


async def _drive(aggregator: Serve, costs: list[float | None]) -> float:
    """Ask once per reported cost; check the spend after each call; return the largest
    excess of a believed cost over the estimate."""
    clock = FakeClock(autojump=True)
    base_url = aggregator("0")
    route = Route(
        "openai_compatible",
        model="google/gemini-3-pro-image",
        base_url=base_url,
        api_key="sk-hostile-aggregator-key",
        price_usd=PRICE_USD,
    )
    overrun = 0.0
    async with _router(route, clock) as router:
        for cost in costs:
            aggregator("null" if cost is None else _raw(cost))
            try:
                result = await router.generate("a lighthouse", size="1K")
            except ImageGateError:
                pass
            else:
                overrun = max(overrun, result.cost_usd - PRICE_USD)
            spend = router.spend()
            assert math.isfinite(spend.total_usd)
            assert 0.0 <= spend.total_usd <= CAP_USD + overrun + 1e-9
    return overrun


def _raw(cost: float) -> str:
    if math.isnan(cost):
        return "NaN"
    if math.isinf(cost):
        return "Infinity" if cost > 0 else "-Infinity"
    return repr(cost)
