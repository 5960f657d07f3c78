"""`Dispatcher`: global and per-route limits, FIFO order, timeouts and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegate.resilience.clock import FakeClock
from imagegate.resilience.dispatcher import Dispatcher, DispatchTimeout, Slot

T = TypeVar("T")


async def _spawn(clock: FakeClock, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Start ``coro`` as a task and wait until it blocks (keeps arrival order exact)."""
    task = asyncio.ensure_future(coro)
    await clock.run_until_idle()
    return task


async def test_slots_are_granted_at_once_under_the_limits(clock: FakeClock) -> None:
    """With room globally and on the route, acquire returns without queueing."""
    dispatcher = Dispatcher(max_in_flight=2, route_limits={"a": 1}, clock=clock)
    async with dispatcher.slot("a") as slot:
        assert slot.route == "a"
        stats = dispatcher.statistics()
        assert (stats.in_flight, stats.waiting) == (1, 0)
        assert stats.routes["a"].in_flight == 1
    stats = dispatcher.statistics()
    assert (stats.in_flight, stats.granted_total) == (0, 1)
    assert slot.released


async def test_acquire_now_takes_a_free_slot_and_never_queues(clock: FakeClock) -> None:
    """`acquire_now` hands out a free slot as `acquire` would; with the route or the
    dispatcher full it returns None, queueing nothing and counting no timeout, and a
    queued caller keeps its turn."""
    dispatcher = Dispatcher(max_in_flight=2, route_limits={"a": 1}, clock=clock)
    held = dispatcher.acquire_now("a")
    assert held is not None
    assert held.route == "a"
    assert dispatcher.acquire_now("a") is None  # the route is full
    other = dispatcher.acquire_now("b")
    assert other is not None
    assert dispatcher.acquire_now("c") is None  # the dispatcher is full
    waiter = await _spawn(clock, dispatcher.acquire("c"))
    held.release()  # a free slot goes to the queued caller, not to a later acquire_now
    assert dispatcher.acquire_now("c") is None
    granted = await waiter
    stats = dispatcher.statistics()
    assert (stats.in_flight, stats.waiting, stats.granted_total, stats.timed_out_total) == (
        2,
        0,
        3,
        0,
    )
    granted.release()
    other.release()
    assert dispatcher.statistics().in_flight == 0


async def test_waiters_are_served_in_arrival_order(clock: FakeClock) -> None:
    """When the global limit is reached, queued callers get slots first come, first served."""
    dispatcher = Dispatcher(max_in_flight=1, clock=clock)
    held = await dispatcher.acquire("a")
    order: list[str] = []

    async def worker(name: str, route: str) -> None:
        async with dispatcher.slot(route):
            order.append(name)

    tasks = [await _spawn(clock, worker(f"w{i}", "ab"[i % 2])) for i in range(4)]
    assert dispatcher.statistics().waiting == 4
    held.release()
    await asyncio.gather(*tasks)
    assert order == ["w0", "w1", "w2", "w3"]


async def test_a_full_route_does_not_block_waiters_for_other_routes(clock: FakeClock) -> None:
    """A waiter whose route is at its limit is passed over, not blocking later routes."""
    dispatcher = Dispatcher(max_in_flight=2, route_limits={"slow": 1}, clock=clock)
    slow = await dispatcher.acquire("slow")
    other = await dispatcher.acquire("fast")
    blocked = await _spawn(clock, dispatcher.acquire("slow"))
    behind = await _spawn(clock, dispatcher.acquire("fast"))
    other.release()
    await clock.run_until_idle()
    assert behind.done()
    assert not blocked.done()
    slow.release()
    await clock.run_until_idle()
    assert blocked.done()
    for task in (blocked, behind):
        task.result().release()
    assert dispatcher.statistics().in_flight == 0


async def test_order_within_a_route_survives_being_passed_over(clock: FakeClock) -> None:
    """The first waiter of a route gets its next slot even after others skipped ahead."""
    dispatcher = Dispatcher(max_in_flight=3, route_limits={"a": 1}, clock=clock)
    held = await dispatcher.acquire("a")
    first = await _spawn(clock, dispatcher.acquire("a"))
    second = await _spawn(clock, dispatcher.acquire("a"))
    other = await dispatcher.acquire("b")  # a later arrival for another route goes ahead
    held.release()
    await clock.run_until_idle()
    assert first.done()
    assert not second.done()
    first.result().release()
    await clock.run_until_idle()
    second.result().release()
    other.release()
    assert dispatcher.statistics().in_flight == 0


