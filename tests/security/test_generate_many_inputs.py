"""`generate_many` answers every input exactly once, whatever the input is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from imagegate import Route, Router
from imagegate.errors import InvalidRequestError
from imagegate.testing import Simulator

SCALE = 0.001  # one simulated second lasts 1 real ms
REAL_BOUND_S = 10.0  # a hang fails the test instead of the whole run


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A healthy upstream on 127.0.0.1."""
    async with Simulator("healthy", seed=0, time_scale=SCALE) as running:
        yield running


def _route(sim: Simulator) -> Route:
    return Route(
        "gemini",
        model="gemini-3-pro-image",
        base_url=sim.base_url("gemini"),
        api_key=sim.api_key("gemini"),
    )


async def _collect(router: Router, inputs: list[Any], concurrency: int) -> dict[int, Any]:
    answers: dict[int, Any] = {}
    with anyio.fail_after(REAL_BOUND_S):
        async for answer in router.generate_many(inputs, concurrency=concurrency):
            assert answer.index not in answers, "an input answered twice"
            answers[answer.index] = answer
    return answers


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_malformed_inputs_each_yield_one_invalid_request_error(
    sim: Simulator, concurrency: int
) -> None:
    """Inputs that are not requests (42, None, non-string keys, a 'cls' key) each yield
    an InvalidRequestError, and the good inputs around them still get their images."""
    bad: list[Any] = [42, None, {"prompt": "x", 1: 2}, {"prompt": "x", "cls": 1}, ["a", "b"]]
    inputs: list[Any] = ["a lighthouse", *bad, {"prompt": "a harbour", "size": "1K"}]
    async with Router([_route(sim)], clock=sim.clock) as router:
        answers = await _collect(router, inputs, concurrency)
    assert sorted(answers) == list(range(len(inputs)))
    assert answers[0].ok
    assert answers[len(inputs) - 1].ok
    for index in range(1, len(inputs) - 1):
        answer = answers[index]
        assert answer.result is None
        assert answer.request is None
        assert isinstance(answer.error, InvalidRequestError), answer
