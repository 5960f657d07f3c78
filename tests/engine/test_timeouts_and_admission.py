"""Adaptive attempt timeouts, size budgets and admission, unit and end to end (fake clock)."""

from __future__ import annotations

import pytest

from imagegate import FakeClock, Route, Router
from imagegate.errors import Overloaded
from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.retry import RetryPolicy
from imagegate.resilience.stats import OutcomeWindow
from imagegate.resilience.timeouts import AttemptTimeoutPolicy
from imagegate.testing import FakeProvider, fail, succeed


def _window(*latencies: float, failures: int = 0) -> OutcomeWindow:
    window = OutcomeWindow()
    for latency in latencies:
        window.record(success=True, latency_s=latency, now=0.0)
    for _ in range(failures):
        window.record(success=False, latency_s=600.0, now=0.0)
    return window


def test_learned_timeout_needs_enough_successes() -> None:
    """Cold start learns nothing; with min_samples successes it is factor × p99."""
    policy = AttemptTimeoutPolicy(min_samples=3, factor=1.5, quantile=0.99)
    assert policy.learned_s(None, now=0.0) is None
    assert policy.learned_s(_window(10.0, 20.0), now=0.0) is None
    assert policy.learned_s(_window(10.0, 20.0, 40.0), now=0.0) == 60.0
    assert policy.learned_s(_window(0.1, 0.1, 0.1), now=0.0) == policy.min_timeout_s


def test_timeout_is_the_smallest_limit() -> None:
    """Cap, learned timeout, size budget and deadline: the smallest wins; none means none."""
    policy = AttemptTimeoutPolicy(min_samples=1, factor=1.5)
    window = _window(100.0)
    assert policy.timeout_s(window=None, now=0.0, remaining_s=None) is None
    assert policy.timeout_s(window=window, now=0.0, remaining_s=None) == 150.0
    assert policy.timeout_s(window=window, now=0.0, remaining_s=90.0) == 90.0
    assert policy.timeout_s(window=None, now=0.0, remaining_s=600.0, size_left_s=300.0) == 300
    assert policy.timeout_s(window=window, now=0.0, remaining_s=600.0, cap_s=30.0) == 30.0


def test_size_budget_only_when_stepping_down_is_possible() -> None:
    """Only a size with a smaller one left gets a share of the deadline."""
    policy = AttemptTimeoutPolicy(fallback_share=0.5)
    assert policy.size_budget_s(600.0, can_step_down=True) == 300.0
    assert policy.size_budget_s(600.0, can_step_down=False) is None
    assert policy.size_budget_s(None, can_step_down=True) is None


def test_admission_estimate_counts_in_flight_as_unproven() -> None:
    """The Beta-style estimate falls as attempts pile up without outcomes."""
    policy = AdmissionPolicy(min_success_rate=0.3)
    assert AdmissionPolicy(in_flight_weight=0.0).success_estimate(None, in_flight=50) == 0.5
    assert policy.success_estimate(None) == 0.5
    assert policy.success_estimate(None, in_flight=2) == 0.25
    stats = _window(1.0, 1.0, 1.0, failures=1).statistics(now=0.0)
    assert policy.success_estimate(stats) == pytest.approx(4 / 6)
    assert not policy.admits(0.25, can_step_down=True)
    assert policy.admits(0.25, can_step_down=False)


@pytest.mark.parametrize(
    "kwargs",
    [{"quantile": 0.0}, {"factor": 0.5}, {"fallback_share": 0.0}, {"min_timeout_s": 0.0}],
)
def test_bad_timeout_policy(kwargs: dict[str, float]) -> None:
    """Impossible timeout settings are refused."""
    with pytest.raises(ValueError, match="must"):
        AttemptTimeoutPolicy(**kwargs)  # type: ignore[arg-type]


def test_bad_admission_policy() -> None:
    """A threshold of 1 or more would never admit anything and is refused."""
    with pytest.raises(ValueError, match="min_success_rate"):
        AdmissionPolicy(min_success_rate=1.0)