async def test_queueing_past_the_timeout_raises_and_holds_nothing(clock: FakeClock) -> None:
    """A caller still queued when timeout_s runs out gets DispatchTimeout and no slot."""
    dispatcher = Dispatcher(max_in_flight=1, clock=clock)
    held = await dispatcher.acquire("a")
    task = await _spawn(clock, dispatcher.acquire("a", timeout_s=5.0))
    clock.advance(4.9)
    await clock.run_until_idle()
    assert not task.done()
    clock.advance(0.1)
    with pytest.raises(DispatchTimeout) as caught:
        await task
    assert caught.value.waited_s == pytest.approx(5.0)
    assert caught.value.route == "a"
    assert isinstance(caught.value, TimeoutError)
    stats = dispatcher.statistics()
    assert (stats.in_flight, stats.waiting, stats.timed_out_total) == (1, 0, 1)
    held.release()
    assert dispatcher.statistics().in_flight == 0


async def test_a_zero_timeout_fails_at_once_when_full(clock: FakeClock) -> None:
    """timeout_s=0 means "only if a slot is free right now"."""
    dispatcher = Dispatcher(max_in_flight=1, clock=clock)
    held = await dispatcher.acquire("a")
    with pytest.raises(DispatchTimeout):
        await dispatcher.acquire("a", timeout_s=0.0)
    assert dispatcher.statistics().waiting == 0
    held.release()
    async with dispatcher.slot("a", timeout_s=0.0):
        assert dispatcher.statistics().in_flight == 1


async def test_a_grant_at_the_timeout_instant_never_leaks(clock: FakeClock) -> None:
    """When the grant and the timeout land together, the slot is either returned or freed."""
    dispatcher = Dispatcher(max_in_flight=1, clock=clock)
    held = await dispatcher.acquire("a")
    task = await _spawn(clock, dispatcher.acquire("a", timeout_s=5.0))
    held.release()
    clock.advance(5.0)
    await asyncio.wait([task])
    if task.exception() is None:
        assert dispatcher.statistics().in_flight == 1
        task.result().release()
    else:
        assert isinstance(task.exception(), DispatchTimeout)
    assert dispatcher.statistics().in_flight == 0
    assert dispatcher.statistics().waiting == 0


async def test_cancelling_a_queued_caller_leaves_the_queue(clock: FakeClock) -> None:
    """A caller cancelled while queued leaves no trace; the next waiter is still served."""
    dispatcher = Dispatcher(max_in_flight=1, clock=clock)
    held = await dispatcher.acquire("a")
    doomed = await _spawn(clock, dispatcher.acquire("a"))
    survivor = await _spawn(clock, dispatcher.acquire("a"))
    doomed.cancel()
    await clock.run_until_idle()
    assert doomed.cancelled()
    assert dispatcher.statistics().waiting == 1
    held.release()
    await clock.run_until_idle()
    survivor.result().release()
    assert dispatcher.statistics().in_flight == 0


async def test_cancelling_after_the_grant_hands_the_slot_on(clock: FakeClock) -> None:
    """Cancelled between being granted and waking up, a caller passes its slot on."""
    dispatcher = Dispatcher(max_in_flight=1, clock=clock)
    held = await dispatcher.acquire("a")
    granted_then_cancelled = await _spawn(clock, dispatcher.acquire("a"))
    next_in_line = await _spawn(clock, dispatcher.acquire("a"))
    held.release()  # books the slot for the first waiter before it runs
    granted_then_cancelled.cancel()
    await clock.run_until_idle()
    assert granted_then_cancelled.cancelled()
    assert next_in_line.done()
    assert dispatcher.statistics().in_flight == 1
    next_in_line.result().release()
    assert dispatcher.statistics().in_flight == 0


async def test_cancelling_a_holder_releases_its_slot(clock: FakeClock) -> None:
    """A task cancelled inside ``async with dispatcher.slot()`` gives the slot back."""
    dispatcher = Dispatcher(max_in_flight=1, route_limits={"a": 1}, clock=clock)

    async def hold() -> None:
        async with dispatcher.slot("a"):
            await clock.sleep(100.0)

    task = asyncio.ensure_future(hold())
    await clock.run_until_idle()
    assert dispatcher.statistics().in_flight == 1
    task.cancel()
    await clock.run_until_idle()
    stats = dispatcher.statistics()
    assert (stats.in_flight, stats.routes["a"].in_flight) == (0, 0)


async def test_release_is_idempotent(clock: FakeClock) -> None:
    """Releasing a slot twice frees it once."""
    dispatcher = Dispatcher(max_in_flight=2, clock=clock)
    slot = await dispatcher.acquire("a")
    await dispatcher.acquire("a")
    slot.release()
    slot.release()
    assert dispatcher.statistics().in_flight == 1


