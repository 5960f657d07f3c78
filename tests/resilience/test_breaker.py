"""`CircuitBreaker` and `BreakerRegistry`: the state machine, probes, cool-downs, quotas."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegate.errors import (
    ContentBlocked,
    DeadlineExceeded,
    InvalidRequestError,
    NoImageReturned,
    Overloaded,
    QuotaExhausted,
    RateLimited,
)
from imagegate.resilience._breaker_ops import _add
from imagegate.resilience.breaker import (
    BreakerAcquire,
    BreakerPermit,
    BreakerPolicy,
    BreakerRecord,
    BreakerRegistry,
    BreakerReport,
    CircuitBreaker,
)
from imagegate.resilience.clock import FakeClock
from imagegate.state import MemoryState

from .conftest import EPOCH, wall_clock

# Rates only: no consecutive-failure trip unless a test asks for it.
RATES = BreakerPolicy(consecutive_failures=None, min_calls=4, window_s=60.0, cooldown_s=10.0)


def _breaker(clock: FakeClock, policy: BreakerPolicy = RATES, **kwargs: Any) -> CircuitBreaker:
    return CircuitBreaker("gemini", "4K", policy, clock=clock, wall_now=wall_clock(clock), **kwargs)


async def _call(
    breaker: CircuitBreaker, error: BaseException | None = None, duration_s: float = 1.0
) -> bool:
    """One call through the breaker; False when it was refused."""
    permit = await breaker.try_acquire()
    if permit is None:
        return False
    if error is None:
        await breaker.record_success(permit, duration_s=duration_s)
    else:
        await breaker.record_failure(permit, error, duration_s=duration_s)
    return True


async def _trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.policy.min_calls):
        await _call(breaker, Overloaded("503"))
    assert breaker.state == "open"


async def test_a_new_breaker_is_closed_and_lets_calls_through(clock: FakeClock) -> None:
    """Closed: allow() is True and every call gets a (non-probe) permit."""
    breaker = _breaker(clock)
    assert breaker.state == "closed"
    assert breaker.allow()
    permit = await breaker.try_acquire()
    assert permit == BreakerPermit(probe=False, token=0.0)


async def test_it_opens_when_the_failure_rate_is_reached(clock: FakeClock) -> None:
    """With min_calls in the window and failures/calls ≥ failure_rate, it opens."""
    breaker = _breaker(clock)
    for error in (Overloaded("503"), None, DeadlineExceeded("504")):
        await _call(breaker, error)
    assert breaker.state == "closed"  # 3 calls < min_calls
    await _call(breaker, None)
    assert breaker.state == "open"  # 2 of 4 failed: 50%
    assert breaker.statistics().reason == "failure_rate"
    assert not breaker.allow()
    assert await breaker.try_acquire() is None


async def test_successes_keep_it_closed(clock: FakeClock) -> None:
    """Below the failure rate it stays closed however many calls are made."""
    breaker = _breaker(clock)
    for i in range(20):
        await _call(breaker, Overloaded("503") if i % 3 == 2 else None)
    assert breaker.state == "closed"
    assert breaker.statistics().failure_rate == pytest.approx(6 / 20)


async def test_the_window_slides_with_clock_time(clock: FakeClock) -> None:
    """Failures older than window_s no longer count."""
    breaker = _breaker(clock)
    for _ in range(3):
        await _call(breaker, Overloaded("503"))
    clock.advance(61.0)
    await _call(breaker, Overloaded("503"))
    assert breaker.state == "closed"
    assert breaker.statistics().calls == 1


async def test_consecutive_failures_open_it_below_min_calls(clock: FakeClock) -> None:
    """consecutive_failures=3 opens after three failures in a row, whatever min_calls says."""
    policy = BreakerPolicy(consecutive_failures=3, min_calls=100)
    breaker = _breaker(clock, policy)
    await _call(breaker, Overloaded("503"))
    await _call(breaker, Overloaded("503"))
    await _call(breaker, None)  # resets the run
    await _call(breaker, Overloaded("503"))
    await _call(breaker, Overloaded("503"))
    assert breaker.state == "closed"
    await _call(breaker, Overloaded("503"))
    assert breaker.state == "open"
    assert breaker.statistics().reason == "consecutive_failures"


async def test_slow_calls_open_it(clock: FakeClock) -> None:
    """Successes slower than slow_call_s count toward slow_call_rate."""
    policy = BreakerPolicy(
        consecutive_failures=None, min_calls=4, slow_call_s=100.0, slow_call_rate=0.75
    )
    breaker = _breaker(clock, policy)
    for duration in (150.0, 20.0, 100.0):
        await _call(breaker, None, duration_s=duration)
    assert breaker.state == "closed"
    await _call(breaker, None, duration_s=300.0)
    assert breaker.state == "open"
    assert breaker.statistics().reason == "slow_call_rate"


@pytest.mark.parametrize(
    "error",
    [
        ContentBlocked("unsafe"),
        InvalidRequestError("bad ratio"),
        NoImageReturned("a text refusal"),
        ValueError("not a provider error"),
    ],
)
async def test_neutral_errors_never_open_it(clock: FakeClock, error: BaseException) -> None:
    """Refusals and bad requests say nothing about the route's health."""
    breaker = _breaker(clock)
    for _ in range(10):
        await _call(breaker, error)
    assert breaker.state == "closed"
    assert breaker.statistics().calls == 0


