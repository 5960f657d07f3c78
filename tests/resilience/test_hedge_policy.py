"""HedgePolicy's same-size racing fields: their validation and when a size is raced."""

from __future__ import annotations

import pytest

from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.stats import OutcomeWindow


@pytest.mark.parametrize("race_quantile", [0.0, 1.0, -0.5, 1.5])
def test_race_quantile_must_lie_strictly_between_0_and_1(race_quantile: float) -> None:
    """A race quantile of 0 or 1 (or outside) is refused at construction."""
    with pytest.raises(ValueError, match="race_quantile"):
        HedgePolicy(race_quantile=race_quantile)


@pytest.mark.parametrize("race_share", [-0.1, 1.01])
def test_race_share_must_lie_within_0_and_1(race_share: float) -> None:
    """A share of requests outside 0 … 1 is refused."""
    with pytest.raises(ValueError, match="race_share"):
        HedgePolicy(race_share=race_share)


@pytest.mark.parametrize("max_in_flight", [1, 0, -2, True])
def test_max_in_flight_must_be_at_least_2(max_in_flight: int) -> None:
    """A race holds the main attempt and at least one hedge."""
    with pytest.raises(ValueError, match="max_in_flight"):
        HedgePolicy(max_in_flight=max_in_flight)


def test_valid_racing_fields_are_kept() -> None:
    """Values inside their ranges are kept as given."""
    policy = HedgePolicy(race_quantile=0.75, race_share=1.0, race_backups=True, max_in_flight=3)
    assert (policy.race_quantile, policy.race_share, policy.race_backups) == (0.75, 1.0, True)
    assert policy.max_in_flight == 3


def test_sizes_at_or_below_the_hedge_size_are_raced_only_with_a_race_quantile() -> None:
    """race_quantile races attempts the smaller hedge does not apply to."""
    assert not HedgePolicy(size="2K").races("2K")
    policy = HedgePolicy(size="2K", race_quantile=0.75)
    assert [policy.races(size) for size in ("1K", "2K", "4K")] == [True, True, False]


def test_race_delay_reads_the_race_quantile() -> None:
    """The race waits for its own quantile of the window, clamped like the hedge delay."""
    policy = HedgePolicy(race_quantile=0.5, min_samples=3, min_delay_s=1.0)
    window = OutcomeWindow()
    for latency in (10.0, 20.0, 30.0, 40.0, 50.0):
        window.record(success=True, latency_s=latency, now=0.0)
    assert policy.delay_for(window, 0.0, quantile=policy.race_quantile) == 30.0
    assert policy.delay_for(window, 0.0) == 50.0  # the policy's own p90
