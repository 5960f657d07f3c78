"""The oracles, on worlds built in code: which candidate each picks, and what it costs."""

from __future__ import annotations

import math

import pytest

from imagegate.bench import DEFAULT_ROUTES, BenchRequest, judge
from imagegate.testing.simulator import Latency, Profile, Scenario, World

_ROUTES = DEFAULT_ROUTES


def _world(*profiles: Profile) -> World:
    catch_all = [
        Profile(provider=p, outcomes={"overloaded": 1.0}, fail_latency_s=Latency(fixed=1))
        for p in ("gemini", "vertex", "openai", "openai_compatible", "flux")
    ]
    return World(Scenario(name="t", profiles=(*profiles, *catch_all)), seed=0)


def test_latency_oracle_takes_the_earliest_image_on_any_route_and_tier() -> None:
    """A fast Flux backup beats a slow 4K primary for the latency oracle."""
    world = _world(
        Profile(provider="gemini", size="4K", latency_s=Latency(fixed=200)),
        Profile(provider="flux", latency_s=Latency(fixed=15)),
    )
    verdict = judge(world, BenchRequest(0, "a cat", "4K"), _ROUTES)
    assert verdict.latency.ok
    assert verdict.latency.latency_s == 15
    assert verdict.latency.route == "flux/flux-pro-1.1-ultra"
    assert verdict.latency.size == "2K"


def test_quality_oracle_takes_the_largest_tier_then_the_earliest() -> None:
    """The quality oracle prefers a slow 4K to a fast 2K."""
    world = _world(
        Profile(provider="gemini", size="4K", latency_s=Latency(fixed=200)),
        Profile(provider="vertex", size="4K", latency_s=Latency(fixed=150)),
        Profile(provider="flux", latency_s=Latency(fixed=15)),
    )
    verdict = judge(world, BenchRequest(0, "a cat", "4K"), _ROUTES)
    assert verdict.quality.size == "4K"
    assert verdict.quality.latency_s == 150
    assert verdict.quality.route == "vertex/gemini-3-pro-image"


def test_nothing_after_the_deadline_counts() -> None:
    """An image that would arrive after the request's deadline is no candidate."""
    world = _world(Profile(provider="gemini", size="1K", latency_s=Latency(fixed=500)))
    late = judge(world, BenchRequest(0, "a cat", "1K", deadline_s=400), _ROUTES)
    assert not late.latency.ok
    assert math.isinf(late.latency.latency_s)
    assert not late.quality.ok
    in_time = judge(world, BenchRequest(0, "a cat", "1K", deadline_s=600), _ROUTES)
    assert in_time.latency.latency_s == 500


def test_a_later_attempt_counts_with_the_billed_attempts_before_it() -> None:
    """Attempt 1 after a billed text refusal costs two images; attempts needed are two."""
    world = _world(Profile(provider="gemini", size="1K", latency_s=Latency(fixed=30)))
    prompt = "a cat [sim@gemini/1K:text_refusal,success~20]"
    verdict = judge(world, BenchRequest(0, prompt, "1K"), _ROUTES)
    assert verdict.latency.route == "gemini/gemini-3-pro-image"
    assert verdict.latency.attempt == 1
    assert verdict.latency.attempts == 2
    assert verdict.latency.cost_usd == pytest.approx(2 * 0.05)
    only_first = judge(world, BenchRequest(0, prompt, "1K"), _ROUTES, max_attempts=1)
    assert not only_first.latency.ok


def test_cheapest_image_is_a_lower_bound_on_cost() -> None:
    """The cheapest choice costs no more than either oracle's."""
    world = _world(
        Profile(provider="vertex", latency_s=Latency(fixed=20)),
        Profile(provider="openai", latency_s=Latency(fixed=40)),
    )
    verdict = judge(world, BenchRequest(0, "a cat", "4K"), _ROUTES)
    assert verdict.cheapest.route == "openai/gpt-image-1.5"
    assert verdict.cheapest.cost_usd <= verdict.latency.cost_usd
    assert verdict.cheapest.cost_usd <= verdict.quality.cost_usd


def test_backups_can_be_excluded() -> None:
    """With allow_backup=False only the primaries are candidates."""
    world = _world(Profile(provider="flux", latency_s=Latency(fixed=5)))
    verdict = judge(world, BenchRequest(0, "a cat", "4K"), _ROUTES, allow_backup=False)
    assert not verdict.latency.ok


def test_max_attempts_must_be_positive() -> None:
    """Zero attempts is refused."""
    world = _world()
    with pytest.raises(ValueError, match="max_attempts"):
        judge(world, BenchRequest(0, "a cat", "4K"), _ROUTES, max_attempts=0)