async def test_rate_limited_counts_as_a_failure(clock: FakeClock) -> None:
    """A 429 is evidence against the route (it is refusing us now)."""
    breaker = _breaker(clock)
    for _ in range(4):
        await _call(breaker, RateLimited("429"))
    assert breaker.state == "open"


async def test_after_the_cooldown_it_lets_one_probe_through(clock: FakeClock) -> None:
    """Open → half-open after cooldown_s; only half_open_probes probes at a time."""
    breaker = _breaker(clock)
    await _trip(breaker)
    clock.advance(9.9)
    assert await breaker.try_acquire() is None
    clock.advance(0.1)
    assert breaker.state == "half_open"
    assert breaker.allow()
    probe = await breaker.try_acquire()
    assert probe is not None
    assert probe.probe
    assert not breaker.allow()
    assert await breaker.try_acquire() is None
    await breaker.record_success(probe, duration_s=1.0)
    assert breaker.state == "closed"
    assert breaker.statistics().cooldown_level == 0


async def test_n_probes_run_together_and_all_must_succeed(clock: FakeClock) -> None:
    """half_open_probes=2: two concurrent probes, a third is refused, two successes close."""
    policy = BreakerPolicy(consecutive_failures=2, cooldown_s=5.0, half_open_probes=2)
    breaker = _breaker(clock, policy)
    await _call(breaker, Overloaded("503"))
    await _call(breaker, Overloaded("503"))
    clock.advance(5.0)
    first, second = await breaker.try_acquire(), await breaker.try_acquire()
    assert first is not None
    assert second is not None
    assert first.probe
    assert second.probe
    assert await breaker.try_acquire() is None
    assert breaker.statistics().probes_in_flight == 2
    await breaker.record_success(first, duration_s=1.0)
    assert breaker.state == "half_open"
    assert await breaker.try_acquire() is None  # one success + one in flight = 2
    await breaker.record_success(second, duration_s=1.0)
    assert breaker.state == "closed"


async def test_a_failed_probe_reopens_with_a_growing_capped_cooldown(clock: FakeClock) -> None:
    """Each failed probe doubles the cool-down up to cooldown_max_s; closing resets it."""
    policy = BreakerPolicy(
        consecutive_failures=1, cooldown_s=10.0, cooldown_multiplier=2.0, cooldown_max_s=50.0
    )
    breaker = _breaker(clock, policy)
    await _call(breaker, Overloaded("503"))
    cooldowns = []
    for _ in range(5):
        cooldowns.append(breaker.statistics().open_for_s)
        clock.advance(breaker.statistics().open_for_s)
        assert await _call(breaker, Overloaded("503"))  # the probe fails
        assert breaker.statistics().reason == "probe_failed"
    assert cooldowns == [10.0, 20.0, 40.0, 50.0, 50.0]
    clock.advance(50.0)
    assert await _call(breaker, None)
    assert breaker.state == "closed"
    await _call(breaker, Overloaded("503"))
    assert breaker.statistics().open_for_s == 10.0


async def test_a_slow_probe_counts_as_a_failed_one(clock: FakeClock) -> None:
    """A probe that succeeds but slower than slow_call_s reopens the breaker."""
    policy = BreakerPolicy(consecutive_failures=1, slow_call_s=60.0, cooldown_s=5.0)
    breaker = _breaker(clock, policy)
    await _call(breaker, Overloaded("503"))
    clock.advance(5.0)
    await _call(breaker, None, duration_s=61.0)
    assert breaker.state == "open"
    assert breaker.statistics().reason == "probe_slow"


async def test_a_released_probe_frees_its_slot(clock: FakeClock) -> None:
    """A cancelled probe (release) lets the next probe go without deciding anything."""
    breaker = _breaker(clock)
    await _trip(breaker)
    clock.advance(10.0)
    probe = await breaker.try_acquire()
    assert probe is not None
    await breaker.release(probe)
    assert breaker.state == "half_open"
    assert await breaker.try_acquire() is not None


