"""`RetryBudget`: retries and hedges paid for by first attempts and a small floor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate.resilience.budget import RetryBudget
from imagegate.resilience.clock import FakeClock


def test_a_full_bucket_pays_for_max_tokens_extras(clock: FakeClock) -> None:
    """A new budget holds max_tokens; each extra takes one; then it says no."""
    budget = RetryBudget(max_tokens=3, min_per_s=0.0, clock=clock)
    assert [budget.try_withdraw() for _ in range(4)] == [True, True, True, False]
    stats = budget.statistics()
    assert (stats.retries, stats.refused) == (3, 1)


def test_ten_first_attempts_pay_for_one_retry(clock: FakeClock) -> None:
    """With max_extra_load=0.1, ten first attempts earn one retry."""
    budget = RetryBudget(max_extra_load=0.1, min_per_s=0.0, initial_tokens=0.0, clock=clock)
    for _ in range(9):
        budget.deposit()
    assert not budget.try_withdraw()
    budget.deposit()
    assert budget.try_withdraw()
    assert not budget.try_withdraw()
    assert budget.statistics().first_attempts == 10


def test_the_floor_refills_with_clock_time_up_to_the_cap(clock: FakeClock) -> None:
    """min_per_s adds tokens as the clock moves, never past max_tokens."""
    budget = RetryBudget(min_per_s=0.5, max_tokens=2, initial_tokens=0.0, clock=clock)
    clock.advance(1.9)
    assert not budget.try_withdraw()
    clock.advance(0.1)
    assert budget.try_withdraw()
    clock.advance(1000.0)
    assert budget.tokens == 2.0


def test_deposits_stop_at_the_cap(clock: FakeClock) -> None:
    """A long busy spell cannot save up more than max_tokens."""
    budget = RetryBudget(max_extra_load=0.5, min_per_s=0.0, max_tokens=2, clock=clock)
    for _ in range(100):
        budget.deposit()
    assert budget.tokens == 2.0


def test_hedges_and_retries_are_counted_apart(clock: FakeClock) -> None:
    """statistics() tells hedges from retries; repr shows the live token count."""
    budget = RetryBudget(max_tokens=5, min_per_s=0.0, clock=clock)
    budget.try_withdraw("hedge")
    budget.try_withdraw("retry")
    budget.try_withdraw("hedge")
    stats = budget.statistics()
    assert (stats.hedges, stats.retries, stats.tokens) == (2, 1, 2.0)
    assert repr(budget) == "RetryBudget(tokens=2.00/5, max_extra_load=0.1, min_per_s=0.0)"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_extra_load": -0.1},
        {"min_per_s": -1.0},
        {"max_tokens": 0.5},
        {"max_tokens": 2.0, "initial_tokens": 3.0},
    ],
)
def test_out_of_range_parameters_are_rejected(kwargs: dict[str, float]) -> None:
    """Negative rates, a bucket under one token or an overfull start raise ValueError."""
    with pytest.raises(ValueError, match="must"):
        RetryBudget(**kwargs)  # type: ignore[arg-type]


@given(
    steps=st.lists(st.tuples(st.sampled_from(["first", "extra"]), st.floats(0, 30)), max_size=200),
    ratio=st.floats(0, 1),
    floor=st.floats(0, 1),
    cap=st.floats(1, 20),
)
def test_extras_never_exceed_what_was_earned(
    steps: list[tuple[str, float]], ratio: float, floor: float, cap: float
) -> None:
    """Allowed extras ≤ max_tokens + max_extra_load · first attempts + min_per_s · elapsed."""
    clock = FakeClock()
    budget = RetryBudget(max_extra_load=ratio, min_per_s=floor, max_tokens=cap, clock=clock)
    for kind, dt in steps:
        clock.advance(dt)
        if kind == "first":
            budget.deposit()
        else:
            budget.try_withdraw()
        stats = budget.statistics()
        earned = cap + ratio * stats.first_attempts + floor * clock.now()
        assert stats.retries <= earned + 1e-6
        assert 0.0 <= stats.tokens <= cap
