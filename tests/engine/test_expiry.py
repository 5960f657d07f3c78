"""Attempt deadlines on one loop timer (`imagegate._expiry`).

A deadline cancels its task when it passes, and the task tells that cancellation from
anyone else's by the rule of `asyncio.Timeout`. Deadlines already past fire on the loop's
next turn, so nothing here waits on real time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref

import pytest

from imagegate import Route, Router, ScaledClock
from imagegate._expiry import Deadlines, Expiry
from imagegate.errors import AllRoutesFailed
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing import FakeProvider, succeed

_LATER = 3600.0  # a deadline no test reaches


async def _wait_forever() -> None:
    await asyncio.get_running_loop().create_future()


async def test_a_deadline_that_passes_cancels_the_task_as_its_own() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    expiry = deadlines.enter(loop.time() - 1.0)
    with pytest.raises(asyncio.CancelledError):
        await _wait_forever()
    assert expiry.leave_cancelled()
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    assert not expiry.leave()  # left once: a second leave does nothing
    assert len(deadlines) == 0


async def test_another_cancellation_is_not_the_deadlines() -> None:
    """The deadline passed, and someone else cancelled the task too: theirs goes on."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    expiry = Deadlines(loop).enter(loop.time() - 1.0)
    loop.call_soon(task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await _wait_forever()
    assert not expiry.leave_cancelled()
    assert task.cancelling() == 1  # the other request stands
    task.uncancel()


async def test_a_cancellation_before_the_deadline_is_not_the_deadlines() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    task = asyncio.current_task()
    assert task is not None
    expiry = deadlines.enter(loop.time() + _LATER)
    loop.call_soon(task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await _wait_forever()
    assert not expiry.leave_cancelled()
    assert task.cancelling() == 1
    task.uncancel()


async def test_a_task_that_goes_on_after_its_deadline_has_the_cancellation_taken_back() -> None:
    """An adapter that swallows the cancellation and answers: the task is not left with
    a cancellation request it did not make."""
    loop = asyncio.get_running_loop()
    expiry = Deadlines(loop).enter(loop.time() - 1.0)
    with contextlib.suppress(asyncio.CancelledError):  # as a careless adapter might
        await _wait_forever()
    assert expiry.leave()
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_one_timer_serves_the_earliest_deadline_and_leaves_the_later_alone() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    release = asyncio.Event()
    outcomes: dict[str, str] = {}

    async def call(name: str, when: float) -> None:
        expiry = deadlines.enter(when)
        try:
            await release.wait()
        except asyncio.CancelledError:
            outcomes[name] = "expired" if expiry.leave_cancelled() else "cancelled"
            return
        outcomes[name] = "expired" if expiry.leave() else "in time"

    late = asyncio.create_task(call("late", loop.time() + _LATER))
    await asyncio.sleep(0)  # the late deadline is set first: the timer is set for it
    early = asyncio.create_task(call("early", loop.time() - 1.0))
    await early
    release.set()
    await late
    assert outcomes == {"early": "expired", "late": "in time"}


async def test_dead_entries_are_swept_out() -> None:
    """A thousand calls that end in time leave a heap of bounded size, not a thousand."""
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    for _ in range(1000):
        assert not deadlines.enter(loop.time() + _LATER).leave()
    assert len(deadlines) <= 2 * 65


async def test_a_dead_entry_does_not_hold_its_task_or_result() -> None:
    """A call that ended in time leaves its entry in the heap until the heap is swept;
    the entry must not keep the finished task alive, nor the task its result (a
    request's images)."""
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)

    async def call() -> bytes:
        assert not deadlines.enter(loop.time() + _LATER).leave()
        return bytes(1024)  # the result a finished task holds

    task = asyncio.create_task(call())
    await task
    gone = weakref.ref(task)
    del task
    await asyncio.sleep(0)  # the loop lets go of the callback that woke this task
    gc.collect()
    assert len(deadlines) == 1  # the dead entry is still there
    assert gone() is None


async def test_a_scope_of_its_own_expires_only_when_told() -> None:
    """The fake clock's path: no loop timer, a timer task calls `Expiry.expire`."""
    expiry = Expiry.of_current_task()
    asyncio.get_running_loop().call_soon(expiry.expire)
    with pytest.raises(asyncio.CancelledError):
        await _wait_forever()
    assert expiry.leave_cancelled()


async def test_entering_outside_a_task_is_an_error() -> None:
    loop = asyncio.get_running_loop()
    raised: list[BaseException] = []

    def enter() -> None:  # a plain callback of the loop: no task runs it
        try:
            Deadlines(loop).enter(loop.time())
        except RuntimeError as exc:
            raised.append(exc)

    loop.call_soon(enter)
    await asyncio.sleep(0)
    assert [str(e) for e in raised] == ["a deadline scope must be entered inside a task"]


def test_a_router_keeps_deadlines_on_each_loop_it_runs_on() -> None:
    """A router used under one event loop, then under another, times its calls out under
    both: the second loop's deadlines are kept on the second loop, not on the closed one."""
    clock = ScaledClock(0.001)  # 1000 s of a stalled call: 1 s; its 5 s timeout: 5 ms
    provider = _InTask(clock=clock)
    provider.default = succeed(latency_s=1000.0)

    async def build() -> Router:  # the scaled clock is read on a loop
        return Router(
            [Route(provider, model="m")],
            clock=clock,
            attempt_timeout_s=5.0,
            retry=RetryPolicy(attempts=1),
            hedge=None,
        )

    router = asyncio.run(build())

    async def outcome() -> str:
        async with asyncio.timeout(10), router:  # a timer that never fired would hang
            with pytest.raises(AllRoutesFailed) as caught:
                await router.generate("x")
        return caught.value.attempts[0].outcome

    assert [asyncio.run(outcome()) for _ in range(2)] == ["timeout", "timeout"]


class _InTask(FakeProvider):
    """A fake adapter called in the request's own task."""

    ends_when_cancelled = True