async def test_a_neutral_probe_result_frees_its_slot(clock: FakeClock) -> None:
    """A probe ending in a content refusal frees the slot and leaves it half-open."""
    breaker = _breaker(clock)
    await _trip(breaker)
    clock.advance(10.0)
    assert await _call(breaker, ContentBlocked("unsafe"))
    assert breaker.state == "half_open"
    assert breaker.allow()


async def test_a_forgotten_probe_expires(clock: FakeClock) -> None:
    """A probe never reported stops holding its slot after probe_timeout_s."""
    policy = BreakerPolicy(consecutive_failures=1, cooldown_s=5.0, probe_timeout_s=100.0)
    breaker = _breaker(clock, policy)
    await _call(breaker, Overloaded("503"))
    clock.advance(5.0)
    lost = await breaker.try_acquire()
    assert lost is not None
    clock.advance(99.0)
    assert await breaker.try_acquire() is None
    clock.advance(1.0)
    fresh = await breaker.try_acquire()
    assert fresh is not None
    await breaker.record_failure(lost, Overloaded("late"), duration_s=1.0)  # stale: ignored
    assert breaker.state == "half_open"
    await breaker.record_success(fresh, duration_s=1.0)
    assert breaker.state == "closed"


async def test_results_of_calls_started_before_it_opened_are_ignored(clock: FakeClock) -> None:
    """A closed-state permit reported after the breaker opened changes nothing."""
    breaker = _breaker(clock)
    late = await breaker.try_acquire()
    assert late is not None
    await _trip(breaker)
    await breaker.record_success(late, duration_s=1.0)
    assert breaker.state == "open"
    clock.advance(10.0)
    await breaker.record_failure(late, Overloaded("503"), duration_s=1.0)
    assert breaker.state == "half_open"


async def test_quota_exhausted_opens_it_until_the_reset_time(clock: FakeClock) -> None:
    """QuotaExhausted(reset_at) keeps it open until that wall-clock time, then probes."""
    breaker = _breaker(clock)
    reset_at = EPOCH + timedelta(hours=3)
    assert await _call(breaker, QuotaExhausted("daily quota", reset_at=reset_at))
    assert breaker.state == "open"
    assert breaker.statistics().reason == "quota"
    assert breaker.statistics().open_for_s == pytest.approx(3 * 3600)
    clock.advance(3 * 3600 - 1.0)
    assert await breaker.try_acquire() is None
    clock.advance(1.0)
    assert breaker.state == "half_open"


@pytest.mark.parametrize(
    ("reset_at", "expected_s"),
    [(None, 3600.0), (EPOCH - timedelta(minutes=1), 10.0), (EPOCH.replace(tzinfo=None), 10.0)],
)
async def test_quota_exhausted_without_a_future_reset(
    clock: FakeClock, reset_at: Any, expected_s: float
) -> None:
    """Unknown reset: quota_cooldown_s; a reset already past: the normal cool-down."""
    breaker = _breaker(clock)
    await _call(breaker, QuotaExhausted("credits", reset_at=reset_at))
    assert breaker.statistics().open_for_s == pytest.approx(expected_s)


async def test_quota_exhausted_never_shortens_an_open_spell(clock: FakeClock) -> None:
    """A quota error while open extends the cool-down but never cuts it."""
    breaker = _breaker(clock)
    late = await breaker.try_acquire()
    assert late is not None
    await _call(breaker, QuotaExhausted("q", reset_at=EPOCH + timedelta(hours=1)))
    await breaker.record_failure(
        late, QuotaExhausted("q", reset_at=EPOCH + timedelta(minutes=1)), duration_s=1.0
    )
    assert breaker.statistics().open_for_s == pytest.approx(3600.0)


async def test_every_transition_is_logged(
    clock: FakeClock, logs: list[MutableMapping[str, Any]]
) -> None:
    """breaker.opened, breaker.half_open and breaker.closed carry the route and size."""
    breaker = _breaker(clock)
    await _trip(breaker)
    clock.advance(10.0)
    await _call(breaker, None)
    events = [(e["event"], e["route"], e["size"]) for e in logs]
    assert events == [
        ("breaker.opened", "gemini", "4K"),
        ("breaker.half_open", "gemini", "4K"),
        ("breaker.closed", "gemini", "4K"),
    ]
    assert logs[0]["reason"] == "failure_rate"
    assert logs[0]["open_for_s"] == 10.0
    assert logs[0]["log_level"] == "warning"


async def test_statistics_and_repr_show_the_live_state(clock: FakeClock) -> None:
    """statistics() counts the window; repr shows state and cool-down."""
    breaker = _breaker(clock)
    await _call(breaker, Overloaded("503"))
    await _call(breaker, None)
    stats = breaker.statistics()
    assert (stats.calls, stats.failures, stats.consecutive_failures) == (2, 1, 0)
    assert repr(breaker) == (
        "CircuitBreaker('gemini', '4K', state=closed, calls=2, failures=1, open_for_s=0)"
    )


