"""Clocks: the fake clock's jumps and scopes, the scaled clock's ratio."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from imagegate import FakeClock, LoopClock, ScaledClock
from imagegate.resilience.clock import Clock, fail_after, move_on_after


async def test_fake_clock_wakes_sleepers_in_order() -> None:
    """advance() wakes every due sleeper, earliest first, and no others."""
    clock = FakeClock()
    woken: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woken.append(clock.now())

    async with anyio.create_task_group() as tg:
        for seconds in (30.0, 10.0, 20.0):
            tg.start_soon(sleeper, seconds)
        await clock.run_until_idle()
        assert clock.statistics().sleepers == 3
        clock.advance(15.0)
        await clock.run_until_idle()
        assert woken == [15.0]
        clock.advance(100.0)
    assert woken == [15.0, 115.0, 115.0]


async def test_autojump_runs_long_waits_instantly(clock: FakeClock) -> None:
    """With autojump, an hour of clock time passes without real waiting."""
    with anyio.fail_after(5):  # real seconds: a safety net, not a timing assertion
        await clock.sleep(3600.0)
    assert clock.now() == 3600.0


async def test_move_on_after_under_fake_clock(clock: FakeClock) -> None:
    """A clock scope cancels its body at the clock deadline and reports it."""
    async with move_on_after(clock, 5.0) as scope:
        await clock.sleep(10.0)
    assert scope.cancelled_caught
    assert clock.now() == 5.0
    async with move_on_after(clock, 5.0) as scope:
        await clock.sleep(1.0)
    assert not scope.cancelled_caught


async def test_fail_after_raises_timeout_and_keeps_body_errors(clock: FakeClock) -> None:
    """fail_after raises TimeoutError on expiry; the body's own errors pass through unwrapped."""
    with pytest.raises(TimeoutError):
        async with fail_after(clock, 1.0):
            await clock.sleep(2.0)
    with pytest.raises(KeyError):
        async with fail_after(clock, 1.0):
            raise KeyError("body")


def test_fake_clock_refuses_going_back() -> None:
    """Time never moves backwards."""
    with pytest.raises(ValueError, match="backwards"):
        FakeClock().advance(-1)


async def test_scaled_clock_counts_simulated_seconds() -> None:
    """Sleeping 50 simulated seconds at scale 1e-4 advances now() by at least 50."""
    clock = ScaledClock(scale=0.0001)
    start = clock.now()
    await clock.sleep(50.0)
    assert clock.now() - start >= 50.0
    async with move_on_after(clock, 20.0) as scope:
        await clock.sleep(1e6)
    assert scope.cancelled_caught
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(scale=0)


def test_loop_clock_reads_the_running_loops_time() -> None:
    """Outside a loop and in asyncio's own loops `LoopClock` reads ``time.monotonic``
    (after the first read in a loop, directly); in another loop, that loop's ``time()``."""
    clock = LoopClock()
    before = time.monotonic()
    assert before <= clock.now() <= time.monotonic()

    async def read() -> float:
        return clock.now()

    assert before <= asyncio.run(read()) <= time.monotonic()
    assert clock.now is time.monotonic

    class Shifted(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return 1e9

    other = LoopClock()
    loop = Shifted()
    try:
        assert loop.run_until_complete(_read(other)) == 1e9
        assert loop.run_until_complete(_read(other)) == 1e9
    finally:
        loop.close()
    assert other.now is not time.monotonic


async def _read(clock: Clock) -> float:
    return clock.now()