async def test_size_budget_keeps_time_to_step_down(clock: FakeClock, fake: FakeProvider) -> None:
    """A hanging 4K attempt is cut at half the deadline, leaving time for 2K."""
    fake.script("4K", succeed(latency_s=10_000.0))
    fake.script("2K", succeed(latency_s=60.0))
    timeouts = AttemptTimeoutPolicy(fallback_share=0.5)
    async with Router(
        [Route(fake, model="m")], clock=clock, hedge=None, timeouts=timeouts
    ) as router:
        result = await router.generate("x", size="4K", min_size="2K", deadline=600.0)
    slow, quick = result.attempts
    assert (slow.outcome, slow.duration_s) == ("timeout", 300.0)
    assert (quick.size, result.latency_s) == ("2K", 360.0)


async def test_all_attempts_at_one_size_share_its_budget(clock: FakeClock) -> None:
    """Two hanging 4K routes together use half the deadline, not half each in turn."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.script("4K", fail(Overloaded("busy"), latency_s=200.0))
    b.script("4K", succeed(latency_s=10_000.0))
    routes = [Route(a, model="m"), Route(b, model="m")]
    retry = RetryPolicy(attempts=1)
    timeouts = AttemptTimeoutPolicy(fallback_share=0.5)
    async with Router(
        routes, clock=clock, hedge=None, retry=retry, timeouts=timeouts, order="ladder"
    ) as router:
        result = await router.generate("x", size="4K", deadline=600.0)
    assert [(t.route, t.size, t.duration_s) for t in result.attempts][:2] == [
        ("a/m", "4K", 200.0),
        ("b/m", "4K", 100.0),
    ]
    assert result.size == "2K"


async def test_learned_timeout_abandons_hopeless_attempts(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """After successes of ~20 s, an attempt still out at 1.5 × p99 is abandoned."""
    timeouts = AttemptTimeoutPolicy(min_samples=5, factor=1.5)
    async with Router([Route(fake, model="m")], clock=clock, hedge=None, timeouts=timeouts) as r:
        for i in range(5):
            fake.script("1K", succeed(latency_s=20.0))
            await r.generate(f"warm{i}")
        fake.script("1K", succeed(latency_s=1000.0), succeed(latency_s=20.0))
        result = await r.generate("x", deadline=600.0)
    assert result.attempts[0].duration_s == 30.0
    assert result.attempts[0].outcome == "timeout"


async def test_cold_burst_is_throttled_then_steps_down(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """With no evidence, only some of a burst try 4K; the rest start smaller at once:
    one explores the untried 2K, the next (2K now in flight, unmeasured) takes 1K."""
    fake.script("4K", *(succeed(latency_s=100.0) for _ in range(20)))
    fake.script("2K", *(succeed(latency_s=30.0) for _ in range(20)))
    async with Router(
        [Route(fake, model="m")], clock=clock, hedge=None, max_in_flight=64, seed=0
    ) as r:
        burst = [{"prompt": f"p{i}", "size": "4K"} for i in range(10)]
        answers = [a async for a in r.generate_many(burst, concurrency=10)]
    sizes = sorted(a.result.size for a in answers if a.result)
    # With k in flight the estimate is 1/(k+2), optimistic by one standard error
    # sqrt(p(1-p)/(k+2)): k=7 gives 0.11 + 0.10 = 0.21 (admits), k=8 gives 0.195.
    assert len(fake.calls_at("4K")) == 8
    assert (len(fake.calls_at("2K")), len(fake.calls_at("1K"))) == (1, 1)
    assert sizes == ["1K", "2K"] + ["4K"] * 8


async def test_admission_off_tries_everything(clock: FakeClock, fake: FakeProvider) -> None:
    """admission=None sends the whole burst to 4K."""
    fake.default = succeed(latency_s=100.0)
    async with Router(
        [Route(fake, model="m")], clock=clock, hedge=None, admission=None, max_in_flight=64
    ) as r:
        burst = [{"prompt": f"p{i}", "size": "4K"} for i in range(10)]
        answers = [a async for a in r.generate_many(burst, concurrency=10)]
    assert [a.result.size for a in answers if a.result] == ["4K"] * 10
    assert len(fake.calls_at("4K")) == 10
