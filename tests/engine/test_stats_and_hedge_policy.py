"""Outcome windows and the hedge delay rule (fixed, adaptive p90, cold start)."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.stats import OutcomeWindow


def test_window_forgets_old_outcomes() -> None:
    """Outcomes older than window_s stop counting."""
    window = OutcomeWindow(window_s=100.0)
    window.record(success=False, latency_s=600.0, now=0.0)
    window.record(success=True, latency_s=20.0, now=50.0)
    assert window.success_rate(now=60.0) == 0.5
    assert window.success_rate(now=120.0) == 1.0
    assert window.success_rate(now=500.0) is None


def test_quantiles_use_successes_only() -> None:
    """Latency quantiles describe successes; failures only lower the success rate."""
    window = OutcomeWindow()
    for latency in range(1, 11):
        window.record(success=True, latency_s=float(latency), now=0.0)
    window.record(success=False, latency_s=600.0, now=0.0)
    stats = window.statistics(now=0.0)
    assert (stats.calls, stats.successes) == (11, 10)
    assert (stats.p50_s, stats.p90_s, stats.p95_s) == (5.0, 9.0, 10.0)
    assert window.quantile(0.9, now=0.0) == 9.0
    assert stats.ewma_s is not None
    assert 1.0 < stats.ewma_s < 10.0


def test_max_samples_bounds_memory() -> None:
    """Only the newest max_samples outcomes are kept."""
    window = OutcomeWindow(max_samples=3)
    for i in range(10):
        window.record(success=i >= 7, latency_s=1.0, now=float(i))
    assert window.statistics(now=10.0).calls == 3
    assert window.success_rate(now=10.0) == 1.0


def test_hedge_applies_above_its_size_only() -> None:
    """A 2K hedge applies to 4K attempts, not to 2K or 1K ones, and not when disabled."""
    policy = HedgePolicy(size="2K")
    assert policy.applies_to("4K")
    assert not policy.applies_to("2K")


def test_fixed_delay_wins() -> None:
    """delay_s, when given, is used as is."""
    assert HedgePolicy(delay_s=42.0).delay_for(OutcomeWindow(), now=0.0) == 42.0


def test_cold_start_uses_cold_delay() -> None:
    """Without enough successes the cold delay applies."""
    policy = HedgePolicy(cold_delay_s=90.0, min_samples=3)
    window = OutcomeWindow()
    assert policy.delay_for(None, now=0.0) == 90.0
    window.record(success=True, latency_s=5.0, now=0.0)
    assert policy.delay_for(window, now=0.0) == 90.0


def test_adaptive_delay_is_clamped_p90() -> None:
    """With history the delay is the p90 of successes, clamped to floor and ceiling."""
    policy = HedgePolicy(min_samples=3, min_delay_s=10.0, max_delay_s=200.0)
    window = OutcomeWindow()
    for latency in (100.0, 120.0, 140.0, 160.0, 180.0):
        window.record(success=True, latency_s=latency, now=0.0)
    assert policy.delay_for(window, now=0.0) == 180.0
    fast = OutcomeWindow()
    for _ in range(5):
        fast.record(success=True, latency_s=1.0, now=0.0)
    assert policy.delay_for(fast, now=0.0) == 10.0
    slow = OutcomeWindow()
    for _ in range(5):
        slow.record(success=True, latency_s=900.0, now=0.0)
    assert policy.delay_for(slow, now=0.0) == 200.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delay_s": -1.0},
        {"quantile": 1.0},
        {"min_delay_s": 5.0, "max_delay_s": 1.0},
        {"grace_s": -1},
    ],
)
def test_bad_hedge_policy_is_refused(kwargs: dict[str, float]) -> None:
    """Impossible settings are refused when the policy is built."""
    with pytest.raises(ValueError, match="must"):
        HedgePolicy(**kwargs)  # type: ignore[arg-type]


@given(
    events=st.lists(
        st.tuples(st.booleans(), st.floats(0.0, 1000.0), st.floats(0.0, 50.0)), max_size=60
    ),
    window_s=st.floats(1.0, 200.0),
    max_samples=st.integers(1, 20),
)
def test_window_matches_a_naive_recount(
    events: list[tuple[bool, float, float]], window_s: float, max_samples: int
) -> None:
    """The incremental window agrees with recounting the kept outcomes from scratch."""
    window = OutcomeWindow(window_s=window_s, max_samples=max_samples)
    kept: list[tuple[float, bool, float]] = []
    now = 0.0
    for ok, latency, step in events:
        now += step
        window.record(success=ok, latency_s=latency, now=now)
        kept = [*kept, (now, ok, latency)][-max_samples:]
        live = [k for k in kept if k[0] >= now - window_s]
        oks = sorted(lat for _, good, lat in live if good)
        stats = window.statistics(now)
        assert (stats.calls, stats.successes) == (len(live), len(oks))
        assert window.quantile(0.5, now) == (oks[max(1, -(-len(oks) // 2)) - 1] if oks else None)
        if oks:
            assert stats.mean_s == pytest.approx(statistics.fmean(oks), abs=1e-6)
        else:
            assert stats.mean_s is None
        if len(oks) > 1:
            assert stats.stdev_s == pytest.approx(statistics.stdev(oks), abs=1e-4)
        else:
            assert stats.stdev_s is None


@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 100), st.floats(0, 1000)), max_size=40),
    st.floats(0, 2000),
    st.integers(0, 5),
)
def test_counts_and_the_estimates_from_them_agree_with_the_statistics(
    outcomes: list[tuple[bool, float, float]], now: float, in_flight: int
) -> None:
    """What the hot path reads (the window's counts, the estimates from them) is what the
    full statistics say."""
    window = OutcomeWindow(window_s=500.0, max_samples=16)
    for success, latency, at in sorted(outcomes, key=lambda o: o[2]):
        window.record(success=success, latency_s=latency, now=at)
    stats = window.statistics(now)
    assert window.counts(now) == (stats.successes, stats.calls)
    policy = AdmissionPolicy()
    successes, calls = window.counts(now)
    assert policy.estimates_from(successes, calls, in_flight=in_flight) == (
        policy.success_estimate(stats, in_flight=in_flight),
        policy.upper_bound(stats, in_flight=in_flight),
    )


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 5), st.floats(0.1, 5.0))
def test_the_estimates_kept_are_each_policys_own(
    successes: int, extra: int, in_flight: int, prior: float
) -> None:
    """Asked again with the same counts, a policy answers as it did; another policy with
    other priors, asked with the same counts, gets its own answer, not the one kept."""
    calls = successes + extra
    cold, warm = AdmissionPolicy(), AdmissionPolicy(prior_successes=prior, prior_failures=0.5)
    first = cold.estimates_from(successes, calls, in_flight=in_flight)
    assert cold.estimates_from(successes, calls, in_flight=in_flight) == first
    weighted, outcomes = warm._evidence_of(successes, calls, in_flight)
    p = weighted / outcomes
    assert warm.estimates_from(successes, calls, in_flight=in_flight) == pytest.approx(
        (p, p + math.sqrt(p * (1 - p) / outcomes))
    )
