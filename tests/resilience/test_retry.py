"""`RetryPolicy`: full-jitter backoff, retry hints, attempts and the deadline."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegate.errors import (
    ContentBlocked,
    DeadlineExceeded,
    InvalidRequestError,
    Overloaded,
    QuotaExhausted,
    RateLimited,
)
from imagegate.resilience.retry import RetryPolicy


def test_plain_exponential_backoff_without_jitter() -> None:
    """jitter=0 waits wait_initial_s · base ** (k - 1), capped at wait_max_s."""
    policy = RetryPolicy(attempts=6, wait_initial_s=1.0, wait_max_s=5.0, jitter=0.0)
    waits = [policy.next_wait_s(k, Overloaded("busy"), remaining_s=None) for k in range(1, 6)]
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_full_jitter_draws_below_the_ceiling() -> None:
    """jitter=1 draws uniformly in (0, ceiling]: a seeded rng gives the formula's value."""
    policy = RetryPolicy(wait_initial_s=2.0, wait_max_s=60.0, rng=random.Random(7))
    expected = 4.0 * (1.0 - random.Random(7).random())
    assert policy.next_wait_s(2, Overloaded("busy"), remaining_s=None) == pytest.approx(expected)


def test_same_seed_same_waits() -> None:
    """Two policies with equally seeded generators produce the same waits."""
    waits = [
        [
            RetryPolicy(attempts=5, rng=rng).next_wait_s(k, Overloaded("x"), remaining_s=None)
            for k in range(1, 5)
        ]
        for rng in (random.Random(3), random.Random(3))
    ]
    assert waits[0] == waits[1]


def test_a_retry_hint_is_a_minimum_even_above_wait_max() -> None:
    """retry_after_s raises the wait, past wait_max_s if it must."""
    policy = RetryPolicy(wait_initial_s=1.0, wait_max_s=5.0, jitter=0.0)
    assert policy.next_wait_s(1, RateLimited("429", retry_after_s=42.0), remaining_s=None) == 42.0
    assert policy.next_wait_s(1, RateLimited("429", retry_after_s=0.5), remaining_s=None) == 1.0


@pytest.mark.parametrize(
    "error",
    [
        QuotaExhausted("daily"),
        ContentBlocked("unsafe"),
        Overloaded("busy", retryable=False),
        InvalidRequestError("bad size"),
        ValueError("not ours"),
    ],
)
def test_only_retryable_provider_errors_are_retried(error: BaseException) -> None:
    """Errors that are not retryable ProviderErrors get None."""
    assert RetryPolicy().next_wait_s(1, error, remaining_s=None) is None


def test_attempts_are_counted_per_option() -> None:
    """After ``attempts`` attempts the answer is None."""
    policy = RetryPolicy(attempts=3)
    assert policy.next_wait_s(2, DeadlineExceeded("504"), remaining_s=None) is not None
    assert policy.next_wait_s(3, DeadlineExceeded("504"), remaining_s=None) is None
    assert RetryPolicy(attempts=1).next_wait_s(1, Overloaded("x"), remaining_s=None) is None


def test_a_wait_that_leaves_no_useful_attempt_time_is_refused() -> None:
    """wait + min_attempt_s must fit in remaining_s, else None."""
    policy = RetryPolicy(wait_initial_s=4.0, jitter=0.0, min_attempt_s=1.0)
    assert policy.next_wait_s(1, Overloaded("x"), remaining_s=5.0) == 4.0
    assert policy.next_wait_s(1, Overloaded("x"), remaining_s=4.9) is None
    hinted = RateLimited("429", retry_after_s=30.0)
    assert policy.next_wait_s(1, hinted, remaining_s=20.0) is None


def test_huge_retry_numbers_cap_instead_of_overflowing() -> None:
    """The ceiling saturates at wait_max_s even when base ** k overflows a float."""
    policy = RetryPolicy(wait_exp_base=10.0, wait_max_s=9.0)
    assert policy.ceiling_s(10_000) == 9.0
    with pytest.raises(ValueError, match="start at 1"):
        policy.ceiling_s(0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0},
        {"wait_initial_s": -1.0},
        {"wait_initial_s": 10.0, "wait_max_s": 1.0},
        {"wait_exp_base": 0.5},
        {"jitter": 1.5},
        {"min_attempt_s": -1.0},
        {"failover_after_s": -1.0},
    ],
)
def test_out_of_range_parameters_are_rejected(kwargs: dict[str, float]) -> None:
    """Nonsensical parameters raise ValueError at construction."""
    with pytest.raises(ValueError, match=r"must|need"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


_policies = st.builds(
    lambda initial, extra, base, jitter, min_attempt, seed: RetryPolicy(
        attempts=10,
        wait_initial_s=initial,
        wait_max_s=initial + extra,
        wait_exp_base=base,
        jitter=jitter,
        min_attempt_s=min_attempt,
        rng=random.Random(seed),
    ),
    st.floats(0, 60),
    st.floats(0, 600),
    st.floats(1, 10),
    st.floats(0, 1),
    st.floats(0, 30),
    st.integers(0, 2**32),
)


@settings(max_examples=500)
@given(
    policy=_policies,
    attempt=st.integers(1, 9),
    hint=st.none() | st.floats(0, 1000),
    remaining=st.none() | st.floats(-10, 5000),
)
def test_backoff_stays_within_its_bounds(
    policy: RetryPolicy, attempt: int, hint: float | None, remaining: float | None
) -> None:
    """Every wait is within [(1 - jitter) · ceiling, ceiling], at least the hint, and fits;
    no wait only for a lack of time or a hint above the ceiling."""
    wait = policy.next_wait_s(attempt, Overloaded("x", retry_after_s=hint), remaining_s=remaining)
    if wait is None:
        cap = policy.max_retry_after_s
        assert remaining is not None or (hint is not None and cap is not None and hint > cap)
        return
    ceiling = policy.ceiling_s(attempt)
    low = (1 - policy.jitter) * ceiling
    assert low - 1e-9 <= wait <= max(ceiling, hint or 0.0) + 1e-9
    if hint is not None:
        assert wait >= hint
    if remaining is not None:
        assert wait + policy.min_attempt_s <= remaining


@settings(max_examples=300)
@given(
    policy=_policies,
    deadline=st.floats(1, 1000),
    durations=st.lists(st.floats(0, 200), min_size=1, max_size=10),
    hints=st.lists(st.none() | st.floats(0, 120), min_size=10, max_size=10),
)
def test_a_retry_loop_never_schedules_past_the_deadline(
    policy: RetryPolicy, deadline: float, durations: list[float], hints: list[float | None]
) -> None:
    """Replaying failures in a retry loop, no retry ever starts too late to be useful."""
    now, attempt = 0.0, 1
    for duration, hint in zip(durations, hints, strict=False):
        now += duration
        if now >= deadline:
            break
        error = Overloaded("x", retry_after_s=hint)
        wait = policy.next_wait_s(attempt, error, remaining_s=deadline - now)
        if wait is None:
            break
        now += wait
        assert now + policy.min_attempt_s <= deadline
        attempt += 1
