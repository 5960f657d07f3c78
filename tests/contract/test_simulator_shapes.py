"""The shipped simulator's own answers, captured raw over HTTP, have the recorded shape.

Each provider is exercised through its success, no-image, 429, 503 and 400 paths. Where
the simulator differs from the record the case is marked xfail (strict) naming the
difference: the simulator is what is wrong there, and fixing it lifts the mark.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from imagegate.testing.simulator import Simulator

from ._capture import OUTCOMES, capture
from ._shapes import problems

PROVIDERS = ("gemini", "vertex", "openai", "openrouter", "flux")

DIFFERENCES: dict[tuple[str, str], str] = {}
"""(provider, path) → how the simulator's answer differs from the record."""


def cases() -> list[object]:
    """Every provider × path, xfail-marked where the simulator differs from the record."""
    params = []
    for provider in PROVIDERS:
        for outcome in OUTCOMES:
            marks = []
            if (provider, outcome) in DIFFERENCES:
                reason = DIFFERENCES[provider, outcome]
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(pytest.param(provider, outcome, id=f"{provider}-{outcome}", marks=marks))
    return params


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The healthy scenario in fast time (markers force each path)."""
    async with Simulator("healthy", seed=0, time_scale=0.0001) as running:
        yield running


@pytest.mark.parametrize(("provider", "outcome"), cases())
async def test_simulator_answer_has_the_recorded_shape(
    sim: Simulator, provider: str, outcome: str
) -> None:
    """The simulator's raw answer on this path passes the record's shape check."""
    answers = await capture(sim, provider, outcome)
    expected = {"rate_limited": {429}, "overloaded": {503}, "bad_request": {400, 422}}
    # gpt-image refuses with 400 moderation_blocked, not an empty 200.
    refusal = {("openai", "no_image"): {400}}
    allowed = refusal.get((provider, outcome), expected.get(outcome, {200}))
    assert answers[0]["status"] in allowed
    found = [p for answer in answers for p in problems(provider, answer)]
    assert found == []
