"""Every recorded answer through `Router.generate`, so the outcome reaches the caller as
the record implies: an image with its tier and cost, `AllRoutesFailed` holding the mapped
error (a refused request's `InvalidRequestError` among them) and its billing."""

from __future__ import annotations

import datetime as dt

import pytest

from imagegate import Router
from imagegate.errors import AllRoutesFailed
from imagegate.resilience.retry import RetryPolicy

from ._build import check_error, route
from ._fixtures import Fixture, all_fixtures
from ._replay import Replay

_BY_ID = {f.id: f for f in all_fixtures()}


@pytest.mark.parametrize("fixture", list(_BY_ID.values()), ids=list(_BY_ID))
async def test_router_outcome_follows_the_record(fixture: Fixture, replay: Replay) -> None:
    """One route, one attempt: the result or the attempt's error is what the record says."""
    replay.load(fixture.answers)
    asked = fixture.data["request"]
    # Judged as of a day before any model on record was deprecated: the answers are older
    # than the catalogue's deprecations (a route on a deprecated model warns, one on a
    # shut-down model does not open).
    router = Router(
        [route(fixture, replay.url)],
        retry=RetryPolicy(attempts=1),
        seed=1,
        today=dt.date(2025, 11, 1),
    )
    async with router:
        if "image" in fixture.expect:
            result = await router.generate(
                "a lighthouse at dusk", size=asked["size"], aspect_ratio=asked["aspect_ratio"]
            )
            want = fixture.expect["image"]
            assert (result.image.width, result.image.height) == (want["width"], want["height"])
            assert result.size == fixture.expect["delivered"]
            assert [a.billing for a in result.attempts] == ["billed"]
            if "cost_usd" in fixture.expect:
                assert result.cost_usd == pytest.approx(fixture.expect["cost_usd"], rel=0.05)
            return
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate(
                "a lighthouse at dusk", size=asked["size"], aspect_ratio=asked["aspect_ratio"],
                allow_downgrade=False,
            )  # fmt: skip
    (attempt,) = caught.value.attempts
    assert attempt.error is not None
    check_error(fixture, attempt.error)
    # A refused request (InvalidRequestError) carries no billing of its own: not billed.
    billing = getattr(attempt.error, "billing", "not_billed")
    assert attempt.billing == fixture.expect.get("billing", billing)
    if "message_contains" in fixture.expect:
        assert fixture.expect["message_contains"] in str(caught.value)


# Three attempts per option, backoff of hundredths of a second: retries without real waits.
_RETRYING = RetryPolicy(attempts=3, wait_initial_s=0.01, wait_max_s=0.01)

BLOCKS_THROUGH_AN_AGGREGATOR = tuple(
    f"openrouter/native_{reason}_stop"
    for reason in ("image_recitation", "recitation", "blocklist", "spii")
)


@pytest.mark.parametrize("fixture_id", BLOCKS_THROUGH_AN_AGGREGATOR)
async def test_an_output_block_through_an_aggregator_is_not_retried(
    fixture_id: str, replay: Replay
) -> None:
    """Google's block reasons behind an aggregator's ``finish_reason: "stop"`` end the
    route at once under a retrying policy: `ContentBlocked`, one call, while a rate limit
    on the same route is retried (the replay answers every call alike)."""
    fixture = _BY_ID[fixture_id]
    replay.load(fixture.answers)
    router = Router([route(fixture, replay.url)], retry=_RETRYING, today=dt.date(2025, 11, 1))
    async with router:
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a lighthouse at dusk", size="1K", allow_downgrade=False)
    assert [type(a.error).__name__ for a in caught.value.attempts] == ["ContentBlocked"]
    assert len(replay.calls) == 1


async def test_a_rate_limit_through_an_aggregator_is_retried(replay: Replay) -> None:
    """The contrast: the same route answering a recorded 429 is tried again."""
    fixture = _BY_ID["openrouter/rate_limited_429"]
    replay.load(fixture.answers)
    router = Router([route(fixture, replay.url)], retry=_RETRYING, today=dt.date(2025, 11, 1))
    async with router:
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a lighthouse at dusk", size="1K", allow_downgrade=False)
    assert len(caught.value.attempts) > 1
    assert len(replay.calls) == len(caught.value.attempts)
