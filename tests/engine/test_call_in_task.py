"""An adapter that promises to end when cancelled (``ends_when_cancelled = True``, as every
built-in adapter does) is called in the request's own task, under a timeout on the
router's clock; any other adapter's call runs in a task of its own (`imagegate._call`).

The in-task call must keep every promise of the task: the attempt ends at its timeout as
a `DeadlineExceeded`, an adapter that cancels its own call is an error and not a
cancelled request, and a request cancelled mid-call records the call and holds nothing."""

from __future__ import annotations

import asyncio
import functools
import random
from typing import Any

import anyio
import pytest

from imagegate import FakeClock, Route, Router, ScaledClock
from imagegate._provider import ProviderRequest, ProviderResponse
from imagegate.errors import AllRoutesFailed, DeadlineExceeded, UpstreamError
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing import FakeProvider, succeed


class TaskRecordingFake(FakeProvider):
    """FakeProvider (called in a task of its own) noting the task each call runs in."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock=clock)
        self.tasks: list[asyncio.Task[Any] | None] = []

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        self.tasks.append(asyncio.current_task())
        return await super().generate(request)


class InTaskFake(TaskRecordingFake):
    """The same, promising to end when cancelled: called in the request's own task."""

    ends_when_cancelled = True


class CancelsItself(InTaskFake):
    """An adapter whose call ends in a `CancelledError` no one asked for."""

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        raise asyncio.CancelledError


def _router(provider: FakeProvider, clock: Any, **kwargs: Any) -> Router:
    kwargs.setdefault("retry", RetryPolicy(attempts=1, rng=random.Random(1)))
    return Router([Route(provider, model="m")], clock=clock, hedge=None, **kwargs)


@pytest.mark.parametrize(("kind", "in_task"), [(InTaskFake, True), (TaskRecordingFake, False)])
async def test_where_the_call_runs(
    clock: FakeClock, kind: type[TaskRecordingFake], in_task: bool
) -> None:
    """A promising adapter runs in the caller's task; any other in a task of its own."""
    fake = kind(clock)
    async with _router(fake, clock) as router:
        result = await router.generate("x")
    assert result.image is not None
    (task,) = fake.tasks
    assert (task is asyncio.current_task()) is in_task


async def test_an_in_task_call_ends_at_its_timeout_on_the_fake_clock(clock: FakeClock) -> None:
    """A call that would take 1000 s ends at the 30 s attempt timeout, as a timeout."""
    fake = InTaskFake(clock)
    fake.default = succeed(latency_s=1000.0)
    async with _router(fake, clock, attempt_timeout_s=30.0) as router:
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate("x")
        assert clock.now() == pytest.approx(30.0)
        assert router.spend().reserved_usd == pytest.approx(0.0)
    (attempt,) = caught.value.attempts
    assert attempt.outcome == "timeout"
    assert isinstance(attempt.error, DeadlineExceeded)
    assert attempt.billing == "possibly_billed"
    assert not attempt.abandoned
    assert [c.result for c in fake.calls] == ["cancelled"]


async def test_an_in_task_call_ends_at_its_timeout_on_a_scaled_clock() -> None:
    """On a clock with a scale the timeout is the loop's own timer: 30 simulated seconds
    of a call that would take 1000 (at 1 real ms each: 30 ms, not a second)."""
    clock = ScaledClock(0.001)
    fake = InTaskFake(clock)
    fake.default = succeed(latency_s=1000.0)
    async with _router(fake, clock, attempt_timeout_s=30.0) as router:
        started = clock.now()
        with anyio.fail_after(10), pytest.raises(AllRoutesFailed) as caught:
            await router.generate("x")
        assert 30.0 <= clock.now() - started < 1000.0
    (attempt,) = caught.value.attempts
    assert attempt.outcome == "timeout"
    assert 30.0 <= attempt.duration_s < 1000.0  # the timeout, not the call's 1000 s


async def test_an_adapter_cancelling_its_own_call_is_an_error(clock: FakeClock) -> None:
    """A `CancelledError` no one asked for fails the attempt; the request goes on."""
    fake = CancelsItself(clock)
    async with _router(fake, clock) as router:
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate("x")
    (attempt,) = caught.value.attempts
    assert isinstance(attempt.error, UpstreamError)
    assert "adapter call was cancelled" in attempt.error.message


async def test_a_caller_cancelling_an_in_task_call_leaves_nothing_reserved(
    clock: FakeClock,
) -> None:
    """Cancelling the request during the call cancels the call (it ends), records it as
    possibly billed and holds nothing; no task is left behind."""
    fake = InTaskFake(clock)
    fake.default = succeed(latency_s=1000.0)
    async with _router(fake, clock) as router:
        before = set(asyncio.all_tasks())
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(router.generate, "x"))
            await clock.run_until_idle()
            tg.cancel_scope.cancel()
        assert router.spend().reserved_usd == pytest.approx(0.0)
        assert router.spend().possibly_billed_usd == pytest.approx(0.01)
        assert not router.engine.abandoned
        await clock.run_until_idle()
        assert set(asyncio.all_tasks()) - before <= {asyncio.current_task()}
    assert [c.result for c in fake.calls] == ["cancelled"]
