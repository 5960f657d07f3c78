"""Every Lua script against the Python reference ``apply`` it ports: same inputs, same
results, same records (hypothesis draws the inputs; the scripts run on a real server)."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imagegate.resilience.breaker import (
    BreakerAcquire,
    BreakerPermit,
    BreakerPolicy,
    BreakerReport,
)
from imagegate.resilience.ledger import LedgerReserve, LedgerSettle, LedgerUnreserve
from imagegate.resilience.ratelimit import RateExhaust, RateLimit, RateReserve, RateUnreserve
from imagegate.state import RedisState
from imagegate.state.redis import _SCRIPTS

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

steps = st.floats(min_value=0.0, max_value=120.0, allow_nan=False)
starts = st.sampled_from([0.0, 17.25, 86_400.5, 1.7e9, 3.3e11])


async def _replay(shared: RedisState, ops: list[tuple[float, Any]], *, key_kind: str) -> list[Any]:
    """Apply each (now, op) through Redis and through the reference; return the results."""
    key = f"{key_kind}:{uuid.uuid4().hex}"
    record: Any = None
    results = []
    for now, op in ops:
        got = await shared.apply(key, op, now=now)
        assert not shared.degraded, shared.statistics().last_error
        record, expected = op.apply(record, now)
        assert got == expected, (op, now)
        assert shared.peek(key) == record, (op, now)
        results.append(got)
    return results


limits = st.builds(
    RateLimit,
    rpm=st.none() | st.integers(1, 120),
    ipm=st.none() | st.integers(1, 60),
    rpd=st.none() | st.integers(1, 6),
    min_interval_s=st.none() | st.floats(0.01, 30.0),
    burst=st.integers(1, 5),
    margin_s=st.sampled_from([0.0, 1.0]) | st.floats(0.0, 90.0),
)


@st.composite
def rate_ops(draw: st.DrawFn) -> list[tuple[float, Any]]:
    limit = draw(limits)
    now = draw(starts)
    day = draw(st.integers(700_000, 740_000))
    ops: list[tuple[float, Any]] = []
    bookings: list[tuple[str, int]] = []
    for k in range(draw(st.integers(1, 25))):
        now += draw(steps)
        day += draw(st.sampled_from([0, 0, 0, 0, 1, 2]))
        reset_in_s = draw(st.floats(0.0, 86_400.0))
        kind = draw(st.integers(0, 9))
        if kind == 0:
            ops.append((now, RateExhaust(day, draw(st.floats(-10.0, 4_000.0)))))
        elif kind <= 2 and bookings:
            # Mostly the latest booking (undone), sometimes an older one (kept).
            booking, n = bookings[-1] if draw(st.booleans()) else draw(st.sampled_from(bookings))
            ops.append((now, RateUnreserve(booking, n, limit, day)))
        else:
            max_wait = draw(st.none() | st.floats(0.0, 300.0))
            n = draw(st.integers(1, 4))
            booking = draw(st.sampled_from([f"w1.{k}", f"w2.{k}", ""]))
            bookings.append((booking, n))
            ops.append((now, RateReserve(n, limit, day, reset_in_s, max_wait, booking)))
    return ops


@SETTINGS
@given(ops=rate_ops())
async def test_rate_scripts_match_the_reference(shared: RedisState, ops: Any) -> None:
    """RateReserve, RateUnreserve and RateExhaust (with the safety margin): the same
    waits, refusals, undos and records as in Python."""
    await _replay(shared, ops, key_kind="ratelimit")


policies = st.builds(
    BreakerPolicy,
    # Exact ratios too: a rate that lands on the threshold must trip in both.
    failure_rate=st.sampled_from([0.25, 1 / 3, 0.5, 2 / 3, 1.0]) | st.floats(0.05, 1.0),
    min_calls=st.integers(1, 6),
    window_s=st.floats(1.0, 200.0),
    window_buckets=st.integers(1, 12),
    slow_call_s=st.none() | st.sampled_from([1.0, 5.0]) | st.floats(0.5, 20.0),
    slow_call_rate=st.sampled_from([0.25, 0.5, 1.0]) | st.floats(0.05, 1.0),
    consecutive_failures=st.sampled_from([None, None, 1, 2, 3]),
    cooldown_s=st.floats(0.5, 60.0),
    cooldown_multiplier=st.floats(1.0, 4.0),
    cooldown_max_s=st.just(400.0),
    half_open_probes=st.integers(1, 3),
    probe_timeout_s=st.floats(5.0, 500.0),
)


@st.composite
def breaker_ops(draw: st.DrawFn) -> tuple[BreakerPolicy, float, list[Any]]:
    policy = draw(policies)
    steps_drawn = draw(
        st.lists(
            st.tuples(
                st.floats(0.0, 2.0) | steps,
                # Mostly calls and their outcomes, so windows fill and probes succeed.
                st.sampled_from(
                    ["acquire"] * 5 + ["success"] * 4 + ["failure"] * 3 + ["neutral", "quota"]
                ),
                st.sampled_from([0.0, 1.0, 5.0]) | st.floats(0.0, 30.0),
                st.floats(-5.0, 600.0),
                st.integers(0, 7),
            ),
            min_size=1,
            max_size=60,
        )
    )
    return policy, draw(starts), steps_drawn


def _case(policy: BreakerPolicy, *steps_: tuple[float, str]) -> Any:
    return policy, 0.0, [(step, kind, 0.0, 0.0, 0) for step, kind in steps_]


_QUIET = {"consecutive_failures": None, "min_calls": 2}


@SETTINGS
@given(case=breaker_ops())
# Boundaries a random draw rarely lands on exactly:
# the failure rate reaching the threshold trips;
@example(
    _case(
        BreakerPolicy(failure_rate=0.5, **_QUIET),
        (0, "acquire"),
        (0, "success"),
        (0, "acquire"),
        (0, "failure"),
    )
)
# a bucket exactly window_s old is out of the window;
@example(
    _case(
        BreakerPolicy(failure_rate=1.0, window_s=10.0, window_buckets=1, **_QUIET),
        (0, "acquire"),
        (0, "failure"),
        (10, "acquire"),
        (0, "failure"),
    )
)
# a probe permit exactly probe_timeout_s old has expired;
@example(
    _case(
        BreakerPolicy(consecutive_failures=1, cooldown_s=1.0, probe_timeout_s=10.0),
        (0, "acquire"),
        (0, "failure"),
        (1, "acquire"),
        (10, "acquire"),
    )
)
# probes that already succeeded count against half_open_probes.
@example(
    _case(
        BreakerPolicy(consecutive_failures=1, cooldown_s=1.0, half_open_probes=2),
        (0, "acquire"),
        (0, "failure"),
        (1, "acquire"),
        (0, "success"),
        (0, "acquire"),
        (0, "acquire"),
    )
)
async def test_breaker_scripts_match_the_reference(shared: RedisState, case: Any) -> None:
    """BreakerAcquire and BreakerReport: the same permits, transitions and records.

    Reports use permits issued earlier (probe tokens included), as the breaker does.
    """
    policy, now, drawn = case
    key = f"breaker:r{uuid.uuid4().hex}:1K"
    record: Any = None
    permits: list[BreakerPermit] = []
    for step, kind, duration, open_for, pick in drawn:
        now += step
        if kind == "acquire" or not permits:
            op: Any = BreakerAcquire(policy)
        else:
            permit = permits.pop(pick % len(permits))
            token = permit.token if permit.probe else None
            op = BreakerReport(policy, kind, duration, token, max(0.0, open_for))
        got = await shared.apply(key, op, now=now)
        assert not shared.degraded, shared.statistics().last_error
        record, expected = op.apply(record, now)
        assert got == expected, (op, now)
        assert shared.peek(key) == record, (op, now)
        if isinstance(op, BreakerAcquire) and got[0] is not None:
            permits.append(got[0])


routes = st.sampled_from(["gemini", "vertex-4k", "a;b,c", "R:x", "ü/é", ""])
billings = st.sampled_from(["billed", "possibly_billed", "not_billed"])


@st.composite
def ledger_ops(draw: st.DrawFn) -> list[tuple[float, Any]]:
    limit = draw(st.none() | st.floats(0.0, 3.0))
    open_estimates: list[float] = []
    ops: list[tuple[float, Any]] = []
    for _ in range(draw(st.integers(1, 30))):
        if open_estimates and draw(st.booleans()):
            estimate = open_estimates.pop(0)
            if draw(st.integers(0, 3)) == 0:
                ops.append((0.0, LedgerUnreserve(estimate)))
                continue
            actual = draw(st.floats(0.0, 0.5))
            ops.append((0.0, LedgerSettle(estimate, actual, draw(billings), draw(routes))))
        else:
            estimate = draw(st.floats(0.0, 0.4))
            open_estimates.append(estimate)
            ops.append((0.0, LedgerReserve(estimate, limit)))
    return ops


@SETTINGS
@given(ops=ledger_ops())
async def test_ledger_scripts_match_the_reference(shared: RedisState, ops: Any) -> None:
    """LedgerReserve, LedgerSettle and LedgerUnreserve: the same bookings, refusals,
    totals and routes."""
    await _replay(shared, ops, key_kind="ledger")


async def test_scripts_are_sent_once_and_again_after_a_flush(shared: RedisState) -> None:
    """A script the server lacks is sent once, then found by SHA; after ``SCRIPT FLUSH``
    (or a restart) it is sent again and the operation still succeeds."""
    limit = RateLimit(rpm=60, margin_s=0.0)
    client = shared._client  # the test inspects the server the backend talks to
    shas = [script.sha for script in _SCRIPTS.values()]
    await client.script_flush()
    await shared.apply("ratelimit:q", RateReserve(1, limit, 1, 10.0, None), now=0.0)
    assert await client.script_exists(*shas) == [name == "rate_reserve" for name in _SCRIPTS]
    await client.script_flush()
    wait = await shared.apply("ratelimit:q", RateReserve(1, limit, 1, 10.0, None), now=0.0)
    assert wait == 1.0
    assert await client.script_exists(_SCRIPTS["rate_reserve"].sha) == [True]
    assert shared.statistics().local_operations == 0
