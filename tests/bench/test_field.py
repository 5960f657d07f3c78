"""The field's client code does what docs/benchmarks.md says it does, upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from imagegate.bench._field import (
    BackoffClient,
    FieldError,
    WaterfallClient,
    WaterfallRetryClient,
    classify,
)
from imagegate.bench._setup import BenchRequest, sim_env
from imagegate.testing.simulator import Simulator

from .conftest import FAST


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The healthy scenario; outcomes are forced with prompt markers."""
    async with Simulator("healthy", seed=0, time_scale=FAST) as running:
        yield running


def _trail(sim: Simulator) -> list[tuple[str, str]]:
    return [(e.size, e.outcome) for e in sim.events]


async def test_waterfall_steps_down_one_attempt_per_tier(sim: Simulator) -> None:
    """503 at 4K, then a 2K success: two calls, image at 2K."""
    client = WaterfallClient()
    await client.open(sim_env(sim))
    try:
        request = BenchRequest(0, "a cat [sim@gemini/4K:overloaded]", "4K")
        delivery = await client.generate(request)
    finally:
        await client.aclose()
    assert delivery.image.size == "2K"
    assert _trail(sim) == [("4K", "overloaded"), ("2K", "success")]


async def test_waterfall_times_out_at_120_seconds(sim: Simulator) -> None:
    """A 4K call slower than 120 s is abandoned and the waterfall moves on."""
    client = WaterfallClient()
    await client.open(sim_env(sim))
    try:
        delivery = await client.generate(BenchRequest(0, "a cat [sim@gemini/4K:success~300]", "4K"))
    finally:
        await client.aclose()
    await sim.wait_idle()
    assert delivery.image.size == "2K"
    assert _trail(sim) == [("4K", "disconnected"), ("2K", "success")]


async def test_waterfall_retry_retries_503_then_moves_down_on_a_500(sim: Simulator) -> None:
    """Three 503s at 4K, then a 500 at 2K (not retried), then 1K."""
    client = WaterfallRetryClient()
    await client.open(sim_env(sim))
    prompt = "a cat [sim@gemini/4K:overloaded] [sim@gemini/2K:internal]"
    try:
        delivery = await client.generate(BenchRequest(0, prompt, "4K"))
    finally:
        await client.aclose()
    assert delivery.image.size == "1K"
    assert _trail(sim) == [("4K", "overloaded")] * 3 + [("2K", "internal"), ("1K", "success")]
    starts = [e.started for e in sim.events[:3]]
    assert starts[1] - starts[0] >= 30
    assert starts[2] - starts[1] >= 60


async def test_backoff_retries_429_and_raises_anything_else_at_once(sim: Simulator) -> None:
    """Two 429s are retried at the same tier; a 500 ends the request."""
    client = BackoffClient()
    await client.open(sim_env(sim))
    try:
        ok = await client.generate(BenchRequest(0, "a cat [sim:rate_limited*2,success]", "4K"))
        with pytest.raises(FieldError) as failed:
            await client.generate(BenchRequest(1, "a dog [sim:internal]", "4K"))
    finally:
        await client.aclose()
    assert ok.image.size == "4K"
    assert failed.value.kind == "500"
    assert _trail(sim) == [("4K", "rate_limited")] * 2 + [("4K", "success"), ("4K", "internal")]


async def test_backoff_gives_up_after_five_attempts(sim: Simulator) -> None:
    """Five 503s and the request fails."""
    client = BackoffClient()
    await client.open(sim_env(sim))
    try:
        with pytest.raises(FieldError) as failed:
            await client.generate(BenchRequest(0, "a cat [sim:overloaded]", "4K"))
    finally:
        await client.aclose()
    assert failed.value.kind == "503"
    assert len(sim.events) == 5


def test_classification_follows_the_fields_code() -> None:
    """429 or RESOURCE_EXHAUSTED, 503 or overloaded, else 500."""

    class Coded(Exception):
        def __init__(self, code: int, text: str) -> None:
            super().__init__(text)
            self.code = code

    assert classify(Coded(429, "x")) == "429"
    assert classify(Exception("RESOURCE_EXHAUSTED: quota")) == "429"
    assert classify(Coded(503, "x")) == "503"
    assert classify(Exception("The model is overloaded.")) == "503"
    assert classify(Coded(504, "Deadline expired")) == "500"