async def test_a_failing_4k_does_not_block_1k_on_the_same_route(clock: FakeClock) -> None:
    """Breakers are keyed by (route, size): 4K open, 1K still closed."""
    registry = BreakerRegistry(RATES, clock=clock)
    four_k = registry.get("gemini", "4K")
    for _ in range(4):
        await _call(four_k, DeadlineExceeded("504"))
    assert four_k.state == "open"
    assert registry.get("gemini", "1K").allow()
    assert await registry.get("gemini", "1K").try_acquire() is not None
    assert registry.get("gemini", "4K") is four_k
    assert [(s.size, s.state) for s in registry.statistics().breakers] == [
        ("1K", "closed"),
        ("4K", "open"),
    ]
    assert repr(registry) == "BreakerRegistry(2 breakers, closed=1, open=1)"
    assert len(registry) == 2
    assert {b.size for b in registry} == {"1K", "4K"}


def test_the_registry_applies_policies_by_size(clock: FakeClock) -> None:
    """by_size gives a size its own policy; others get the default."""
    slow_4k = BreakerPolicy(slow_call_s=400.0)
    registry = BreakerRegistry(RATES, by_size={"4K": slow_4k}, clock=clock)
    assert registry.get("vertex", "4K").policy is slow_4k
    assert registry.get("vertex", "2K").policy is RATES


async def test_breakers_sharing_a_backend_are_one_breaker(clock: FakeClock) -> None:
    """Two workers' breakers on one backend: one's evidence opens both; N probes in all."""
    backend = MemoryState()
    worker_a = _breaker(clock, backend=backend)
    worker_b = _breaker(clock, backend=backend)
    await _trip(worker_a)
    assert worker_b.state == "open"
    clock.advance(10.0)
    assert await worker_a.try_acquire() is not None
    assert await worker_b.try_acquire() is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_rate": 0.0},
        {"min_calls": 0},
        {"consecutive_failures": 0},
        {"window_s": 0.0},
        {"slow_call_s": -1.0},
        {"cooldown_multiplier": 0.5},
        {"cooldown_s": 10.0, "cooldown_max_s": 5.0},
    ],
)
def test_bad_policies_are_rejected(kwargs: dict[str, Any]) -> None:
    """Out-of-range policy values raise ValueError."""
    with pytest.raises(ValueError, match="must"):
        BreakerPolicy(**kwargs)


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.just(0)),
        st.tuples(st.sampled_from(["success", "failure", "neutral"]), st.integers(0, 10)),
        st.tuples(st.just("advance"), st.integers(1, 40)),
    ),
    max_size=80,
)


@settings(max_examples=300)
@given(steps=_steps, probes=st.integers(1, 3))
def test_random_histories_never_exceed_the_probe_limit(
    steps: list[tuple[str, int]], probes: int
) -> None:
    """Whatever happens, half-open never has more than half_open_probes outstanding probes,
    and an open breaker never hands out a permit."""
    policy = BreakerPolicy(
        consecutive_failures=2, cooldown_s=10.0, half_open_probes=probes, probe_timeout_s=50.0
    )
    record: BreakerRecord | None = None
    now = 0.0
    permits: list[BreakerPermit] = []
    for action, arg in steps:
        if action == "advance":
            now += arg
            continue
        if action == "acquire":
            before = (record or BreakerRecord()).at(policy, now)[0]
            record, (permit, _) = BreakerAcquire(policy).apply(record, now)
            if before.state == "open":
                assert permit is None
            if permit is not None:
                permits.append(permit)
        elif permits:
            permit = permits.pop(arg % len(permits))
            outcome: Any = action
            token = permit.token if permit.probe else None
            record, _ = BreakerReport(policy, outcome, 1.0, token).apply(record, now)
        if record is None:
            continue
        assert len(record.probes) + record.probe_successes <= probes
        assert record.state in ("closed", "open", "half_open")
        assert record.level >= 0


@settings(max_examples=200, deadline=None)
@given(
    outcomes=st.lists(
        st.tuples(st.floats(0, 30, allow_nan=False), st.booleans(), st.booleans()), max_size=40
    )
)
def test_the_window_counted_while_adding_is_the_records_window(
    outcomes: list[tuple[float, bool, bool]],
) -> None:
    """`_add` counts the window in the pass that adds a call: the same (calls, failures,
    slow) as `BreakerRecord.window` reads from the new buckets, however time moved."""
    policy = BreakerPolicy(window_s=60.0, window_buckets=6)
    record, now = BreakerRecord(), 0.0
    for step, failed, slow in outcomes:
        now += step
        buckets, window = _add(record.buckets, policy, now, failed, slow)
        record = BreakerRecord(buckets=buckets)
        assert window == record.window(policy, now)