async def test_statistics_and_repr_show_queue_per_route(clock: FakeClock) -> None:
    """statistics() counts holders and waiters per route; repr shows the live numbers."""
    dispatcher = Dispatcher(max_in_flight=2, route_limits={"a": 1}, clock=clock)
    held = await dispatcher.acquire("a")
    waiting = await _spawn(clock, dispatcher.acquire("a"))
    stats = dispatcher.statistics()
    assert stats.routes["a"].limit == 1
    assert (stats.routes["a"].in_flight, stats.routes["a"].waiting) == (1, 1)
    assert repr(dispatcher) == "Dispatcher(in_flight=1/2, waiting=1, route_limits={'a': 1})"
    held.release()
    await clock.run_until_idle()
    waiting.result().release()


@pytest.mark.parametrize(("max_in_flight", "limits"), [(0, {}), (1, {"a": 0})])
def test_limits_below_one_are_rejected(max_in_flight: int, limits: dict[str, int]) -> None:
    """A limit below one is a configuration mistake."""
    with pytest.raises(ValueError, match="at least 1"):
        Dispatcher(max_in_flight=max_in_flight, route_limits=limits)


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.sampled_from("abc")),
        st.tuples(st.just("release"), st.integers(0, 20)),
        st.tuples(st.just("cancel"), st.integers(0, 20)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=_ops, max_in_flight=st.integers(1, 4), limit_a=st.integers(1, 2))
def test_random_schedules_keep_every_invariant(
    ops: list[tuple[str, object]], max_in_flight: int, limit_a: int
) -> None:
    """Under any schedule: limits hold, no eligible caller waits, routes stay FIFO, no leaks."""
    asyncio.run(_run_schedule(ops, max_in_flight, limit_a))


Callers = list[tuple[str, "asyncio.Task[Slot]"]]


def _apply(dispatcher: Dispatcher, callers: Callers, op: str, arg: object) -> None:
    """One step of the schedule: a new caller, or a release or cancel of an earlier one."""
    if op == "acquire":
        assert isinstance(arg, str)
        callers.append((arg, asyncio.ensure_future(dispatcher.acquire(arg))))
        return
    if not callers:
        return
    assert isinstance(arg, int)
    _, task = callers[arg % len(callers)]
    if op == "release" and task.done() and not task.cancelled():
        task.result().release()
    elif op == "cancel" and not task.done():
        task.cancel()


def _check_limits(
    dispatcher: Dispatcher, callers: Callers, max_in_flight: int, limits: dict[str, int]
) -> None:
    """The limits hold, and nobody who could run is left waiting."""
    stats = dispatcher.statistics()
    held = [(r, t) for r, t in callers if t.done() and not t.cancelled()]
    live = [(r, t) for r, t in held if not t.result().released]
    assert stats.in_flight == len(live) <= max_in_flight
    for name, limit in limits.items():
        assert sum(r == name for r, _ in live) <= limit
    for route, task in callers:
        if not task.done():
            room = stats.routes[route].in_flight < limits.get(route, max_in_flight)
            assert stats.in_flight >= max_in_flight or not room


async def _run_schedule(ops: list[tuple[str, object]], max_in_flight: int, limit_a: int) -> None:
    clock = FakeClock()
    limits = {"a": limit_a, "b": 1}
    dispatcher = Dispatcher(max_in_flight=max_in_flight, route_limits=limits, clock=clock)
    callers: list[tuple[str, asyncio.Task[Slot]]] = []
    granted_order: dict[str, list[int]] = {}
    for op, arg in ops:
        _apply(dispatcher, callers, op, arg)
        await clock.run_until_idle()
        _check_limits(dispatcher, callers, max_in_flight, limits)
        for index, (route, task) in enumerate(callers):
            order = granted_order.setdefault(route, [])
            if task.done() and not task.cancelled() and index not in order:
                order.append(index)
    for name, order in granted_order.items():  # within a route, grants follow arrival
        still_waiting = [i for i, (r, t) in enumerate(callers) if r == name and not t.done()]
        assert all(i < j for i in order for j in still_waiting)
    for _, task in callers:
        task.cancel()
    await asyncio.gather(*(t for _, t in callers), return_exceptions=True)
    for _, task in callers:
        if not task.cancelled() and task.exception() is None:
            task.result().release()
    stats = dispatcher.statistics()
    assert (stats.in_flight, stats.waiting) == (0, 0)
